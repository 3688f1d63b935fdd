//! `kv_ro`: `docteur`.

use std::cell::RefCell;
use std::panic::Location;
use std::path::PathBuf;
use std::rc::Rc;

use crate::device::{Connect, Device, Impl, Solo5Device, show_location};
use crate::error::ConfigureError;
use crate::key::{Target, Value};
use crate::runtime_arg::{RuntimeArg, runtime_arg};
use crate::typ::{KvRo, block, kv_ro};

/// How a `docteur` store finds its keys (the seed's `` `Fast | `Light ``).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DocteurMode {
    /// The directory layout is walked at start and kept (the default).
    #[default]
    Fast,
    /// Nothing is kept: every access walks the trees from the root.
    Light,
}

/// Where `remote` (as the seed writes it) lies: `relativize://DIR` and
/// plain relative paths are relative to the application's package
/// directory, `file://PATH` is absolute; other schemes (network clones)
/// are not supported.
fn source_path(manifest_dir: &std::path::Path, remote: &str) -> Result<PathBuf, String> {
    if let Some(rest) = remote.strip_prefix("relativize://") {
        return Ok(manifest_dir.join(rest));
    }
    if let Some(rest) = remote.strip_prefix("file://") {
        return Ok(PathBuf::from("/").join(rest.trim_start_matches('/')));
    }
    if remote.contains("://") || remote.starts_with("git@") {
        return Err(format!(
            "{remote}: only local sources (a directory or a git repository) are supported; clone it first"
        ));
    }
    Ok(manifest_dir.join(remote))
}

/// The runtime argument `analyze` that `docteur` uses by default: whether
/// to verify the image at start (default true; `--analyze=false` skips it).
pub fn docteur_analyze() -> RuntimeArg<bool> {
    runtime_arg::<bool>("analyze")
        .default(true)
        .doc("Verify the docteur image (checksums, object ids) when the unikernel starts.")
}

