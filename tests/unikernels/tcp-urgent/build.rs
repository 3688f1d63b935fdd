//! The device graph of `tcp-urgent`: a job over the generic stack that
//! connects to `--peer:--peer-port` and sends `--before` plain bytes,
//! `--urgent` bytes as urgent data, then `--after` plain bytes.

use mirage_build::prelude::*;

fn main() {
    let peer = runtime_arg::<std::net::IpAddr>("peer")
        .required()
        .doc("The host to connect to.");
    let peer_port = runtime_arg::<u16>("peer-port")
        .default(7000)
        .doc("The port of --peer.");
    let before = runtime_arg::<u32>("before")
        .default(1000)
        .doc("Plain bytes sent first.");
    let urgent = runtime_arg::<u32>("urgent")
        .default(6)
        .doc("Bytes sent next as urgent data (one write).");
    let after = runtime_arg::<u32>("after")
        .default(3)
        .doc("Plain bytes sent last.");
    let stack = generic_stackv4v6(None, None, None, &default_network());
    let main = mirage_build::main("unikernel::start", stackv4v6() >> job())
        .runtime_arg(&peer)
        .runtime_arg(&peer_port)
        .runtime_arg(&before)
        .runtime_arg(&urgent)
        .runtime_arg(&after);
    configure(register("tcp-urgent", [main.apply(&stack)]));
}
