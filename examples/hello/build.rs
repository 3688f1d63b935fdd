//! The device graph of `hello` (MirageOS's `config.ml`): a job that needs a
//! timer, and three runtime arguments. The workspace's golden test
//! evaluates `hello()` too, so the generated code it pins is this file's.

use mirage_build::prelude::*;

/// The application.
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

fn main() {
    configure(hello());
}
