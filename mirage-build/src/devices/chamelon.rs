//! `kv_rw`: `chamelon`.

use crate::device::{Connect, Device, Impl};
use crate::runtime_arg::RuntimeArg;
use crate::typ::{Block, KvRw, Pclock, kv_rw};

/// The littlefs (version 2) file system on `block` as a read-write store,
/// timestamped by `pclock` (default `default_posix_clock`): the seed's
/// `chamelon ~program_block_size ?pclock block`
/// (`mirage::kv::chamelon::Chamelon`). The littlefs block size is the
/// device's sector size; `program_block_size` (MirageOS's
/// `--program-block-size`, 16 by default) aligns its commits.
///
/// As in MirageOS, the device must hold a littlefs file system: a damaged
/// or unusable one stops the unikernel at connect. A device holding none
/// (never formatted, or an encrypted device never written) connects, but
/// every operation reports why until the application formats it with
/// `Chamelon::format`: connecting never formats by itself.
/// `mirage::kv::chamelon::format` formats a device without mounting it
/// (MirageOS's `chamelon format`), and littlefs tools make images too.
#[track_caller]
pub fn chamelon(
    program_block_size: &RuntimeArg<u32>,
    pclock: Option<Impl<Pclock>>,
    block: &Impl<Block>,
) -> Impl<KvRw> {
    let clock = pclock.unwrap_or_else(super::default_posix_clock);
    let (b, c, arg) = (block.clone(), clock.clone(), program_block_size.clone());
    let (bt, ct) = (block.clone(), clock.clone());
    Device::new("chamelon", "chamelon", kv_rw())
        .dep(block)
        .dep(&clock)
        .runtime_arg(program_block_size)
        .package(super::mirage_package())
        .rust_type(move |cx| {
            format!(
                "mirage::kv::chamelon::Chamelon<{}, {}>",
                cx.ty(&bt),
                cx.ty(&ct)
            )
        })
        .connect(move |cx| {
            Connect::expr(format!(
                "mirage::kv::chamelon::Chamelon::connect({}, {}, {})",
                cx.var(&b),
                cx.var(&c),
                cx.arg(&arg)
            ))
            .awaited()
            .fallible()
        })
        .build()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::configure::{BuildEnv, evaluate_application, register};
    use crate::device::main;
    use crate::devices::{block_of_file, ccm_block};
    use crate::runtime_arg::runtime_arg;
    use crate::typ::{job, kv_rw};

    use super::*;

    const MANIFEST: &str = "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[dependencies]\nmirage = { path = \"../mirage\" }\n\n[features]\ndefault = [\"target-unix\"]\ntarget-unix = [\"mirage/target-unix\"]\n";

    /// The generated entry point of an application over `store`, without
    /// whitespace (rustfmt wraps long lines). `name` keeps each test's
    /// manifest apart: tests run in parallel threads of one process, and
    /// one rewriting a shared manifest while another read it made that
    /// one see no `mirage` dependency.
    fn main_rs(name: &str, store: Impl<KvRw>) -> String {
        let dir =
            std::env::temp_dir().join(format!("mirage-chamelon-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Cargo.toml"), MANIFEST).unwrap();
        let vars: BTreeMap<String, String> = [
            ("CARGO_FEATURE_TARGET_UNIX", "1"),
            ("CARGO_FEATURE_DEFAULT", "1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let env = BuildEnv {
            vars,
            out_dir: dir.clone(),
            manifest_dir: dir.clone(),
        };
        let app = register(
            "app",
            [main("unikernel::start", kv_rw() >> job()).apply(&store)],
        );
        let out = evaluate_application(&app, &env).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        out.main_rs
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .replace(",>", ">")
    }

    #[test]
    fn connects_over_its_block_device_with_the_program_size_argument() {
        let pbs = runtime_arg::<u32>("program-block-size")
            .default(16)
            .doc("littlefs program size");
        let main = main_rs("plain", chamelon(&pbs, None, &block_of_file("db")));
        assert!(main.contains("letarg_program_block_size:u32"), "{main}");
        assert!(
            main.contains("mirage::kv::chamelon::Chamelon<mirage::platform::BlockFile,mirage::platform::Pclock>"),
            "{main}"
        );
        assert!(
            main.contains("mirage::kv::chamelon::Chamelon::connect("),
            "{main}"
        );
        assert!(
            main.contains("arg_program_block_size).await.map_err("),
            "{main}"
        );
    }

    #[test]
    fn over_an_encrypted_device() {
        let pbs = runtime_arg::<u32>("program-block-size")
            .default(16)
            .doc("littlefs program size");
        let key = runtime_arg::<Option<String>>("aes-ccm-key").doc("key");
        let main = main_rs(
            "encrypted",
            chamelon(&pbs, None, &ccm_block(None, &key, &block_of_file("edb"))),
        );
        assert!(
            main.contains(
                "mirage::kv::chamelon::Chamelon<mirage::block::ccm::CcmBlock<mirage::platform::BlockFile,mirage::random::Rng>,mirage::platform::Pclock>"
            ),
            "{main}"
        );
    }
}
