//! `kv_ro`: `crunch`, `direct_kv_ro`, `generic_kv_ro` and `tar_kv_ro`.

use std::cell::RefCell;
use std::panic::Location;
use std::rc::Rc;

use crate::device::{Connect, Device, Impl, match_impl, show_location};
use crate::error::ConfigureError;
use crate::key::{Key, KeyType, Target, Value, key, target};
use crate::typ::{Block, KvRo, kv_ro};

/// The stem of a generated variable name for the directory `dir`.
pub(crate) fn stem(dir: &str) -> String {
    dir.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The directory `dir` (as written in build.rs) compiled into the unikernel
/// (the seed's `crunch`): a `mirage::kv::ro::mem::MemKv` over its files.
///
/// When the graph is evaluated, `dir` (relative to the application's
/// package directory unless absolute) is walked, following symbolic links;
/// an unreadable file or directory, a special file, a name that is not
/// UTF-8 or a link loop is a configure error. The table is written into
/// `OUT_DIR` as `crunch_<dir>.rs`, a block expression `{ static
/// CRUNCH_TABLE: &[(&str, &[u8])] = &[("path", include_bytes!("/abs/path")),
/// ...]; CRUNCH_TABLE }` that the entry point `include!`s; cargo is told to
/// rerun the build script when the directory or any of its files changes.
#[track_caller]
pub fn crunch(dir: &str) -> Impl<KvRo> {
    let location = Location::caller();
    let dir = dir.to_string();
    let file = crate::crunch::file_name(&dir);
    // What the walk found, shared by the device's code functions: the type
    // is computed first (walking and writing the table), the packages next
    // (reporting a failed walk as a configure error), the code last.
    let walked: Rc<RefCell<Option<Result<(), String>>>> = Rc::default();
    let (w_type, w_packages, w_code) = (walked.clone(), walked.clone(), walked);
    let d = dir.clone();
    Device::new(&format!("kv_{}", stem(&dir)), "crunch", kv_ro())
        .identity(&format!("crunch:{dir}"))
        .package(super::mirage_package())
        .rust_type(move |cx| {
            let info = cx.info();
            let result = crate::crunch::crunch_into(info.manifest_dir(), &d, info.output_dir());
            if let Ok(crunched) = &result {
                // Only from the build script whose OUT_DIR this is (not
                // from tests evaluating a graph).
                if std::env::var_os("OUT_DIR").is_some_and(|o| o == info.output_dir().as_os_str()) {
                    for path in crunched
                        .dirs
                        .iter()
                        .chain(crunched.files.iter().map(|(_, p)| p))
                    {
                        println!("cargo:rerun-if-changed={}", path.display());
                    }
                }
            }
            *w_type.borrow_mut() = Some(result.map(|_| ()));
            "mirage::kv::ro::mem::MemKv".to_string()
        })
        .packages_v(Value::from_fn(move |_| match &*w_packages.borrow() {
            Some(Err(problem)) => Err(ConfigureError::Device {
                device: format!("`crunch` ({})", show_location(location)),
                problem: problem.clone(),
            }),
            _ => Ok(Vec::new()),
        }))
        .connect(move |_| match &*w_code.borrow() {
            Some(Err(problem)) => Connect::expr(format!("compile_error!({problem:?})")),
            _ => Connect::expr(format!(
                "mirage::kv::ro::mem::MemKv::new(include!(concat!(env!(\"OUT_DIR\"), \"/{file}\")))"
            )),
        })
        .build()
}

/// The host directory `dir` read at run time: `mirage::platform::DirectKv`.
#[track_caller]
fn direct_unix(dir: &str) -> Impl<KvRo> {
    let d = dir.to_string();
    Device::new(&format!("kv_{}", stem(dir)), "direct_kv_ro", kv_ro())
        .identity(&format!("direct_kv_ro:{dir}"))
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
        .build()
}

/// The directory `dir` as a store (the seed's `direct_kv_ro`): on unix the
/// host directory, read at run time (`dir` is relative to the application's
/// package directory unless absolute; keys cannot leave it); on other
/// targets, [`crunch`]`(dir)`.
#[track_caller]
pub fn direct_kv_ro(dir: &str) -> Impl<KvRo> {
    match_impl(target(), [(Target::Unix, direct_unix(dir))], &crunch(dir))
}

/// The name of the configure-time key `name` of the devices of `group`
/// (MirageOS prefixes a group's keys with `GROUP-`).
pub(crate) fn grouped(group: Option<&str>, name: &str) -> String {
    match group {
        Some(g) if !g.is_empty() => format!("{g}-{name}"),
        _ => name.to_string(),
    }
}

/// How [`generic_kv_ro`] serves its directory: the seed's
/// `` [ `Crunch | `Direct ] ``, the configure-time key `kv-ro`
/// (`MIRAGE_KV_RO=crunch|direct`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvRoMode {
    /// Compiled in ([`crunch`]; MirageOS's default).
    Crunch,
    /// Read at run time ([`direct_kv_ro`]: the host directory on unix,
    /// crunch elsewhere).
    Direct,
}

