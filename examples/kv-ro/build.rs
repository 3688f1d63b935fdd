//! The device graph of `kv-ro`: a job over the read-only store of the
//! directory `htdocs`, embedded (crunch) or read from the host at run time
//! (direct, unix only; crunch elsewhere), as `MIRAGE_KV_RO=crunch|direct`
//! says (default: crunch, as in MirageOS).

use mirage_build::prelude::*;

fn main() {
    let main = mirage_build::main("unikernel::start", kv_ro() >> job());
    configure(register(
        "kv-ro",
        [main.apply(&generic_kv_ro(None, None, "htdocs"))],
    ));
}
