use mirage_build::prelude::*;

fn main() {
    // The second argument of `time -> pclock -> job` must be a pclock.
    let main = mirage_build::main("unikernel::start", time() >> pclock() >> job()).build();
    let _ = register("bad", [main.apply(&default_time()).apply(&default_time())]);
}
