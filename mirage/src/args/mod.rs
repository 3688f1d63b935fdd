//! Runtime arguments: the typed command-line arguments of a unikernel,
//! declared in `build.rs` with `mirage_build::runtime_arg` and parsed when the
//! unikernel starts (from `argv` on unix, from the tender's command line on
//! the Solo5 targets).
//!
//! The generated entry point holds a static table of [`ArgSpec`]s, calls
//! [`parse`] on the command line and reads each typed value with
//! [`Parsed::get`]. `mirage-build` uses the same [`FromArg`] parsers at build
//! time to validate default values, so a default that would not parse is a
//! build error, not a start-up failure.

/// A type that a runtime argument can have: parsed from the argument's text.
///
/// Implemented for `String`, `bool`, the integer types, `core::net`
/// addresses, [`Ipv4Prefix`], [`Ipv6Prefix`], `Vec<T>` (comma-separated) and
/// `Option<T>` (absent means `None`).
pub trait FromArg: Sized {
    /// The metavariable shown in `--help` (`STRING`, `INT`, `IPV4/PREFIX`...).
    const DOCV: &'static str;

    /// Parses the argument's text.
    fn from_arg(text: &str) -> Result<Self, ParseError>;
}

/// Why an argument's text does not parse as its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What was expected, in words (`an integer`, `an IPv4 address`...).
    pub expected: alloc::string::String,
}
