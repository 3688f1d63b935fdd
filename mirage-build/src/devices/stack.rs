//! `stackv4v6`: `direct_stackv4v6`, `socket_stackv4v6`,
//! `static_ipv4v6_stack`, `generic_stackv4v6`.

use crate::device::{Connect, Device, Impl, if_impl, match_impl};
use crate::key::{KeyType, Target, Value, key};
use crate::runtime_arg::RuntimeArg;
use crate::typ::{Arpv4, Ethernet, Ipv4, Ipv6, Network, Stackv4v6, Tcp, stackv4v6};

use super::ip::{
    Ipv4Config, Ipv6Config, create_ipv4, create_ipv6, ipv4_network_arg, ipv4_of_dhcp,
    ipv4_only_arg, ipv6_network_arg, ipv6_only_arg,
};
use super::{arp, etif};

/// The stack over the given layers (the seed's `direct_stackv4v6 ?tcp
/// ~ipv4_only ~ipv6_only net eth arp ipv4 ipv6`): builds the dual IP
/// layer, ICMP, UDP and (unless `tcp` is given, see
/// [`super::direct_tcp`]) TCP over them, and runs the stack's task, which
/// reads `net`. The layers must be built over `net`.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn direct_stackv4v6(
    tcp: Option<&Impl<Tcp>>,
    ipv4_only: &RuntimeArg<bool>,
    ipv6_only: &RuntimeArg<bool>,
    net: &Impl<Network>,
    eth: &Impl<Ethernet>,
    arp: &Impl<Arpv4>,
    ipv4: &Impl<Ipv4>,
    ipv6: &Impl<Ipv6>,
) -> Impl<Stackv4v6> {
    let clock = super::default_monotonic_clock();
    let random = super::default_random();
    let (n, e, a, i4, i6, c, r) = (
        net.clone(),
        eth.clone(),
        arp.clone(),
        ipv4.clone(),
        ipv6.clone(),
        clock.clone(),
        random.clone(),
    );
    let (tn, tc) = (net.clone(), clock.clone());
    let (o4, o6) = (ipv4_only.clone(), ipv6_only.clone());
    let given_tcp = tcp.cloned();
    let mut device = Device::new("stack", "direct_stackv4v6", stackv4v6());
    if let Some(tcp) = tcp {
        device = device.dep(tcp);
    }
    device
        .dep(net)
        .dep(eth)
        .dep(arp)
        .dep(ipv4)
        .dep(ipv6)
        .dep(&clock)
        .dep(&random)
        .runtime_arg(ipv4_only)
        .runtime_arg(ipv6_only)
        .package(super::mirage_package())
        .rust_type(move |cx| {
            format!(
                "mirage::net::stack::DirectStack<{}, {}>",
                cx.ty(&tn),
                cx.ty(&tc)
            )
        })
        .connect(move |cx| {
            let layers = format!(
                "{}, {}, {}, {}, {}, {}, {}, {}, {}",
                cx.var(&n),
                cx.var(&e),
                cx.var(&a),
                cx.var(&i4),
                cx.var(&i6),
                cx.var(&c),
                cx.var(&r),
                cx.arg(&o4),
                cx.arg(&o6),
            );
            Connect::expr(match &given_tcp {
                Some(t) => format!(
                    "mirage::net::stack::DirectStack::connect_with_tcp({layers}, {})",
                    cx.var(t)
                ),
                None => format!("mirage::net::stack::DirectStack::connect({layers})"),
            })
            .awaited()
            .fallible()
            .leaked()
        })
        .build()
}

/// The stack over the host's sockets (the seed's `socket_stackv4v6
/// ?group ()`): `--ipv4` (default `0.0.0.0/0`: every address) and
/// `--ipv6` choose the addresses sockets bind to; `--ipv4-only` and
/// `--ipv6-only` switch a family off. Only on unix: on other targets the
/// graph fails to configure, saying so.
#[track_caller]
pub fn socket_stackv4v6(group: Option<&str>) -> Impl<Stackv4v6> {
    let any = "0.0.0.0/0".parse().expect("a valid prefix");
    let (v4, v6) = (ipv4_network_arg(group, any), ipv6_network_arg(group, None));
    let (o4, o6) = (ipv4_only_arg(group), ipv6_only_arg(group));
    let (a4, a6, b4, b6) = (v4.clone(), v6.clone(), o4.clone(), o6.clone());
    let unix = Device::new("stack", "socket_stackv4v6", stackv4v6())
        .identity(&format!("socket_stackv4v6:{group:?}"))
        .runtime_arg(&v4)
        .runtime_arg(&v6)
        .runtime_arg(&o4)
        .runtime_arg(&o6)
        .package(super::mirage_package())
        .rust_type(|_| "mirage::platform::SocketStack".to_string())
        .connect(move |cx| {
            Connect::expr(format!(
                "mirage::platform::SocketStack::connect(Some({}.address()), {}.map(|p| p.address()), {}, {})",
                cx.arg(&a4),
                cx.arg(&a6),
                cx.arg(&b4),
                cx.arg(&b6),
            ))
            .fallible()
            .leaked()
        })
        .build();
    super::unix_only(
        unix,
        "stack",
        "socket_stackv4v6",
        &format!("socket_stackv4v6:{group:?}"),
        stackv4v6(),
        "socket_stackv4v6 uses the host's sockets: it is only available on unix (use a direct stack, e.g. generic_stackv4v6, on hvt and spt)",
    )
}

