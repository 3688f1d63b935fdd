use mirage_build::prelude::*;

fn main() {
    // `time -> job` applied to a clock.
    let main = mirage_build::main("unikernel::start", time() >> job());
    let _ = register("bad", [main.apply(&default_posix_clock())]);
}