impl KeyType for KvRoMode {
    const EXPECTED: &'static str = "crunch or direct";
    fn parse_key(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "crunch" => Some(KvRoMode::Crunch),
            "direct" => Some(KvRoMode::Direct),
            _ => None,
        }
    }
    fn show(&self) -> String {
        match self {
            KvRoMode::Crunch => "crunch",
            KvRoMode::Direct => "direct",
        }
        .to_string()
    }
}

/// The configure-time key `[GROUP-]kv-ro` of [`generic_kv_ro`] (MirageOS's
/// `Key.kv_ro ?group ()`): read from `MIRAGE_KV_RO` (or
/// `MIRAGE_<GROUP>_KV_RO`), `crunch` unless set, as in MirageOS.
pub fn kv_ro_key(group: Option<&str>) -> Key<KvRoMode> {
    key(&grouped(group, "kv-ro"), KvRoMode::Crunch).doc(
        "How read-only stores of directories are served: crunch (compiled in, the default) or direct (read at run time on unix; crunch elsewhere).",
    )
}

/// [`crunch`] or [`direct_kv_ro`] of `dir`, as `key` says (the seed's
/// `generic_kv_ro ?group ?key dir`). Without `key`, the configure-time key
/// [`kv_ro_key`]`(group)` chooses (`MIRAGE_KV_RO=crunch|direct`, default
/// crunch as in MirageOS).
#[track_caller]
pub fn generic_kv_ro(group: Option<&str>, key: Option<Value<KvRoMode>>, dir: &str) -> Impl<KvRo> {
    let mode = key.unwrap_or_else(|| kv_ro_key(group).value());
    match_impl(mode, [(KvRoMode::Direct, direct_kv_ro(dir))], &crunch(dir))
}