/// A read-only store in a git PACK image made at build time from `remote`
/// (the seed's `docteur ?mode ?name ?output ?analyze ?branch ?extra_deps
/// remote`):
/// `mirage::kv::docteur::Docteur`.
///
/// - `remote`: a directory or a local git repository (`relativize://DIR`
///   or a relative path: below the application's package directory;
///   `file:///abs/path`); a directory is committed into a temporary
///   repository first. `git` must be installed.
/// - `branch`: for a repository, the commit served (default `HEAD`).
/// - `mode`: [`DocteurMode::Fast`] (default) or [`DocteurMode::Light`].
/// - `name`: the block device (default `docteur`): on Solo5 targets the
///   image is attached as that device (`--block:docteur=IMAGE`); on unix
///   the image file is opened at start.
/// - `output`: the image file (default `NAME.img` in `OUT_DIR`; a relative
///   path is relative to the package directory).
/// - `analyze`: the runtime argument saying whether the image is verified
///   at start (default [`docteur_analyze`], true).
/// - `extra_deps`: files (relative to the package directory unless
///   absolute) that the source depends on without holding them, produced
///   by another build step: a change to one rebuilds the image, as
///   MirageOS's `?extra_deps` tells dune.
///
/// The image is made when the graph is evaluated (see
/// `mirage_build::docteur::make_image` for its layout); a failure is a
/// configure error naming the device.
#[track_caller]
pub fn docteur(
    mode: Option<DocteurMode>,
    name: Option<&str>,
    output: Option<&str>,
    analyze: Option<&RuntimeArg<bool>>,
    branch: Option<&str>,
    extra_deps: &[&str],
    remote: &str,
) -> Impl<KvRo> {
    let location = Location::caller();
    let mode = mode.unwrap_or_default();
    let name = name.unwrap_or("docteur").to_string();
    let analyze = analyze.cloned().unwrap_or_else(docteur_analyze);
    let output = output.map(str::to_string);
    let branch = branch.map(str::to_string);
    let remote = remote.to_string();
    let extra_deps: Vec<String> = extra_deps.iter().map(|d| d.to_string()).collect();
    let image_of = {
        let (name, output) = (name.clone(), output.clone());
        move |info: &crate::info::Info| match &output {
            Some(o) => info.manifest_dir().join(o),
            None => info.output_dir().join(format!("{name}.img")),
        }
    };
    // The image is made once, when the block device's type is asked for;
    // a failure is reported by its packages, as `crunch` does.
    let made: Rc<RefCell<Option<Result<PathBuf, String>>>> = Rc::default();
    let (m_type, m_packages, m_code) = (made.clone(), made.clone(), made);
    let image_for_type = image_of.clone();
    let (n1, n2) = (name.clone(), name.clone());
    let block_dev = Device::new(
        &format!("block_{}", super::kv::stem(&name)),
        "docteur",
        block(),
    )
    .identity(&format!("docteur-block:{name}:{remote}"))
    .package(super::mirage_package())
    .solo5_device(Solo5Device::Block(n1))
    .rust_type(move |cx| {
        let info = cx.info();
        let image = image_for_type(info);
        let result = source_path(info.manifest_dir(), &remote)
            .and_then(|source| crate::docteur::make_image(&source, branch.as_deref(), &image));
        if let Ok(made) = &result
            && std::env::var_os("OUT_DIR").is_some_and(|o| o == info.output_dir().as_os_str())
        {
            let extra = extra_deps.iter().map(|d| info.manifest_dir().join(d));
            for path in made.inputs.iter().cloned().chain(extra) {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        *m_type.borrow_mut() = Some(result.map(|_| image));
        "mirage::platform::BlockFile".to_string()
    })
    .packages_v(Value::from_fn(move |_| match &*m_packages.borrow() {
        Some(Err(problem)) => Err(ConfigureError::Device {
            device: format!("`docteur` ({})", show_location(location)),
            problem: problem.clone(),
        }),
        _ => Ok(Vec::new()),
    }))
    .connect(move |cx| {
        // The image file, read-only, on unix; the Solo5 device by name.
        let (open, target) = match cx.info().target() {
            Target::Unix => match &*m_code.borrow() {
                Some(Ok(image)) => ("connect_read_only", image.display().to_string()),
                Some(Err(problem)) => return Connect::expr(format!("compile_error!({problem:?})")),
                None => ("connect_read_only", String::new()),
            },
            _ => ("connect", n2.clone()),
        };
        Connect::expr(format!("mirage::platform::BlockFile::{open}({target:?})")).fallible()
    })
    .build();
    let (b1, b2, a) = (block_dev.clone(), block_dev.clone(), analyze.clone());
    let mode_code = match mode {
        DocteurMode::Fast => "mirage::kv::docteur::Mode::Fast",
        DocteurMode::Light => "mirage::kv::docteur::Mode::Light",
    };
    Device::new("docteur", "docteur", kv_ro())
        .identity(&format!("docteur:{name}:{mode:?}"))
        .dep(&block_dev)
        .runtime_arg(&analyze)
        .package(super::mirage_package())
        .rust_type(move |cx| format!("mirage::kv::docteur::Docteur<'static, {}>", cx.ty(&b1)))
        .connect(move |cx| {
            Connect::expr(format!(
                "mirage::kv::docteur::Docteur::connect({}, {mode_code}, {})",
                cx.var(&b2),
                cx.arg(&a)
            ))
            .awaited()
            .fallible()
        })
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        let base = std::path::Path::new("/app");
        assert_eq!(
            source_path(base, "data").unwrap(),
            PathBuf::from("/app/data")
        );
        assert_eq!(
            source_path(base, "relativize://data").unwrap(),
            PathBuf::from("/app/data")
        );
        assert_eq!(
            source_path(base, "file://home/u/repo").unwrap(),
            PathBuf::from("/home/u/repo")
        );
        assert_eq!(
            source_path(base, "file:///home/u/repo").unwrap(),
            PathBuf::from("/home/u/repo")
        );
        assert!(source_path(base, "https://example.invalid/r.git").is_err());
    }

    fn eval(dir: &std::path::Path, target: &str, kv: Impl<KvRo>) -> crate::configure::Outputs {
        use crate::configure::{BuildEnv, evaluate_application, register};
        let mut vars = std::collections::BTreeMap::new();
        vars.insert(format!("CARGO_FEATURE_TARGET_{target}"), "1".to_string());
        let env = BuildEnv {
            vars,
            out_dir: dir.join("out"),
            manifest_dir: dir.to_path_buf(),
        };
        let main = crate::device::main("unikernel::start", kv_ro() >> crate::typ::job());
        evaluate_application(&register("app", [main.apply(&kv)]), &env).unwrap()
    }

    #[test]
    fn the_image_is_made_and_opened_at_start() {
        if std::process::Command::new("git")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("SKIPPED: git is not installed (.ci/setup installs it)");
            return;
        }
        let dir = std::env::temp_dir().join(format!("mirage-docteur-dsl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data/sub")).unwrap();
        std::fs::create_dir_all(dir.join("out")).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[dependencies]\nmirage = { path = \"../mirage\" }\n\n[features]\ndefault = [\"target-unix\"]\ntarget-unix = [\"mirage/target-unix\"]\ntarget-spt = [\"mirage/target-spt\"]\n\n[profile.dev]\npanic = \"abort\"\n",
        )
        .unwrap();
        std::fs::write(dir.join("data/sub/f"), "x").unwrap();
        let out = eval(
            &dir,
            "UNIX",
            docteur(None, None, None, None, None, &[], "data"),
        );
        let image = dir.join("out/docteur.img");
        assert!(image.is_file());
        let flat: String = out.main_rs.split_whitespace().collect();
        let expected: String = format!(
            "mirage::platform::BlockFile::connect_read_only({:?}",
            image.display().to_string()
        )
        .split_whitespace()
        .collect();
        assert!(flat.contains(&expected), "{}", out.main_rs);
        assert!(out.main_rs.contains("mirage::kv::docteur::Mode::Fast"));
        assert!(out.main_rs.contains("--analyze"), "{}", out.main_rs);
        let out = eval(
            &dir,
            "SPT",
            docteur(
                Some(DocteurMode::Light),
                Some("pages"),
                Some("pages.img"),
                None,
                None,
                &["data.gen"],
                "relativize://data",
            ),
        );
        assert!(dir.join("pages.img").is_file());
        assert!(
            out.main_rs
                .contains("mirage::platform::BlockFile::connect(\"pages\")"),
            "{}",
            out.main_rs
        );
        assert!(out.main_rs.contains("mirage::kv::docteur::Mode::Light"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
