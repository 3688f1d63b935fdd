//! Why `configure` failed.

use std::fmt;

/// An error found while evaluating a device graph: each names the device,
/// key, argument or package concerned and, where it can, says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigureError {
    /// A key's environment variable does not parse.
    Key {
        /// The key's name.
        key: String,
        /// The variable it is read from.
        var: String,
        /// The variable's text.
        value: String,
        /// What was expected, in words.
        expected: String,
    },
    /// Two different runtime arguments share a name.
    DuplicateRuntimeArg {
        /// The name.
        name: String,
        /// Where the first was declared.
        first: String,
        /// Where the second was declared.
        second: String,
    },
    /// A runtime argument is malformed (bad name, bad default, no default).
    RuntimeArg {
        /// The argument's name.
        name: String,
        /// Where it was declared.
        location: String,
        /// What is wrong.
        problem: String,
    },
    /// A device is misused: applied to the wrong number of arguments, or its
    /// connect code refers to a device it does not depend on.
    Device {
        /// The device, with its position in build.rs.
        device: String,
        /// What is wrong.
        problem: String,
    },
    /// The application's Cargo.toml lacks packages the graph needs.
    Packages {
        /// The manifest checked.
        manifest: String,
        /// The full explanation, with what to add.
        message: String,
    },
    /// The target could not be determined from the cargo features.
    Target(String),
    /// Something else, described (an I/O failure writing outputs...).
    Other(String),
}

impl fmt::Display for ConfigureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigureError::Key {
                key,
                var,
                value,
                expected,
            } => write!(
                f,
                "configure-time key `{key}`: {var}={value} is not {expected}"
            ),
            ConfigureError::DuplicateRuntimeArg {
                name,
                first,
                second,
            } => write!(
                f,
                "two runtime arguments are named --{name}: one declared at {first}, one at {second}"
            ),
            ConfigureError::RuntimeArg {
                name,
                location,
                problem,
            } => write!(
                f,
                "runtime argument --{name} (declared at {location}): {problem}"
            ),
            ConfigureError::Device { device, problem } => write!(f, "device {device}: {problem}"),
            ConfigureError::Packages { manifest, message } => {
                write!(f, "{manifest}: {message}")
            }
            ConfigureError::Target(message) => f.write_str(message),
            ConfigureError::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ConfigureError {}
