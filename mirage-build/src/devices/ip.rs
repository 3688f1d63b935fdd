//! `ipv4`, `ipv6`, `ipv4v6`: `create_ipv4`, `ipv4_of_dhcp`, `create_ipv6`,
//! `create_ipv4v6`, and the runtime arguments MirageOS users know
//! (`--ipv4`, `--ipv4-gateway`, `--ipv6`, `--ipv6-gateway`,
//! `--accept-router-advertisements`, `--ipv4-only`, `--ipv6-only`).

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use mirage::args::{Ipv4Prefix, Ipv6Prefix};

use crate::device::{Connect, Device, Impl};
use crate::runtime_arg::{ArgType, RuntimeArg, runtime_arg};
use crate::typ::{Arpv4, Ethernet, Ipv4, Ipv4v6, Ipv6, Network, ipv4, ipv4v6, ipv6};

/// A static IPv4 configuration (the seed's `ipv4_config`): the defaults of
/// `--ipv4` and `--ipv4-gateway`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Config {
    /// Our address and the on-link prefix.
    pub network: Ipv4Prefix,
    /// The default gateway.
    pub gateway: Option<Ipv4Addr>,
}

impl Default for Ipv4Config {
    /// MirageOS's default: `10.0.0.2/24`, no gateway.
    fn default() -> Self {
        Ipv4Config {
            network: Ipv4Prefix::new(Ipv4Addr::new(10, 0, 0, 2), 24).expect("a valid prefix"),
            gateway: None,
        }
    }
}

/// A static IPv6 configuration (the seed's `ipv6_config`): the defaults
/// of `--ipv6` and `--ipv6-gateway`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ipv6Config {
    /// Our address and the on-link prefix (none by default: the
    /// link-local address and SLAAC).
    pub network: Option<Ipv6Prefix>,
    /// The default gateway.
    pub gateway: Option<Ipv6Addr>,
}

thread_local! {
    /// The network's runtime arguments, one per name: devices that read
    /// `--ipv4` share one declaration, as MirageOS's keys are shared.
    static ARGS: RefCell<HashMap<String, Box<dyn Any>>> = RefCell::new(HashMap::new());
}

/// The runtime argument `fresh` names, declared once per build script:
/// `fresh` itself unless an argument of that name, type and default was
/// declared by an earlier device.
fn shared<T: ArgType>(fresh: RuntimeArg<T>) -> RuntimeArg<T> {
    ARGS.with_borrow_mut(|args| {
        // One declaration per name and default: the socket stack's
        // `--ipv4` (default: every address) is not the direct stack's.
        let id = format!(
            "{}={:?}:{}",
            fresh.name(),
            fresh.def.default,
            fresh.def.rust_type
        );
        let entry = args.entry(id).or_insert_with(|| Box::new(fresh.clone()));
        entry
            .downcast_ref::<RuntimeArg<T>>()
            .cloned()
            .unwrap_or(fresh)
    })
}

fn named(group: Option<&str>, name: &str) -> String {
    match group {
        Some(g) if !g.is_empty() => format!("{g}-{name}"),
        _ => name.to_string(),
    }
}

/// `--ipv4`: the address and prefix of the unikernel.
#[track_caller]
pub fn ipv4_network_arg(group: Option<&str>, default: Ipv4Prefix) -> RuntimeArg<Ipv4Prefix> {
    shared(
        runtime_arg::<Ipv4Prefix>(&named(group, "ipv4"))
            .default(default)
            .doc("The IPv4 address of the unikernel, with the length of its network's prefix."),
    )
}

/// `--ipv4-gateway`: the IPv4 default gateway.
#[track_caller]
pub fn ipv4_gateway_arg(
    group: Option<&str>,
    default: Option<Ipv4Addr>,
) -> RuntimeArg<Option<Ipv4Addr>> {
    shared(
        runtime_arg::<Option<Ipv4Addr>>(&named(group, "ipv4-gateway"))
            .default(default)
            .doc("The IPv4 gateway of the unikernel."),
    )
}

