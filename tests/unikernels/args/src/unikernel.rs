//! Logs the value of each runtime argument, one per line, as `name=value`
//! (`Debug` form).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mirage::args::{Ipv4Prefix, Ipv6Prefix};
use mirage::export::{String, Vec};

/// Logs every argument.
#[allow(clippy::too_many_arguments)]
pub async fn start(
    name: String,
    count: i32,
    big: u64,
    verbose: bool,
    ipv4: Ipv4Addr,
    ipv6: Ipv6Addr,
    ip: Option<IpAddr>,
    net4: Ipv4Prefix,
    net6: Ipv6Prefix,
    ports: Vec<u16>,
    gateway: Option<Ipv4Addr>,
) {
    let log = |key: &str, value: &dyn core::fmt::Debug| {
        log::info!(target: "application", "{key}={value:?}");
    };
    log("name", &name);
    log("count", &count);
    log("big", &big);
    log("verbose", &verbose);
    log("ipv4", &ipv4);
    log("ipv6", &ipv6);
    log("ip", &ip);
    log("net4", &format_args!("{net4}"));
    log("net6", &format_args!("{net6}"));
    log("ports", &ports);
    log("gateway", &gateway);
}
