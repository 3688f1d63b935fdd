//! `register` and `configure`: evaluate the application's device graph for
//! the selected target and write the generated entry point, the graph's
//! descriptions and cargo's instructions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::device::{Impl, Node};
use crate::devices::{ArgvMode, default_argv, default_reporter};
use crate::error::ConfigureError;
use crate::graph::evaluate;
use crate::info::Info;
use crate::key::{Context, Target};
use crate::package::{Manifests, Package, check, merge, package};
use crate::runtime_arg::ArgDef;
use crate::typ::{Argv, Job, Reporter};

/// The file the generated entry point is written to, in `OUT_DIR`; the
/// application includes it with `mirage::main!()`.
pub const MAIN_FILE: &str = "mirage_main.rs";

/// An application: its name and jobs, with the reporter and argv they run
/// with (the seed's `register`).
pub struct Application {
    name: String,
    jobs: Vec<Impl<Job>>,
    reporter: Impl<Reporter>,
    argv: Impl<Argv>,
}

/// Registers the application `name` running `jobs` (the seed's
/// `register`), with `default_reporter` and `default_argv` unless changed.
#[track_caller]
pub fn register<J: Into<Impl<Job>>>(name: &str, jobs: impl IntoIterator<Item = J>) -> Application {
    Application {
        name: name.to_string(),
        jobs: jobs.into_iter().map(Into::into).collect(),
        reporter: default_reporter(None, None),
        argv: default_argv(),
    }
}

impl Application {
    /// Uses `reporter` (e.g. `no_reporter()`) instead of the default one.
    pub fn reporter(mut self, reporter: Impl<Reporter>) -> Self {
        self.reporter = reporter;
        self
    }

    /// Uses `argv` (e.g. `no_argv()`) instead of the default one.
    pub fn argv(mut self, argv: Impl<Argv>) -> Self {
        self.argv = argv;
        self
    }

    /// The application's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What `configure` reads from cargo, gathered so tests can supply it.
#[derive(Debug, Clone)]
pub struct BuildEnv {
    /// The environment variables (keys, `CARGO_FEATURE_*`).
    pub vars: BTreeMap<String, String>,
    /// Where generated files go.
    pub out_dir: PathBuf,
    /// The application's package directory.
    pub manifest_dir: PathBuf,
}

impl BuildEnv {
    /// The environment of the running build script.
    pub fn from_cargo() -> Result<Self, ConfigureError> {
        let var = |name: &str| {
            std::env::var_os(name).map(PathBuf::from).ok_or_else(|| {
                ConfigureError::Other(format!(
                    "{name} is not set: mirage_build::configure runs from an application's build.rs"
                ))
            })
        };
        Ok(BuildEnv {
            vars: std::env::vars().collect(),
            out_dir: var("OUT_DIR")?,
            manifest_dir: var("CARGO_MANIFEST_DIR")?,
        })
    }

