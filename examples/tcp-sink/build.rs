//! The device graph of `tcp-sink`: a job over the generic stack (see
//! `udp-echo`) and the monotonic clock, counting what each connection on
//! `--port` sends.

use mirage_build::prelude::*;

fn main() {
    let port = runtime_arg::<u16>("port")
        .default(9)
        .doc("The TCP port to receive on.");
    let stack = generic_stackv4v6(None, None, None, &default_network());
    let main =
        mirage_build::main("unikernel::start", stackv4v6() >> mclock() >> job()).runtime_arg(&port);
    configure(register(
        "tcp-sink",
        [main.apply(&stack).apply(&default_monotonic_clock())],
    ));
}
