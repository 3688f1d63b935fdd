//! The catalogue: a constructor for each device of the seed that this
//! version ships, one file per device type.

mod argv;
mod arp;
mod block;
mod chamelon;
mod clock;
mod console;
mod docteur;
mod ethernet;
mod fat;
mod ip;
mod kv;
mod kv_rw;
mod network;
mod random;
mod reporter;
mod stack;
mod tcp;
mod time;
mod udp;

pub use argv::{ArgvMode, default_argv, no_argv};
pub use arp::arp;
pub use block::{
    BlockKind, block_key, block_of_file, block_of_xenstore_id, ccm_block, generic_block, ramdisk,
};
pub use chamelon::chamelon;
pub use clock::{default_monotonic_clock, default_posix_clock};
pub use console::default_console;
pub use docteur::{DocteurMode, docteur, docteur_analyze};
pub use ethernet::etif;
pub use fat::fat_ro;
pub use ip::{
    Ipv4Config, Ipv6Config, accept_router_advertisements_arg, create_ipv4, create_ipv4v6,
    create_ipv6, ipv4_gateway_arg, ipv4_network_arg, ipv4_of_dhcp, ipv4_only_arg, ipv6_gateway_arg,
    ipv6_network_arg, ipv6_only_arg,
};
pub use kv::*;
pub use kv_rw::{direct_kv_rw, kv_rw_mem, tar_kv_rw};
pub use network::{default_network, netif};
pub use random::{default_random, rng};
pub use reporter::{LogLevel, default_reporter, no_reporter};
pub use stack::{
    NetKey, dhcp_ipv4v6_stack, direct_stackv4v6, generic_stackv4v6, socket_stackv4v6,
    static_ipv4v6_stack,
};
pub use tcp::{direct_tcp, socket_tcpv4v6, tcpv4v6_of_stackv4v6};
pub use time::default_time;
pub use udp::{direct_udp, socket_udpv4v6};

use crate::package::{Package, package};

/// `unix` on the unix target; elsewhere a device of the same kind that
/// fails the configuration with `reason` (host sockets and directories
/// exist only on unix).
#[track_caller]
pub(crate) fn unix_only<T: crate::typ::TypeDesc>(
    unix: crate::device::Impl<T>,
    nice_name: &str,
    constructor: &str,
    identity: &str,
    typ: crate::typ::Typ<T>,
    reason: &str,
) -> crate::device::Impl<T> {
    let elsewhere = crate::device::Device::new(nice_name, constructor, typ)
        .identity(&format!("{identity}-unavailable"))
        .unavailable(reason)
        .build();
    crate::device::match_impl(
        crate::key::target(),
        [(crate::key::Target::Unix, unix)],
        &elsewhere,
    )
}

/// The package every catalogue device of the runtime needs.
pub(crate) fn mirage_package() -> Package {
    package("mirage")
}
