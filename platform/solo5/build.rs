//! Builds the freestanding C stubs (boot trampoline, mem*, stack protector)
//! for the Solo5 targets; nothing for a build without a transport.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let hvt = std::env::var_os("CARGO_FEATURE_HVT").is_some();
    let spt = std::env::var_os("CARGO_FEATURE_SPT").is_some();
    if !hvt && !spt {
        return;
    }
    let stubs = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../c-stubs");
    let files = ["boot.S", "mem.c", "ssp.c"];
    for file in files {
        println!("cargo:rerun-if-changed={}", stubs.join(file).display());
    }
    cc::Build::new()
        .files(files.iter().map(|f| stubs.join(f)))
        .flag("-ffreestanding")
        .flag("-fno-builtin")
        .flag("-fno-tree-loop-distribute-patterns")
        .flag("-mno-red-zone")
        .flag("-mno-sse")
        .flag("-mno-mmx")
        .flag("-mno-avx")
        .flag("-fno-stack-protector")
        .flag("-fno-pic")
        .flag("-nostdlib")
        .opt_level(2)
        .warnings(true)
        .extra_warnings(true)
        .compile("mirage_c_stubs");
}
