//! Build information (the seed's `Info`): what a device's code may consult.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::key::{KeyDescription, Target};

/// What is known about the build while the graph is turned into code.
#[derive(Debug, Clone)]
pub struct Info {
    pub(crate) name: String,
    pub(crate) target: Target,
    pub(crate) output_dir: PathBuf,
    pub(crate) manifest_dir: PathBuf,
    pub(crate) keys: BTreeMap<String, String>,
    pub(crate) key_descriptions: BTreeMap<String, KeyDescription>,
}

impl Info {
    /// The application's name, as given to `register`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The target being built.
    pub fn target(&self) -> Target {
        self.target
    }

    /// Where generated files go (cargo's `OUT_DIR`).
    pub fn output_dir(&self) -> &std::path::Path {
        &self.output_dir
    }

    /// The application's package directory (where its Cargo.toml is).
    pub fn manifest_dir(&self) -> &std::path::Path {
        &self.manifest_dir
    }

    /// The configure-time keys that were read, with their values.
    pub fn keys(&self) -> &BTreeMap<String, String> {
        &self.keys
    }

    /// The configure-time keys that were read: variable, default, doc.
    pub fn key_descriptions(&self) -> &BTreeMap<String, KeyDescription> {
        &self.key_descriptions
    }
}
