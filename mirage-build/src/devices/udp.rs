//! `udp`: `direct_udp`, `socket_udpv4v6`.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::device::{Connect, Device, Impl};
use crate::typ::{IpType, Udp, udp};

/// UDP over the IP layer `ip` (the seed's `direct_udp`: any of `ipv4`,
/// `ipv6`, `ipv4v6`); ephemeral ports start at a random place.
#[track_caller]
pub fn direct_udp<V: IpType>(ip: &Impl<V>) -> Impl<Udp> {
    let random = super::default_random();
    let (i, t, r) = (ip.clone(), ip.clone(), random.clone());
    Device::new("udp", "direct_udp", udp())
        .dep(ip)
        .dep(&random)
        .package(super::mirage_package())
        .rust_type(move |cx| format!("mirage::net::udp::DirectUdp<{}>", cx.ty(&t)))
        .connect(move |cx| {
            Connect::expr(format!(
                "mirage::net::udp::DirectUdp::connect({}, mirage::net::seed({}))",
                cx.var(&i),
                cx.var(&r)
            ))
        })
        .build()
}

/// UDP over the host's sockets, bound to `ipv4` / `ipv6` (the unspecified
/// addresses when `None`): the seed's `socket_udpv4v6`. Only on unix: on
/// other targets the graph fails to configure, saying so.
#[track_caller]
pub fn socket_udpv4v6(ipv4: Option<Ipv4Addr>, ipv6: Option<Ipv6Addr>) -> Impl<Udp> {
    let unix = Device::new("udp", "socket_udpv4v6", udp())
        .identity(&format!("socket_udpv4v6:{ipv4:?}:{ipv6:?}"))
        .package(super::mirage_package())
        .rust_type(|_| "mirage::platform::SocketUdp".to_string())
        .connect(move |_| {
            Connect::expr(format!(
                "mirage::platform::SocketUdp::connect({}, {})",
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
        "udp",
        "socket_udpv4v6",
        &format!("socket_udpv4v6:{ipv4:?}:{ipv6:?}"),
        udp(),
        "socket_udpv4v6 uses the host's sockets: it is only available on unix (use direct_udp or a direct stack on hvt and spt)",
    )
}

/// `Some(expr)` or `None`, as code.
pub(crate) fn option_literal(expr: Option<String>) -> String {
    match expr {
        Some(e) => format!("Some({e})"),
        None => "None".to_string(),
    }
}