    fn target(&self) -> Result<Target, ConfigureError> {
        let chosen: Vec<Target> = Target::ALL
            .into_iter()
            .filter(|t| {
                self.vars.contains_key(&format!(
                    "CARGO_FEATURE_TARGET_{}",
                    t.name().to_ascii_uppercase()
                ))
            })
            .collect();
        match chosen.as_slice() {
            [target] => Ok(*target),
            [] => Err(ConfigureError::Target(
                "no target chosen: the application needs the cargo features target-unix (make it the default), target-hvt and target-spt, each forwarding to mirage's feature of the same name".to_string(),
            )),
            many => Err(ConfigureError::Target(format!(
                "several targets chosen ({}): enable exactly one target-* feature (with --no-default-features to replace target-unix)",
                many.iter().map(|t| t.feature()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

/// Everything `configure` produces.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// The generated entry point (`mirage_main.rs`).
    pub main_rs: String,
    /// The graph in DOT.
    pub dot: String,
    /// The graph as text.
    pub text: String,
    /// The `cargo:` instructions to print.
    pub cargo_lines: Vec<String>,
    /// Further files to write (the linker script), with their paths.
    pub files: Vec<(PathBuf, String)>,
}

/// The linker script of a Solo5 target (from platform/solo5/ld).
fn linker_script(target: Target) -> &'static str {
    match target {
        Target::Hvt => include_str!("../../platform/solo5/ld/hvt.ld"),
        _ => include_str!("../../platform/solo5/ld/spt.ld"),
    }
}

fn find_upwards(start: &Path, name: &str, want: impl Fn(&str) -> bool) -> Option<String> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        if let Ok(text) = std::fs::read_to_string(d.join(name))
            && want(&text)
        {
            return Some(text);
        }
        dir = d.parent();
    }
    None
}

fn active_features(manifest: &str, vars: &BTreeMap<String, String>) -> BTreeSet<String> {
    let table: toml::Table = manifest.parse().unwrap_or_default();
    let mut active = BTreeSet::new();
    if let Some(features) = table.get("features").and_then(|f| f.as_table()) {
        for name in features.keys() {
            let var = format!(
                "CARGO_FEATURE_{}",
                name.to_ascii_uppercase().replace('-', "_")
            );
            if vars.contains_key(&var) {
                active.insert(name.clone());
            }
        }
    }
    active
}

/// A freestanding unikernel cannot unwind: the profile being built must say
/// `panic = "abort"` (in the workspace's Cargo.toml, where profiles live).
fn check_panic_abort(
    root_manifest: &str,
    vars: &BTreeMap<String, String>,
) -> Result<(), ConfigureError> {
    let profile = match vars.get("PROFILE").map(String::as_str) {
        Some("release") => "release",
        _ => "dev",
    };
    let table: toml::Table = root_manifest.parse().unwrap_or_default();
    let panic = table
        .get("profile")
        .and_then(|p| p.get(profile))
        .and_then(|p| p.get("panic"))
        .and_then(|p| p.as_str());
    if panic == Some("abort") {
        Ok(())
    } else {
        Err(ConfigureError::Target(format!(
            "a Solo5 unikernel cannot unwind: add to the workspace's Cargo.toml\n    [profile.{profile}]\n    panic = \"abort\""
        )))
    }
}

/// Evaluates `app` in `env` and produces the outputs, or the first error.
pub fn evaluate_application(app: &Application, env: &BuildEnv) -> Result<Outputs, ConfigureError> {
    let target = env.target()?;
    let cx = Context::new(env.vars.clone(), target);
    let mut roots: Vec<Rc<Node>> = vec![app.reporter.node.clone()];
    roots.extend(app.jobs.iter().map(|j| j.node.clone()));
    let mut graph = evaluate(&roots, &cx)?;
    let argv_graph = evaluate(std::slice::from_ref(&app.argv.node), &cx)?;
    let argv = argv_graph
        .instances
        .last()
        .and_then(|i| i.def.special.clone())
        .and_then(|s| s.downcast_ref::<ArgvMode>().copied())
        .unwrap_or(ArgvMode::Default);
    let info = Info {
        name: app.name.clone(),
        target,
        output_dir: env.out_dir.clone(),
        manifest_dir: env.manifest_dir.clone(),
        keys: cx.resolved_keys(),
        key_descriptions: cx.described_keys(),
    };
    graph.compute_types(&info)?;

    // Runtime arguments: one declaration per name.
    let mut args: Vec<Rc<ArgDef>> = Vec::new();
    for inst in &graph.instances {
        for arg in &inst.def.runtime_args {
            if args.iter().any(|a| Rc::ptr_eq(a, arg)) {
                continue;
            }
            if let Some(other) = args.iter().find(|a| a.name == arg.name) {
                return Err(ConfigureError::DuplicateRuntimeArg {
                    name: arg.name.clone(),
                    first: other.location(),
                    second: arg.location(),
                });
            }
            arg.validate()?;
            args.push(arg.clone());
        }
    }

    // Packages of the devices actually chosen, plus the target's.
    let mut required: Vec<(Package, String)> = vec![(
        package("mirage").feature(&target.feature()),
        format!("the {target} target"),
    )];
    for inst in &graph.instances {
        for p in &inst.def.packages {
            required.push((p.clone(), inst.def.constructor.clone()));
        }
        if let Some(v) = &inst.def.packages_v {
            for p in v.eval(&cx)? {
                required.push((p, inst.def.constructor.clone()));
            }
        }
    }
    let manifest_path = env.manifest_dir.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path).map_err(|e| {
        ConfigureError::Other(format!("cannot read {}: {e}", manifest_path.display()))
    })?;
    let workspace = env
        .manifest_dir
        .parent()
        .and_then(|p| find_upwards(p, "Cargo.toml", |t| t.contains("[workspace")));
    let workspace = if manifest.contains("[workspace") {
        Some(manifest.clone())
    } else {
        workspace
    };
    let lock = find_upwards(&env.manifest_dir, "Cargo.lock", |_| true);
    if target.is_solo5() {
        check_panic_abort(workspace.as_deref().unwrap_or(&manifest), &env.vars)?;
    }
    let active = active_features(&manifest, &env.vars);
    check(
        &merge(&required),
        &Manifests {
            manifest: &manifest,
            workspace: workspace.as_deref(),
            lock: lock.as_deref(),
            active_features: &active,
        },
    )
    .map_err(|message| ConfigureError::Packages {
        manifest: manifest_path.display().to_string(),
        message,
    })?;

    let jobs: Vec<usize> = graph.roots[1..].to_vec();
    let main_rs = crate::codegen::rustfmt(&crate::codegen::generate(
        &graph, &info, &args, &jobs, argv,
    )?);
    let text = crate::describe::text(&graph, &info, &args);
    let dot = crate::describe::dot(&graph, &info);

    let mut cargo_lines = vec![
        "cargo:rerun-if-changed=build.rs".to_string(),
        "cargo:rerun-if-changed=Cargo.toml".to_string(),
    ];
    for var in cx.variables_read() {
        cargo_lines.push(format!("cargo:rerun-if-env-changed={var}"));
    }
    cargo_lines.push(
        "cargo:rustc-check-cfg=cfg(mirage_target, values(\"unix\", \"hvt\", \"spt\"))".to_string(),
    );
    cargo_lines.push(format!(
        "cargo:rustc-cfg=mirage_target=\"{}\"",
        target.name()
    ));
    let mut files = Vec::new();
    if target.is_solo5() {
        let script = linker_script(target);
        let path = env.out_dir.join(format!("solo5_{}.ld", target.name()));
        for arg in [
            "-nostartfiles".to_string(),
            "-nostdlib".to_string(),
            "-static".to_string(),
            "-no-pie".to_string(),
            "-Wl,--gc-sections".to_string(),
            "-Wl,--build-id=none".to_string(),
            "-Wl,-z,max-page-size=0x1000".to_string(),
            "-Wl,-z,noexecstack".to_string(),
            format!("-Wl,-T,{}", path.display()),
        ] {
            cargo_lines.push(format!("cargo:rustc-link-arg-bins={arg}"));
        }
        files.push((path, script.to_string()));
    }
    Ok(Outputs {
        main_rs,
        dot,
        text,
        cargo_lines,
        files,
    })
}

/// Evaluates the application's device graph and writes, into `OUT_DIR`, the
/// entry point (`mirage_main.rs`, included by `mirage::main!()`) and the
/// graph's description (`<name>.dot`, `<name>.txt`); prints cargo's
/// instructions. On an error, prints it and fails the build.
pub fn configure(app: Application) {
    if let Err(error) = try_configure(&app) {
        eprintln!("error: mirage-build: {error}");
        std::process::exit(1);
    }
}

/// [`configure`], returning the error instead of failing the build.
pub fn try_configure(app: &Application) -> Result<(), ConfigureError> {
    let env = BuildEnv::from_cargo()?;
    let outputs = evaluate_application(app, &env)?;
    let write = |name: &str, text: &str| {
        let path = env.out_dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| ConfigureError::Other(format!("cannot write {}: {e}", path.display())))
    };
    write(MAIN_FILE, &outputs.main_rs)?;
    write(&format!("{}.dot", app.name), &outputs.dot)?;
    write(&format!("{}.txt", app.name), &outputs.text)?;
    for (path, text) in &outputs.files {
        std::fs::write(path, text)
            .map_err(|e| ConfigureError::Other(format!("cannot write {}: {e}", path.display())))?;
    }
    for line in &outputs.cargo_lines {
        println!("{line}");
    }
    Ok(())
}
