//! `kv_rw`: `kv_rw_mem`, `direct_kv_rw` and `tar_kv_rw`.

use crate::device::{Connect, Device, Impl};
use crate::typ::{Block, KvRw, Pclock, kv_rw};

/// A read-write store in memory, timestamped by `clock` (default
/// `default_posix_clock`): the seed's `kv_rw_mem ?clock ()`.
#[track_caller]
pub fn kv_rw_mem(clock: Option<Impl<Pclock>>) -> Impl<KvRw> {
    let clock = match clock {
        Some(clock) => clock,
        None => super::default_posix_clock(),
    };
    let (c, t) = (clock.clone(), clock.clone());
    Device::new("kv_rw_mem", "kv_rw_mem", kv_rw())
        .dep(&clock)
        .package(super::mirage_package())
        .rust_type(move |cx| format!("mirage::kv::rw_mem::MemRw<{}>", cx.ty(&t)))
        .connect(move |cx| Connect::expr(format!("mirage::kv::rw_mem::MemRw::new({})", cx.var(&c))))
        .build()
}

/// A host directory as a read-write store (the seed's `direct_kv_rw`):
/// values are replaced atomically (written beside, then renamed over).
/// Only available on unix: on other targets the graph fails to configure,
/// saying so.
#[track_caller]
pub fn direct_kv_rw(dir: &str) -> Impl<KvRw> {
    let d = dir.to_string();
    let unix = Device::new("direct_kv_rw", "direct_kv_rw", kv_rw())
        .identity(&format!("direct_kv_rw:{dir}"))
        .package(super::mirage_package())
        .rust_type(|_| "mirage::platform::DirectKv".to_string())
        .connect(move |cx| {
            let path = cx.info().manifest_dir().join(&d);
            Connect::expr(format!(
                "mirage::platform::DirectKv::connect({:?})",
                path.display().to_string()
            ))
            .fallible()
        })
        .build();
    super::unix_only(
        unix,
        "direct_kv_rw",
        "direct_kv_rw",
        &format!("direct_kv_rw:{dir}"),
        kv_rw(),
        "direct_kv_rw needs a host file system: it is only available on unix (use chamelon over a block device on hvt and spt)",
    )
}

/// A read-write tar archive on `block`, timestamped by `pclock` (default
/// `default_posix_clock`): the seed's `tar_kv_rw ?pclock block`,
/// `mirage::kv::tar_rw::TarKvRw`. The store is append-only: values cannot
/// generally be removed, `set_partial` only writes within a value's size,
/// and renames are restricted (see the type's documentation); the archive
/// stays readable by GNU tar, and an interrupted write never loses what
/// was written before.
#[track_caller]
pub fn tar_kv_rw(pclock: Option<Impl<Pclock>>, block: &Impl<Block>) -> Impl<KvRw> {
    let clock = match pclock {
        Some(clock) => clock,
        None => super::default_posix_clock(),
    };
    let (b1, b2, c1, c2) = (block.clone(), block.clone(), clock.clone(), clock.clone());
    Device::new("tar_rw", "tar_kv_rw", kv_rw())
        .dep(block)
        .dep(&clock)
        .package(super::mirage_package())
        .rust_type(move |cx| {
            format!(
                "mirage::kv::tar_rw::TarKvRw<'static, {}, {}>",
                cx.ty(&b1),
                cx.ty(&c1)
            )
        })
        .connect(move |cx| {
            Connect::expr(format!(
                "mirage::kv::tar_rw::TarKvRw::connect({}, {})",
                cx.var(&b2),
                cx.var(&c2)
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
    use crate::typ::job;

    use super::*;

    #[test]
    fn tar_kv_rw_connects_over_its_block_device_and_clock() {
        let dir = std::env::temp_dir().join(format!("mirage-tar-rw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[dependencies]\nmirage = { path = \"../mirage\" }\n\n[features]\ndefault = [\"target-unix\"]\ntarget-unix = [\"mirage/target-unix\"]\n",
        )
        .unwrap();
        let mut vars = BTreeMap::new();
        vars.insert("CARGO_FEATURE_TARGET_UNIX".to_string(), "1".to_string());
        let env = BuildEnv {
            vars,
            out_dir: dir.clone(),
            manifest_dir: dir.clone(),
        };
        let kv = tar_kv_rw(None, &crate::devices::block_of_file("notes.tar"));
        let app = register(
            "app",
            [main("unikernel::start", kv_rw() >> job()).apply(&kv)],
        );
        let out = evaluate_application(&app, &env).unwrap();
        let flat: String = out.main_rs.split_whitespace().collect();
        assert!(
            flat.contains(
                "mirage::kv::tar_rw::TarKvRw<'static,mirage::platform::BlockFile,mirage::platform::Pclock,>"
            ),
            "{}",
            out.main_rs
        );
        assert!(
            out.main_rs
                .contains("mirage::kv::tar_rw::TarKvRw::connect(block_notes_tar_"),
            "{}",
            out.main_rs
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
