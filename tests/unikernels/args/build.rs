//! A job taking one runtime argument of every type a runtime argument can
//! have: required, with defaults, optional, a flag, lists.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mirage_build::prelude::*;

fn main() {
    let name = runtime_arg::<String>("name")
        .required()
        .doc("A required string.");
    let count = runtime_arg::<i32>("count")
        .default(-3)
        .doc("A signed integer.");
    let big = runtime_arg::<u64>("big")
        .default(u64::MAX)
        .doc("An unsigned integer.");
    let verbose = runtime_arg::<bool>("verbose").default(false).doc("A flag.");
    let ipv4 = runtime_arg::<Ipv4Addr>("ipv4")
        .default(Ipv4Addr::new(10, 0, 0, 2))
        .doc("An IPv4 address.");
    let ipv6 = runtime_arg::<Ipv6Addr>("ipv6")
        .default(Ipv6Addr::LOCALHOST)
        .doc("An IPv6 address.");
    let ip = runtime_arg::<Option<IpAddr>>("ip").doc("An optional address of either kind.");
    let net4 = runtime_arg::<Ipv4Prefix>("net4")
        .default("10.0.0.2/24".parse().unwrap())
        .doc("An IPv4 address with its prefix.");
    let net6 = runtime_arg::<Ipv6Prefix>("net6")
        .default("fe80::1/64".parse().unwrap())
        .doc("An IPv6 address with its prefix.");
    let ports = runtime_arg::<Vec<u16>>("ports")
        .default(vec![80, 443])
        .doc("A list.");
    let gateway = runtime_arg::<Option<Ipv4Addr>>("gateway").doc("An optional IPv4 address.");
    let main = mirage_build::main("unikernel::start", job()).runtime_args([
        (&name).into(),
        (&count).into(),
        (&big).into(),
        (&verbose).into(),
        (&ipv4).into(),
        (&ipv6).into(),
        (&ip).into(),
        (&net4).into(),
        (&net6).into(),
        (&ports).into(),
        (&gateway).into(),
    ]);
    configure(register("args", [main.build()]));
}