/// The direct stack over `net` with the addresses of the runtime
/// arguments (the seed's `static_ipv4v6_stack ?group ?ipv6_config
/// ?ipv4_config net`): Ethernet, ARP, IPv4 from `--ipv4` and
/// `--ipv4-gateway`, IPv6 from `--ipv6`, `--ipv6-gateway` and SLAAC.
#[track_caller]
pub fn static_ipv4v6_stack(
    group: Option<&str>,
    ipv6_config: Option<Ipv6Config>,
    ipv4_config: Option<Ipv4Config>,
    net: &Impl<Network>,
) -> Impl<Stackv4v6> {
    let eth = etif(net);
    let arp = arp(&eth);
    let ipv4 = create_ipv4(group, ipv4_config, &eth, &arp);
    let ipv6 = create_ipv6(group, ipv6_config, net, &eth);
    direct_stackv4v6(
        None,
        &ipv4_only_arg(group),
        &ipv6_only_arg(group),
        net,
        &eth,
        &arp,
        &ipv4,
        &ipv6,
    )
}

/// The direct stack over `net` with IPv4 leased by DHCP (and IPv6 as in
/// [`static_ipv4v6_stack`]).
#[track_caller]
pub fn dhcp_ipv4v6_stack(
    group: Option<&str>,
    ipv6_config: Option<Ipv6Config>,
    net: &Impl<Network>,
) -> Impl<Stackv4v6> {
    let eth = etif(net);
    let arp = arp(&eth);
    let ipv4 = ipv4_of_dhcp(net, &eth, &arp);
    let ipv6 = create_ipv6(group, ipv6_config, net, &eth);
    direct_stackv4v6(
        None,
        &ipv4_only_arg(group),
        &ipv6_only_arg(group),
        net,
        &eth,
        &arp,
        &ipv4,
        &ipv6,
    )
}

/// The configure-time key `net` (MirageOS's `--net`): which stack
/// [`generic_stackv4v6`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetKey {
    /// Unset: the host's sockets on unix, the direct stack elsewhere.
    ByTarget,
    /// The host's sockets (unix only).
    Socket,
    /// The unikernel's own stack.
    Direct,
}

impl KeyType for NetKey {
    const EXPECTED: &'static str = "socket or direct";
    fn parse_key(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "socket" => Some(NetKey::Socket),
            "direct" => Some(NetKey::Direct),
            _ => None,
        }
    }
    fn show(&self) -> String {
        match self {
            NetKey::ByTarget => String::new(),
            NetKey::Socket => "socket".to_string(),
            NetKey::Direct => "direct".to_string(),
        }
    }
}

/// Which stack [`generic_stackv4v6`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Socket,
    Dhcp,
    Static,
}

/// The stack chosen at configure time (the seed's `generic_stackv4v6`):
/// the configure-time key `MIRAGE_NET` is `socket` (the host's sockets,
/// unix only) or `direct` (this stack over `net`); unset, it is `socket`
/// on unix and `direct` elsewhere, as MirageOS's `--net`. A direct stack
/// takes IPv4 from DHCP when `MIRAGE_DHCP=true`, else from `--ipv4`.
#[track_caller]
pub fn generic_stackv4v6(
    group: Option<&str>,
    ipv6_config: Option<Ipv6Config>,
    ipv4_config: Option<Ipv4Config>,
    net: &Impl<Network>,
) -> Impl<Stackv4v6> {
    let net_key = key("net", NetKey::ByTarget)
        .doc("The network stack: socket (the host's sockets, unix only) or direct (the unikernel's own stack); unset: socket on unix, direct elsewhere.");
    let dhcp_key =
        key("dhcp", false).doc("Whether the direct stack takes its IPv4 address from DHCP.");
    let (net_value, dhcp_value) = (net_key.value(), dhcp_key.value());
    let choice = Value::from_fn(move |cx| {
        let socket = match net_value.eval(cx)? {
            NetKey::Socket => true,
            NetKey::Direct => false,
            NetKey::ByTarget => cx.target() == Target::Unix,
        };
        Ok(match (socket, dhcp_value.eval(cx)?) {
            (true, _) => Choice::Socket,
            (false, true) => Choice::Dhcp,
            (false, false) => Choice::Static,
        })
    });
    let direct = if_impl(
        choice.map(|c| c == Choice::Dhcp),
        &dhcp_ipv4v6_stack(group, ipv6_config, net),
        &static_ipv4v6_stack(group, ipv6_config, ipv4_config, net),
    );
    match_impl(choice, [(Choice::Socket, socket_stackv4v6(group))], &direct)
}
