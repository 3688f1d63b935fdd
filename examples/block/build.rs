//! The device graph of `block`: a job using the block device `storage` (a
//! file of that name on unix, the Solo5 block device `storage` on hvt/spt).

use mirage_build::prelude::*;

fn main() {
    let sectors = runtime_arg::<u64>("sectors")
        .default(64)
        .doc("How many sectors to test, spread over the device (at most its size).");
    let main = mirage_build::main("unikernel::start", block() >> job()).runtime_arg(&sectors);
    configure(register("block", [main.apply(&block_of_file("storage"))]));
}
