//! The device graph of `tcp-echo`: a job over the generic stack (the
//! host's sockets on unix unless built with `MIRAGE_NET=direct`; the
//! unikernel's own stack over the Solo5 net device `service` on hvt/spt)
//! echoing every connection on `--port`, and, with `--peer`, connecting
//! out to `--peer:--peer-port` and echoing back what it reads there.

use mirage_build::prelude::*;

fn main() {
    let port = runtime_arg::<u16>("port")
        .default(7)
        .doc("The TCP port to echo on.");
    let peer = runtime_arg::<Option<std::net::IpAddr>>("peer")
        .doc("A host to connect to and echo back to, besides listening.");
    let peer_port = runtime_arg::<u16>("peer-port")
        .default(7000)
        .doc("The port of --peer.");
    let stack = generic_stackv4v6(None, None, None, &default_network());
    let main = mirage_build::main("unikernel::start", stackv4v6() >> job())
        .runtime_arg(&port)
        .runtime_arg(&peer)
        .runtime_arg(&peer_port);
    configure(register("tcp-echo", [main.apply(&stack)]));
}
