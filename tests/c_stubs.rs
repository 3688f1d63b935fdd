//! The freestanding C stubs (c-stubs/) that Solo5 unikernels link instead
//! of a C library: `mem.c` is compiled as platform/solo5/build.rs compiles
//! it (freestanding, no builtins, -O2), its functions renamed so that they
//! do not replace the host's, and checked against reference loops by
//! tests/c/mem_test.c.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn mem_functions_match_reference_loops() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("c-stubs-mem-test");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let mut build = Command::new(&cc);
    for f in ["memcpy", "memmove", "memset", "memcmp", "bcmp", "strlen"] {
        build.arg(format!("-D{f}=stub_{f}"));
    }
    let built = build
        .args([
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-fno-builtin",
            "-fno-tree-loop-distribute-patterns",
            "-mno-red-zone",
            "-mno-sse",
            "-fno-stack-protector",
        ])
        // The harness is hosted C (printf); only mem.c is built as the
        // unikernel builds it.
        .arg("-ffreestanding")
        .arg("-c")
        .arg(root.join("c-stubs/mem.c"))
        .arg("-o")
        .arg(out.with_extension("o"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    assert!(
        built.status.success(),
        "compiling c-stubs/mem.c: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let linked = Command::new(&cc)
        .args(["-O2", "-Wall", "-Wextra", "-Werror"])
        .arg(root.join("tests/c/mem_test.c"))
        .arg(out.with_extension("o"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        linked.status.success(),
        "building the harness: {}",
        String::from_utf8_lossy(&linked.stderr)
    );
    let run = Command::new(&out).output().unwrap();
    assert!(
        run.status.success(),
        "c-stubs/mem.c: {}",
        String::from_utf8_lossy(&run.stdout)
    );
}
