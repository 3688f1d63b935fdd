//! Packages: the crates (with cargo features and version bounds) a device
//! needs, checked against the application's `Cargo.toml` (the analogue of
//! MirageOS generating the opam file).
//!
//! A package is present when the manifest lists the crate under
//! `[dependencies]` (or `[build-dependencies]` for build-time packages),
//! directly or renamed, inherited from the workspace or not; its features
//! are present when the dependency lists them or an active feature of the
//! application enables them (`"crate/feature"`); its version bounds are
//! checked against the version `Cargo.lock` resolved.

use std::collections::{BTreeMap, BTreeSet};

use semver::Version;
use toml::Table;

/// A crate a device needs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Package {
    pub(crate) name: String,
    pub(crate) features: BTreeSet<String>,
    pub(crate) min: Option<Version>,
    pub(crate) max: Option<Version>,
    pub(crate) build: bool,
}

/// The crate `name` (the seed's `package`).
pub fn package(name: &str) -> Package {
    Package {
        name: name.to_string(),
        features: BTreeSet::new(),
        min: None,
        max: None,
        build: false,
    }
}

fn version(text: &str) -> Version {
    let parts = text.split('.').count();
    let full = match parts {
        1 => format!("{text}.0.0"),
        2 => format!("{text}.0"),
        _ => text.to_string(),
    };
    Version::parse(&full).unwrap_or_else(|e| panic!("package version bound `{text}`: {e}"))
}

impl Package {
    /// Requires a cargo feature of the crate.
    pub fn feature(mut self, feature: &str) -> Self {
        self.features.insert(feature.to_string());
        self
    }

    /// Requires a version of at least `min` (inclusive), as `"0.4"` or
    /// `"0.4.2"`.
    pub fn min(mut self, min: &str) -> Self {
        self.min = Some(version(min));
        self
    }

    /// Requires a version below `max` (exclusive).
    pub fn max(mut self, max: &str) -> Self {
        self.max = Some(version(max));
        self
    }

    /// Makes it a build-time dependency (`[build-dependencies]`).
    pub fn build(mut self) -> Self {
        self.build = true;
        self
    }

    /// The crate's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn bounds(&self) -> Option<String> {
        match (&self.min, &self.max) {
            (None, None) => None,
            (Some(min), None) => Some(format!(">={min}")),
            (None, Some(max)) => Some(format!("<{max}")),
            (Some(min), Some(max)) => Some(format!(">={min}, <{max}")),
        }
    }

    fn admits(&self, v: &Version) -> bool {
        self.min.as_ref().is_none_or(|min| v >= min) && self.max.as_ref().is_none_or(|max| v < max)
    }
}

/// Merges the requirements of several devices on one crate: features add
/// up, bounds narrow, and the devices are remembered for the message.
pub(crate) fn merge(required: &[(Package, String)]) -> Vec<(Package, Vec<String>)> {
    let mut merged: BTreeMap<(String, bool), (Package, Vec<String>)> = BTreeMap::new();
    for (package, device) in required {
        let entry = merged
            .entry((package.name.clone(), package.build))
            .or_insert_with(|| (crate::package::package(&package.name), Vec::new()));
        entry.0.build = package.build;
        entry.0.features.extend(package.features.iter().cloned());
        if let Some(min) = &package.min
            && entry.0.min.as_ref().is_none_or(|m| min > m)
        {
            entry.0.min = Some(min.clone());
        }
        if let Some(max) = &package.max
            && entry.0.max.as_ref().is_none_or(|m| max < m)
        {
            entry.0.max = Some(max.clone());
        }
        if !entry.1.contains(device) {
            entry.1.push(device.clone());
        }
    }
    merged.into_values().collect()
}

/// What the check reads: the application's manifest, the workspace's (for
/// inherited dependencies), the lock file and the active features.
pub(crate) struct Manifests<'a> {
    pub(crate) manifest: &'a str,
    pub(crate) workspace: Option<&'a str>,
    pub(crate) lock: Option<&'a str>,
    pub(crate) active_features: &'a BTreeSet<String>,
}

struct Dependency {
    key: String,
    features: BTreeSet<String>,
    optional: bool,
}

fn find_dependency(
    table: Option<&Table>,
    workspace: Option<&Table>,
    name: &str,
) -> Option<Dependency> {
    for (key, spec) in table? {
        let (package, features, optional, inherited) = match spec {
            toml::Value::String(_) => (key.clone(), BTreeSet::new(), false, false),
            toml::Value::Table(t) => (
                t.get("package")
                    .and_then(|p| p.as_str())
                    .unwrap_or(key)
                    .to_string(),
                string_set(t.get("features")),
                t.get("optional").and_then(|o| o.as_bool()).unwrap_or(false),
                t.get("workspace")
                    .and_then(|w| w.as_bool())
                    .unwrap_or(false),
            ),
            _ => continue,
        };
        let mut features = features;
        let mut package = package;
        if inherited
            && let Some(toml::Value::Table(ws)) = workspace
                .and_then(|w| w.get("workspace"))
                .and_then(|w| w.get("dependencies"))
                .and_then(|d| d.get(key))
        {
            features.extend(string_set(ws.get("features")));
            if let Some(p) = ws.get("package").and_then(|p| p.as_str()) {
                package = p.to_string();
            }
        }
        if package == name {
            return Some(Dependency {
                key: key.clone(),
                features,
                optional,
            });
        }
    }
    None
}

