//! The device graph of `kv-rw`: a job over a chamelon (littlefs) store on
//! the block device `storage` (a file of that name on unix, the Solo5
//! block device `storage` on hvt/spt), encrypted with `ccm_block` when the
//! configure-time key `MIRAGE_CCM=true` says so (the key then comes from
//! `--aes-ccm-key`).

use mirage_build::prelude::*;

fn main() {
    let program_block_size = runtime_arg::<u32>("program-block-size")
        .default(16)
        .doc("The littlefs program block size: commits are aligned to it.");
    let format = runtime_arg::<bool>("format")
        .default(false)
        .doc("Format the store first, erasing it (needed once for a fresh encrypted device).");
    let note = runtime_arg::<String>("note")
        .default(String::new())
        .doc("A note to keep with this boot's count.");
    let aes_ccm_key = runtime_arg::<Option<String>>("aes-ccm-key")
        .doc("The key of the encrypted block device (hex), with MIRAGE_CCM=true.");
    let ccm = key("ccm", false).doc("Encrypt the store's block device with ccm_block.");
    let plain = block_of_file("storage");
    let block = if_impl(ccm.value(), &ccm_block(None, &aes_ccm_key, &plain), &plain);
    let store = chamelon(&program_block_size, None, &block);
    let main = mirage_build::main("unikernel::start", kv_rw() >> job())
        .runtime_arg(&format)
        .runtime_arg(&note);
    configure(register("kv-rw", [main.apply(&store)]));
}