/// `--ipv6`: a static IPv6 address and prefix of the unikernel.
#[track_caller]
pub fn ipv6_network_arg(
    group: Option<&str>,
    default: Option<Ipv6Prefix>,
) -> RuntimeArg<Option<Ipv6Prefix>> {
    shared(
        runtime_arg::<Option<Ipv6Prefix>>(&named(group, "ipv6"))
            .default(default)
            .doc("A static IPv6 address of the unikernel, with its prefix length (besides the link-local address and SLAAC)."),
    )
}

/// `--ipv6-gateway`: the IPv6 default gateway.
#[track_caller]
pub fn ipv6_gateway_arg(
    group: Option<&str>,
    default: Option<Ipv6Addr>,
) -> RuntimeArg<Option<Ipv6Addr>> {
    shared(
        runtime_arg::<Option<Ipv6Addr>>(&named(group, "ipv6-gateway"))
            .default(default)
            .doc("The IPv6 gateway of the unikernel, when no router advertises itself."),
    )
}

/// `--accept-router-advertisements`: SLAAC on or off.
#[track_caller]
pub fn accept_router_advertisements_arg(group: Option<&str>) -> RuntimeArg<bool> {
    shared(
        runtime_arg::<bool>(&named(group, "accept-router-advertisements"))
            .default(true)
            .doc("Configure IPv6 addresses from router advertisements (SLAAC)."),
    )
}

/// `--ipv4-only`: switch IPv6 off.
#[track_caller]
pub fn ipv4_only_arg(group: Option<&str>) -> RuntimeArg<bool> {
    shared(
        runtime_arg::<bool>(&named(group, "ipv4-only"))
            .default(false)
            .doc("Use IPv4 only."),
    )
}

/// `--ipv6-only`: switch IPv4 off.
#[track_caller]
pub fn ipv6_only_arg(group: Option<&str>) -> RuntimeArg<bool> {
    shared(
        runtime_arg::<bool>(&named(group, "ipv6-only"))
            .default(false)
            .doc("Use IPv6 only."),
    )
}

/// IPv4 over `eth` and `arp` with a static address (the seed's
/// `create_ipv4 ?group ?config eth arp`): `--ipv4` and `--ipv4-gateway`,
/// their defaults from `config` (MirageOS's `10.0.0.2/24` and none).
#[track_caller]
pub fn create_ipv4(
    group: Option<&str>,
    config: Option<Ipv4Config>,
    eth: &Impl<Ethernet>,
    arp: &Impl<Arpv4>,
) -> Impl<Ipv4> {
    let config = config.unwrap_or_default();
    let network = ipv4_network_arg(group, config.network);
    let gateway = ipv4_gateway_arg(group, config.gateway);
    let clock = super::default_monotonic_clock();
    let random = super::default_random();
    let (e, a, c, r, te, tc) = (
        eth.clone(),
        arp.clone(),
        clock.clone(),
        random.clone(),
        eth.clone(),
        clock.clone(),
    );
    let (n, g) = (network.clone(), gateway.clone());
    Device::new("ipv4", "create_ipv4", ipv4())
        .dep(eth)
        .dep(arp)
        .dep(&clock)
        .dep(&random)
        .runtime_arg(&network)
        .runtime_arg(&gateway)
        .package(super::mirage_package())
        .rust_type(move |cx| format!("mirage::net::ipv4::Ipv4<{}, {}>", cx.ty(&te), cx.ty(&tc)))
        .connect(move |cx| {
            Connect::expr(format!(
                "mirage::net::ipv4::Ipv4::connect({}, {}, {}, mirage::net::ipv4::Ipv4Config {{ address: {}, gateway: {} }}, mirage::net::seed({}))",
                cx.var(&e),
                cx.var(&a),
                cx.var(&c),
                cx.arg(&n),
                cx.arg(&g),
                cx.var(&r),
            ))
            .fallible()
        })
        .build()
}