fn string_set(value: Option<&toml::Value>) -> BTreeSet<String> {
    value
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The entries enabled by the active features of the application, followed
/// transitively through features that enable other features.
fn enabled_entries(manifest: &Table, active: &BTreeSet<String>) -> BTreeSet<String> {
    let features = manifest.get("features").and_then(|f| f.as_table());
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = active.iter().cloned().collect();
    let mut entries = BTreeSet::new();
    while let Some(feature) = todo.pop() {
        if !seen.insert(feature.clone()) {
            continue;
        }
        let Some(list) = features.and_then(|f| f.get(&feature)) else {
            continue;
        };
        for entry in string_set(Some(list)) {
            if !entry.contains('/') && !entry.starts_with("dep:") {
                todo.push(entry.clone());
            }
            entries.insert(entry);
        }
    }
    entries
}

fn locked_versions(lock: &str, name: &str) -> Vec<Version> {
    let Ok(table) = lock.parse::<Table>() else {
        return Vec::new();
    };
    table
        .get("package")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
        .filter(|p| p.get("name").and_then(|n| n.as_str()) == Some(name))
        .filter_map(|p| p.get("version").and_then(|v| v.as_str()))
        .filter_map(|v| Version::parse(v).ok())
        .collect()
}

/// Checks every required package; on failure, the message lists each
/// problem and exactly what to add to Cargo.toml.
pub(crate) fn check(
    required: &[(Package, Vec<String>)],
    files: &Manifests<'_>,
) -> Result<(), String> {
    let manifest: Table = files
        .manifest
        .parse()
        .map_err(|e| format!("cannot parse the manifest: {e}"))?;
    let workspace: Option<Table> = files.workspace.and_then(|w| w.parse().ok());
    let entries = enabled_entries(&manifest, files.active_features);
    let mut problems = Vec::new();
    for (package, devices) in required {
        let section = if package.build {
            "build-dependencies"
        } else {
            "dependencies"
        };
        let needed_by = devices.join(", ");
        let table = manifest.get(section).and_then(|t| t.as_table());
        let Some(dep) = find_dependency(table, workspace.as_ref(), &package.name) else {
            let mut spec = Vec::new();
            if let Some(bounds) = package.bounds() {
                spec.push(format!("version = \"{bounds}\""));
            } else {
                spec.push("version = \"*\"".to_string());
            }
            if !package.features.is_empty() {
                let list: Vec<String> = package
                    .features
                    .iter()
                    .map(|f| format!("\"{f}\""))
                    .collect();
                spec.push(format!("features = [{}]", list.join(", ")));
            }
            problems.push(format!(
                "the crate `{}` is missing (needed by {needed_by}); add to Cargo.toml:\n    [{section}]\n    {} = {{ {} }}",
                package.name,
                package.name,
                spec.join(", ")
            ));
            continue;
        };
        if dep.optional
            && !entries.contains(&format!("dep:{}", dep.key))
            && !entries
                .iter()
                .any(|e| e.starts_with(&format!("{}/", dep.key)))
            && !files.active_features.contains(&dep.key)
        {
            problems.push(format!(
                "the optional dependency `{}` is not enabled by the active features (needed by {needed_by}); enable it with a feature listing \"dep:{}\"",
                dep.key, dep.key
            ));
        }
        let missing: Vec<&String> = package
            .features
            .iter()
            .filter(|f| {
                !dep.features.contains(*f)
                    && !entries.contains(&format!("{}/{f}", dep.key))
                    && !entries.contains(&format!("{}?/{f}", dep.key))
            })
            .collect();
        for feature in missing {
            let target_feature = files
                .active_features
                .iter()
                .find(|f| f.starts_with("target-"))
                .cloned();
            let fix = match target_feature {
                Some(active) if feature.starts_with("target-") => format!(
                    "add \"{}/{feature}\" to the feature `{active}` in [features]:\n    [features]\n    {active} = [\"{}/{feature}\"]",
                    dep.key, dep.key
                ),
                _ => format!(
                    "add it to the dependency's features:\n    [{section}]\n    {} = {{ ..., features = [\"{feature}\"] }}",
                    dep.key
                ),
            };
            problems.push(format!(
                "the crate `{}` needs its feature `{feature}` (needed by {needed_by}); {fix}",
                package.name
            ));
        }
        if package.min.is_some() || package.max.is_some() {
            let versions = files
                .lock
                .map(|l| locked_versions(l, &package.name))
                .unwrap_or_default();
            if !versions.is_empty() && !versions.iter().any(|v| package.admits(v)) {
                let found: Vec<String> = versions.iter().map(Version::to_string).collect();
                problems.push(format!(
                    "the crate `{}` is locked at {} but {} requires version {} ; set version = \"{}\" for `{}` in [{section}] and run `cargo update -p {}`",
                    package.name,
                    found.join(", "),
                    needed_by,
                    package.bounds().unwrap_or_default(),
                    package.bounds().unwrap_or_default(),
                    dep.key,
                    package.name
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the device graph needs packages that Cargo.toml does not provide:\n  - {}",
            problems.join("\n  - ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = r#"
[package]
name = "app"
[dependencies]
mirage = { path = "../mirage" }
store = { package = "mirage-store", version = "0.2", features = ["tar"] }
inherited = { workspace = true, features = ["b"] }
opt = { version = "1", optional = true }
[features]
default = ["target-unix"]
target-unix = ["mirage/target-unix", "extra"]
extra = ["store/fat", "dep:opt"]
"#;
    const WS: &str = r#"
[workspace.dependencies]
inherited = { package = "mirage-inherited", version = "1", features = ["a"] }
"#;
    const LOCK: &str = r#"
[[package]]
name = "mirage-store"
version = "0.2.5"
[[package]]
name = "mirage"
version = "0.1.0"
"#;

    fn run(required: &[(Package, &str)], active: &[&str]) -> Result<(), String> {
        let required: Vec<(Package, String)> = required
            .iter()
            .map(|(p, d)| (p.clone(), d.to_string()))
            .collect();
        let active: BTreeSet<String> = active.iter().map(|s| s.to_string()).collect();
        check(
            &merge(&required),
            &Manifests {
                manifest: APP,
                workspace: Some(WS),
                lock: Some(LOCK),
                active_features: &active,
            },
        )
    }

    #[test]
    fn present_packages_pass() {
        let ok = run(
            &[
                (package("mirage").feature("target-unix"), "default_time"),
                (
                    package("mirage-store")
                        .feature("tar")
                        .feature("fat")
                        .min("0.2")
                        .max("0.3"),
                    "tar_kv_ro",
                ),
                (package("mirage-inherited").feature("a").feature("b"), "x"),
                (package("opt"), "y"),
            ],
            &["default", "target-unix"],
        );
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn a_missing_crate_says_what_to_add() {
        let err = run(
            &[(
                package("mirage-net").feature("tap").min("0.1").max("0.2"),
                "default_network",
            )],
            &["target-unix"],
        )
        .unwrap_err();
        assert!(
            err.contains("the crate `mirage-net` is missing (needed by default_network)"),
            "{err}"
        );
        assert!(err.contains("[dependencies]\n    mirage-net = { version = \">=0.1.0, <0.2.0\", features = [\"tap\"] }"), "{err}");
    }

    #[test]
    fn a_missing_target_feature_says_where_to_forward_it() {
        let err = run(
            &[(package("mirage").feature("target-hvt"), "default_time")],
            &["target-hvt"],
        )
        .unwrap_err();
        assert!(
            err.contains("add \"mirage/target-hvt\" to the feature `target-hvt`"),
            "{err}"
        );
    }

    #[test]
    fn features_enabled_only_by_inactive_features_do_not_count() {
        let err = run(
            &[(package("mirage-store").feature("fat"), "fat_ro")],
            &["nothing"],
        )
        .unwrap_err();
        assert!(err.contains("needs its feature `fat`"), "{err}");
        let err = run(&[(package("opt"), "y")], &["nothing"]).unwrap_err();
        assert!(
            err.contains("optional dependency `opt` is not enabled"),
            "{err}"
        );
    }

    #[test]
    fn version_bounds_are_checked_against_the_lock_file() {
        let err = run(&[(package("mirage-store").min("0.3"), "kv")], &[]).unwrap_err();
        assert!(
            err.contains("locked at 0.2.5 but kv requires version >=0.3.0"),
            "{err}"
        );
        assert_eq!(
            run(&[(package("mirage-store").max("0.2.6"), "kv")], &[]),
            Ok(())
        );
    }

    #[test]
    fn merging_adds_features_and_narrows_bounds() {
        let merged = merge(&[
            (package("a").feature("x").min("0.1"), "d1".into()),
            (package("a").feature("y").min("0.2").max("1"), "d2".into()),
            (package("a").max("0.5"), "d1".into()),
        ]);
        assert_eq!(merged.len(), 1);
        let (p, devices) = &merged[0];
        assert_eq!(p.features.len(), 2);
        assert_eq!(p.bounds().unwrap(), ">=0.2.0, <0.5.0");
        assert_eq!(devices, &vec!["d1".to_string(), "d2".to_string()]);
    }
}
