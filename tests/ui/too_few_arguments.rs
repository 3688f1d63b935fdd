use mirage_build::prelude::*;

fn main() {
    // `time -> pclock -> job` applied to its time only: not a job yet.
    let main = mirage_build::main("unikernel::start", time() >> pclock() >> job()).build();
    let _ = register("bad", [main.apply(&default_time())]);
}
