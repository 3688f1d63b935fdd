//! The device graph of `udp-echo`: a job over the generic stack (the
//! host's sockets on unix unless built with `MIRAGE_NET=direct`; the
//! unikernel's own stack over the Solo5 net device `service` on hvt/spt)
//! echoing datagrams on `--port`.

use mirage_build::prelude::*;

fn main() {
    let port = runtime_arg::<u16>("port")
        .default(7)
        .doc("The UDP port to echo on.");
    let stack = generic_stackv4v6(None, None, None, &default_network());
    let main = mirage_build::main("unikernel::start", stackv4v6() >> job()).runtime_arg(&port);
    configure(register("udp-echo", [main.apply(&stack)]));
}
