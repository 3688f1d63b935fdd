// The device graph of examples/hello, kept in its own file so that the
// build.rs locations in the golden output do not move when tests change.

use mirage_build::prelude::*;

pub fn hello() -> Application {
    let hello = runtime_arg::<String>("hello")
        .default("Hello World!".to_string())
        .doc("The message to print.");
    let count = runtime_arg::<u32>("count")
        .default(4)
        .doc("How many times to print it.");
    let interval = runtime_arg::<u64>("interval-ms")
        .default(1000)
        .doc("Milliseconds between two messages.");
    let main = mirage_build::main("unikernel::start", time() >> job())
        .runtime_arg(&hello)
        .runtime_arg(&count)
        .runtime_arg(&interval);
    register("hello", [main.apply(&default_time())])
}
