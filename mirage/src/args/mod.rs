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
//!
//! # Types
//!
//! [`FromArg`] parses an argument's text; [`ToArg`] renders a value back to
//! text that [`FromArg`] parses to the same value (`mirage-build` renders
//! defaults this way). Both are implemented for:
//!
//! | type | text | `DOCV` |
//! |------|------|--------|
//! | `String` | any text, taken as is | `STRING` |
//! | `bool` | `true`/`false`, `yes`/`no`, `1`/`0` (ASCII case-insensitive); rendered `true`/`false` | `BOOL` |
//! | `u8` ... `u128`, `usize`, `i8` ... `i128`, `isize` | decimal with an optional sign, or `0x` hex, `0o` octal, `0b` binary after the sign; out-of-range values are errors | `INT` |
//! | [`Ipv4Addr`](core::net::Ipv4Addr) | dotted quad `10.0.0.2` | `IPV4` |
//! | [`Ipv6Addr`](core::net::Ipv6Addr) | any RFC 4291 form (`::1`, `fe80::1`, `::ffff:1.2.3.4`); rendered canonically (RFC 5952) | `IPV6` |
//! | [`IpAddr`](core::net::IpAddr) | either of the above | `IP` |
//! | [`Ipv4Prefix`], [`Ipv6Prefix`] | `ADDRESS/LENGTH`, keeping the host address | `IPV4/PREFIX`, `IPV6/PREFIX` |
//! | `Vec<T>` | elements separated by `,`; empty text is the empty list; `\,` and `\\` escape a comma and a backslash inside an element | `T::DOCV` (see [`FromArg::docv`]) |
//! | `Option<T>` | the text of `T`, giving `Some`; an absent argument is `None` (see [`FromArg::absent`]) | `T::DOCV` |
//!
//! # Command line
//!
//! See [`parse`] for the accepted syntax and [`split_cmdline`] for how a
//! Solo5 tender's single command-line string is split into words.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

mod cmdline;
mod parse;
mod prefix;
mod types;

pub use cmdline::{split_cmdline, split_cmdline_bytes};
pub use parse::{ArgError, ArgSpec, Parsed, help, parse};
pub use prefix::{Ipv4Prefix, Ipv6Prefix};

/// A type that a runtime argument can have: parsed from the argument's text.
///
/// Implemented for `String`, `bool`, the integer types, `core::net`
/// addresses, [`Ipv4Prefix`], [`Ipv6Prefix`], `Vec<T>` (comma-separated) and
/// `Option<T>` (absent means `None`).
pub trait FromArg: Sized {
    /// The metavariable shown in `--help` (`STRING`, `INT`, `IPV4/PREFIX`...).
    ///
    /// For `Vec<T>` and `Option<T>` this is `T::DOCV`: a generic constant
    /// cannot be built by concatenation; [`FromArg::docv`] gives the full
    /// metavariable (`INT,...` for a list).
    const DOCV: &'static str;

    /// Parses the argument's text.
    fn from_arg(text: &str) -> Result<Self, ParseError>;

    /// The value of an argument that was not given and has no default, or
    /// `None` if such an argument is required.
    ///
    /// Only `Option<T>` overrides this (to `Some(None)`): an argument of type
    /// `Option<T>` with no default is optional and reads as `None` when it is
    /// absent, while any other type must be given or have a default.
    fn absent() -> Option<Self> {
        None
    }

    /// The metavariable for `--help`, computed: [`FromArg::DOCV`] except for
    /// lists, which show `ELEMENT,...`. `mirage-build` uses this to fill
    /// [`ArgSpec::docv`].
    fn docv() -> String {
        Self::DOCV.to_string()
    }
}

/// Renders a value as argument text that [`FromArg::from_arg`] parses back to
/// the same value.
///
/// This is the `Display` of the argument types, as a trait of this crate so
/// that it can be implemented for `Vec<T>` and `Option<T>` (which cannot
/// implement `Display` here: orphan rules). `mirage-build` renders default
/// values with [`ToArg::to_default`].
pub trait ToArg {
    /// The argument text of this value.
    ///
    /// For `Option<T>`, `Some(v)` renders as `v` and `None` as the empty text,
    /// which does *not* parse back to `None` (a given argument is always
    /// `Some`); use [`ToArg::to_default`], which renders `None` as "no text".
    fn to_arg(&self) -> String;

    /// The text of this value as an argument's default: `None` when the value
    /// is what an absent argument means anyway (`Option::None`), so no
    /// default should be recorded. Otherwise `Some(self.to_arg())`.
    fn to_default(&self) -> Option<String> {
        Some(self.to_arg())
    }
}

/// Renders a value as argument text (a shorthand for [`ToArg::to_arg`]).
pub fn render<T: ToArg + ?Sized>(value: &T) -> String {
    value.to_arg()
}

/// Checks that `text` parses as a `T`, discarding the value: the
/// [`ArgSpec::check`] that the generated code writes as
/// `mirage::args::check::<T>`, so that [`parse`] rejects malformed values
/// before any device is connected.
pub fn check<T: FromArg>(text: &str) -> Result<(), ParseError> {
    T::from_arg(text).map(|_| ())
}

/// Why an argument's text does not parse as its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What was expected, in words (`an integer`, `an IPv4 address`...).
    pub expected: alloc::string::String,
}

impl ParseError {
    /// A parse error expecting `expected` (a phrase such as `an integer`).
    pub fn new(expected: impl Into<String>) -> Self {
        ParseError {
            expected: expected.into(),
        }
    }
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "expected {}", self.expected)
    }
}

impl core::error::Error for ParseError {}

/// Splits list text at unescaped commas and unescapes `\,` and `\\` in each
/// element (any other backslash is kept as is). Empty text is no element.
fn split_list(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    if text.is_empty() {
        return out;
    }
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some(',' | '\\')) => {
                cur.push(chars.next().unwrap_or('\\'));
            }
            ',' => out.push(core::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Escapes `\` and `,` in one list element (the inverse of [`split_list`]).
fn escape_list_element(text: &str, out: &mut String) {
    for c in text.chars() {
        if matches!(c, ',' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
}
