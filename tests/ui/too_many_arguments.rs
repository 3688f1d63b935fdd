use mirage_build::prelude::*;

fn main() {
    // `time -> job` applied twice.
    let main = mirage_build::main("unikernel::start", time() >> job()).build();
    let job = main.apply(&default_time());
    let _ = register("bad", [job.apply(&default_time())]);
}
