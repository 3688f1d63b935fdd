//! A job with one runtime argument and no devices.

use mirage_build::prelude::*;

fn main() {
    let how = runtime_arg::<String>("how")
        .default("ok".to_string())
        .doc("ok, fail (the job returns an error), panic, alloc:N (allocate N bytes), tls, write-text, syscall, canary or stack-smash.");
    let main = mirage_build::main("unikernel::start", job()).runtime_arg(&how);
    configure(register("crash", [main.build()]));
}
