//! `argv`: `default_argv` and `no_argv`.

use std::rc::Rc;

use crate::device::{Connect, Device, Impl};
use crate::typ::{Argv, argv};

/// Where the runtime arguments come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgvMode {
    /// The process's arguments on unix, the tender's command line on Solo5.
    Default,
    /// No command line: every argument takes its default.
    None,
}

fn argv_device(mode: ArgvMode, name: &str) -> Impl<Argv> {
    Device::new("argv", name, argv())
        .identity(name)
        .special(Rc::new(mode))
        .connect(|_| Connect::expr("()"))
        .build()
}

/// The target's command line (the seed's `default_argv`).
pub fn default_argv() -> Impl<Argv> {
    argv_device(ArgvMode::Default, "default_argv")
}

/// No command-line parsing: arguments keep their defaults, and a required
/// argument makes the start fail (the seed's `no_argv`).
pub fn no_argv() -> Impl<Argv> {
    argv_device(ArgvMode::None, "no_argv")
}