/// The tar archive on `block` as a store (the seed's `tar_kv_ro`):
/// `mirage::kv::ro::tar::TarKv`, which reads the archive's headers when it
/// connects.
#[track_caller]
pub fn tar_kv_ro(block: &Impl<Block>) -> Impl<KvRo> {
    let (b1, b2) = (block.clone(), block.clone());
    Device::new("tar", "tar_kv_ro", kv_ro())
        .identity("tar_kv_ro")
        .dep(block)
        .package(super::mirage_package())
        .rust_type(move |cx| format!("mirage::kv::ro::tar::TarKv<'static, {}>", cx.ty(&b1)))
        .connect(move |cx| {
            Connect::expr(format!(
                "mirage::kv::ro::tar::TarKv::connect({})",
                cx.var(&b2)
            ))
            .awaited()
            .fallible()
        })
        .build()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use crate::configure::{BuildEnv, Outputs, evaluate_application, register};
    use crate::device::main;
    use crate::typ::job;

    use super::*;

    const MANIFEST: &str = "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[dependencies]\nmirage = { path = \"../mirage\" }\n\n[features]\ndefault = [\"target-unix\"]\ntarget-unix = [\"mirage/target-unix\"]\n";

    fn app_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mirage-kv-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data/sub")).unwrap();
        std::fs::write(dir.join("Cargo.toml"), MANIFEST).unwrap();
        std::fs::write(dir.join("data/sub/f"), "x").unwrap();
        dir
    }

    fn eval(dir: &Path, kv: Impl<KvRo>, vars: &[(&str, &str)]) -> Result<Outputs, ConfigureError> {
        let mut map: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.insert("CARGO_FEATURE_TARGET_UNIX".into(), "1".into());
        map.insert("CARGO_FEATURE_DEFAULT".into(), "1".into());
        let env = BuildEnv {
            vars: map,
            out_dir: dir.to_path_buf(),
            manifest_dir: dir.to_path_buf(),
        };
        let app = register(
            "app",
            [main("unikernel::start", kv_ro() >> job()).apply(&kv)],
        );
        evaluate_application(&app, &env)
    }

    #[test]
    fn crunch_writes_its_table() {
        let dir = app_dir("crunch");
        let out = eval(&dir, generic_kv_ro(None, None, "data"), &[]).unwrap();
        assert!(out.main_rs.contains(
            "mirage::kv::ro::mem::MemKv::new(include!(concat!(env!(\"OUT_DIR\"), \"/crunch_data.rs\")))"
        ), "{}", out.main_rs);
        let table = std::fs::read_to_string(dir.join("crunch_data.rs")).unwrap();
        assert!(table.contains("(\"sub/f\", include_bytes!("), "{table}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn direct_when_the_key_says_so() {
        let dir = app_dir("direct");
        let out = eval(
            &dir,
            generic_kv_ro(None, None, "data"),
            &[("MIRAGE_KV_RO", "direct")],
        )
        .unwrap();
        let expected = format!(
            "mirage::platform::DirectKv::connect({:?})",
            dir.join("data").display().to_string()
        );
        assert!(out.main_rs.contains(&expected), "{}", out.main_rs);
        // Crunch was not chosen, so nothing was walked.
        assert!(!dir.join("crunch_data.rs").exists());
        // A group's key, and a key given by the application.
        let out = eval(
            &dir,
            generic_kv_ro(Some("pages"), None, "data"),
            &[("MIRAGE_PAGES_KV_RO", "direct"), ("MIRAGE_KV_RO", "crunch")],
        )
        .unwrap();
        assert!(out.main_rs.contains(&expected), "{}", out.main_rs);
        let chosen = generic_kv_ro(None, Some(Value::pure(KvRoMode::Direct)), "data");
        let out = eval(&dir, chosen, &[("MIRAGE_KV_RO", "crunch")]).unwrap();
        assert!(out.main_rs.contains(&expected), "{}", out.main_rs);
        let err = eval(
            &dir,
            generic_kv_ro(None, None, "data"),
            &[("MIRAGE_KV_RO", "fat")],
        )
        .err()
        .unwrap();
        assert!(matches!(err, ConfigureError::Key { .. }), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unreadable_directory_is_a_configure_error() {
        let dir = app_dir("missing");
        let err = eval(&dir, crunch("missing"), &[]).err().unwrap();
        match err {
            ConfigureError::Device { device, problem } => {
                assert!(device.contains("`crunch`"), "{device}");
                assert!(problem.contains("cannot read the directory"), "{problem}");
            }
            other => panic!("{other}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tar_connects_over_the_block_device() {
        let dir = app_dir("tar");
        let out = eval(
            &dir,
            tar_kv_ro(&crate::devices::block_of_file("disk.tar")),
            &[],
        )
        .unwrap();
        assert!(
            out.main_rs
                .contains("TarKv<'static, mirage::platform::BlockFile>"),
            "{}",
            out.main_rs
        );
        assert!(
            out.main_rs
                .contains("mirage::kv::ro::tar::TarKv::connect(block_disk_tar_"),
            "{}",
            out.main_rs
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