/// IPv4 over `eth` and `arp` with an address leased by DHCP (MirageOS's
/// `ipv4_of_dhcp`): the start waits for the lease; renewals run in the
/// stack. `net` is the device the client speaks on.
#[track_caller]
pub fn ipv4_of_dhcp(net: &Impl<Network>, eth: &Impl<Ethernet>, arp: &Impl<Arpv4>) -> Impl<Ipv4> {
    let clock = super::default_monotonic_clock();
    let random = super::default_random();
    let (e, a, c, r, te, tc) = (
        eth.clone(),
        arp.clone(),
        clock.clone(),
        random.clone(),
        eth.clone(),
        clock.clone(),
    );
    Device::new("ipv4", "ipv4_of_dhcp", ipv4())
        .dep(net)
        .dep(eth)
        .dep(arp)
        .dep(&clock)
        .dep(&random)
        .package(super::mirage_package())
        .rust_type(move |cx| format!("mirage::net::ipv4::Ipv4<{}, {}>", cx.ty(&te), cx.ty(&tc)))
        .connect(move |cx| {
            Connect::expr(format!(
                "mirage::net::ipv4::Ipv4::connect_leased({}, {}, {}, {})",
                cx.var(&e),
                cx.var(&a),
                cx.var(&c),
                cx.var(&r),
            ))
            .awaited()
            .fallible()
            .leaked()
        })
        .build()
}

/// IPv6 over `eth` (the seed's `create_ipv6 ?group ?config net eth`): the
/// link-local address, `--ipv6` and `--ipv6-gateway` (defaults from
/// `config`), and SLAAC unless `--accept-router-advertisements=false`.
#[track_caller]
pub fn create_ipv6(
    group: Option<&str>,
    config: Option<Ipv6Config>,
    net: &Impl<Network>,
    eth: &Impl<Ethernet>,
) -> Impl<Ipv6> {
    let config = config.unwrap_or_default();
    let network = ipv6_network_arg(group, config.network);
    let gateway = ipv6_gateway_arg(group, config.gateway);
    let slaac = accept_router_advertisements_arg(group);
    let clock = super::default_monotonic_clock();
    let random = super::default_random();
    let (e, c, r, te, tc) = (
        eth.clone(),
        clock.clone(),
        random.clone(),
        eth.clone(),
        clock.clone(),
    );
    let (n, g, s) = (network.clone(), gateway.clone(), slaac.clone());
    Device::new("ipv6", "create_ipv6", ipv6())
        .dep(net)
        .dep(eth)
        .dep(&clock)
        .dep(&random)
        .runtime_arg(&network)
        .runtime_arg(&gateway)
        .runtime_arg(&slaac)
        .package(super::mirage_package())
        .rust_type(move |cx| format!("mirage::net::ipv6::Ipv6<{}, {}>", cx.ty(&te), cx.ty(&tc)))
        .connect(move |cx| {
            Connect::expr(format!(
                "mirage::net::ipv6::Ipv6::connect({}, {}, mirage::net::ipv6::Ipv6Config {{ address: {}, gateway: {}, slaac: {} }}, mirage::net::seed({}))",
                cx.var(&e),
                cx.var(&c),
                cx.arg(&n),
                cx.arg(&g),
                cx.arg(&s),
                cx.var(&r),
            ))
        })
        .build()
}

/// IPv4 and IPv6 as one layer (the seed's `create_ipv4v6`), routing by
/// the destination's family.
#[track_caller]
pub fn create_ipv4v6(v4: &Impl<Ipv4>, v6: &Impl<Ipv6>) -> Impl<Ipv4v6> {
    let (a, b, ta, tb) = (v4.clone(), v6.clone(), v4.clone(), v6.clone());
    Device::new("ipv4v6", "create_ipv4v6", ipv4v6())
        .dep(v4)
        .dep(v6)
        .package(super::mirage_package())
        .rust_type(move |cx| {
            format!(
                "mirage::net::ipv4v6::Ipv4v6<{}, {}>",
                cx.ty(&ta),
                cx.ty(&tb)
            )
        })
        .connect(move |cx| {
            Connect::expr(format!(
                "mirage::net::ipv4v6::Ipv4v6::connect({}, {}, false, false)",
                cx.var(&a),
                cx.var(&b)
            ))
        })
        .build()
}
