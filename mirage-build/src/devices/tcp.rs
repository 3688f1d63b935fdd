//! `tcp`: `direct_tcp`, `socket_tcpv4v6`, `tcpv4v6_of_stackv4v6`.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::device::{Connect, Device, Impl};
use crate::typ::{IpType, Stackv4v6, Tcp, tcp};

use super::udp::option_literal;

/// TCP over the IP layer `ip` (the seed's `direct_tcp`), with the engine's
/// default configuration. A stack feeds it the segments it receives: give
/// it to [`super::direct_stackv4v6`] as its `tcp` (over the stack's own
/// dual IP layer, `create_ipv4v6` of the stack's `ipv4` and `ipv6`);
/// stacks build one of their own otherwise.
#[track_caller]
pub fn direct_tcp<V: IpType>(ip: &Impl<V>) -> Impl<Tcp> {
    let clock = super::default_monotonic_clock();
    let random = super::default_random();
    let (i, t, c, tc, r) = (
        ip.clone(),
        ip.clone(),
        clock.clone(),
        clock.clone(),
        random.clone(),
    );
    Device::new("tcp", "direct_tcp", tcp())
        .dep(ip)
        .dep(&clock)
        .dep(&random)
        .package(super::mirage_package())
        .rust_type(move |cx| {
            format!(
                "mirage::net::tcp::DirectTcp<{}, {}>",
                cx.ty(&t),
                cx.ty(&tc)
            )
        })
        .connect(move |cx| {
            Connect::expr(format!(
                "mirage::net::tcp::DirectTcp::connect({}, {}, {}, mirage::net::tcp::Config::default())",
                cx.var(&i),
                cx.var(&c),
                cx.var(&r)
            ))
        })
        .build()
}

/// TCP over the host's sockets, listening on `ipv4` / `ipv6` (the
/// unspecified addresses when `None`): the seed's `socket_tcpv4v6`. Only on
/// unix: on other targets the graph fails to configure, saying so.
#[track_caller]
pub fn socket_tcpv4v6(ipv4: Option<Ipv4Addr>, ipv6: Option<Ipv6Addr>) -> Impl<Tcp> {
    let unix = Device::new("tcp", "socket_tcpv4v6", tcp())
        .identity(&format!("socket_tcpv4v6:{ipv4:?}:{ipv6:?}"))
        .package(super::mirage_package())
        .rust_type(|_| "mirage::platform::SocketTcp".to_string())
        .connect(move |_| {
            Connect::expr(format!(
                "mirage::platform::SocketTcp::connect({}, {})",
                option_literal(
                    ipv4.map(|a| format!("core::net::Ipv4Addr::from({:?})", a.octets()))
                ),
                option_literal(
                    ipv6.map(|a| format!("core::net::Ipv6Addr::from({:?})", a.octets()))
                ),
            ))
            .fallible()
        })
        .build();
    super::unix_only(
        unix,
        "tcp",
        "socket_tcpv4v6",
        &format!("socket_tcpv4v6:{ipv4:?}:{ipv6:?}"),
        tcp(),
        "socket_tcpv4v6 uses the host's sockets: it is only available on unix (use a direct stack and tcpv4v6_of_stackv4v6 on hvt and spt)",
    )
}

/// The TCP of `stack`, whichever stack it is (the seed's
/// `tcpv4v6_of_stackv4v6`), for devices that want TCP only.
#[track_caller]
pub fn tcpv4v6_of_stackv4v6(stack: &Impl<Stackv4v6>) -> Impl<Tcp> {
    let (s, t) = (stack.clone(), stack.clone());
    Device::new("tcp", "tcpv4v6_of_stackv4v6", tcp())
        .dep(stack)
        .package(super::mirage_package())
        .rust_type(move |cx| format!("<{} as mirage::net::stack::Stackv4v6>::Tcp", cx.ty(&t)))
        .connect(move |cx| {
            Connect::expr(format!(
                "mirage::net::stack::Stackv4v6::tcp({})",
                cx.var(&s)
            ))
            .leaked()
        })
        .build()
}
