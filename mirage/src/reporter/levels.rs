//! [`LogLevels`]: the value of the `--logs` runtime argument.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use log::LevelFilter;

use crate::args::{FromArg, ParseError, ToArg};

/// The log level of every log source: the value of the `--logs` runtime
/// argument, with MirageOS's grammar.
///
/// The text is a comma-separated list of `SRC:LEVEL` or bare `LEVEL` entries
/// (a bare level is `*:LEVEL`; `*` is every source). The empty text is the
/// empty list. Later entries for the same source replace earlier ones.
///
/// Levels (ASCII case-insensitive) map onto the `log` crate's filters:
///
/// | text | [`LevelFilter`] |
/// |------|-----------------|
/// | `quiet` | `Off` |
/// | `app` | `Error` |
/// | `error` | `Error` |
/// | `warning`, `warn` | `Warn` |
/// | `info` | `Info` |
/// | `debug` | `Debug` |
/// | `trace` | `Trace` |
///
/// `app` is accepted for compatibility with MirageOS: `Logs` has an
/// application level less verbose than `error`, but the `log` crate has none,
/// so `app` becomes the least verbose level that is not `quiet`, `error`
/// (and renders back as `error`).
///
/// A *source* is a prefix of the Rust log target (a module path): source
/// `netif` matches the targets `netif` and `netif::anything` (not `netifx`).
/// For a target, the most specific (longest) matching source wins, then `*`,
/// then the default given at construction (MirageOS's default is `info`,
/// which [`FromArg::from_arg`] and [`Default`] use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLevels {
    default: LevelFilter,
    all: Option<LevelFilter>,
    /// `(source, level)`, one entry per source, in first-given order.
    sources: Vec<(String, LevelFilter)>,
}

impl Default for LogLevels {
    /// No entries, default `info`.
    fn default() -> Self {
        LogLevels::new(LevelFilter::Info)
    }
}

/// Parses one level name.
fn parse_level(text: &str) -> Option<LevelFilter> {
    const NAMES: [(&str, LevelFilter); 8] = [
        ("quiet", LevelFilter::Off),
        ("app", LevelFilter::Error),
        ("error", LevelFilter::Error),
        ("warning", LevelFilter::Warn),
        ("warn", LevelFilter::Warn),
        ("info", LevelFilter::Info),
        ("debug", LevelFilter::Debug),
        ("trace", LevelFilter::Trace),
    ];
    NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(text))
        .map(|(_, l)| *l)
}

/// The text of one level (what [`parse_level`] reads back).
fn level_name(level: LevelFilter) -> &'static str {
    match level {
        LevelFilter::Off => "quiet",
        LevelFilter::Error => "error",
        LevelFilter::Warn => "warning",
        LevelFilter::Info => "info",
        LevelFilter::Debug => "debug",
        LevelFilter::Trace => "trace",
    }
}

/// Whether `source` names `target` or one of its submodules.
fn source_matches(source: &str, target: &str) -> bool {
    match target.strip_prefix(source) {
        Some(rest) => rest.is_empty() || rest.starts_with("::"),
        None => false,
    }
}

impl LogLevels {
    /// No entries: every target gets `default`.
    pub fn new(default: LevelFilter) -> Self {
        LogLevels {
            default,
            all: None,
            sources: Vec::new(),
        }
    }

    /// Parses `--logs` text (see the type's documentation) with the given
    /// default for targets that no entry matches.
    pub fn parse_with_default(text: &str, default: LevelFilter) -> Result<Self, ParseError> {
        let mut levels = LogLevels::new(default);
        if text.trim().is_empty() {
            return Ok(levels);
        }
        for entry in text.split(',') {
            let entry = entry.trim();
            let bad = || {
                ParseError::new(format!(
                    "a comma-separated list of LEVEL or SRC:LEVEL, with LEVEL one of \
                     quiet, app, error, warning, info, debug, trace (not '{entry}')"
                ))
            };
            let (source, level) = match entry.rsplit_once(':') {
                Some((s, l)) => (s, l),
                None => ("*", entry),
            };
            let level = parse_level(level).ok_or_else(bad)?;
            if source.is_empty()
                || source.ends_with(':')
                || source.chars().any(|c| c.is_whitespace())
            {
                return Err(bad());
            }
            levels.set(source, level);
        }
        Ok(levels)
    }

    /// Sets the level of `source` (`*` for every source), replacing any
    /// earlier level of that source.
    pub fn set(&mut self, source: &str, level: LevelFilter) {
        if source == "*" {
            self.all = Some(level);
        } else if let Some(e) = self.sources.iter_mut().find(|(s, _)| s == source) {
            e.1 = level;
        } else {
            self.sources.push((source.to_string(), level));
        }
    }

    /// The same levels with another default.
    pub fn with_default(mut self, default: LevelFilter) -> Self {
        self.default = default;
        self
    }

    /// The level for log target `target`: the longest matching source's,
    /// else `*`'s, else the default.
    pub fn level_for(&self, target: &str) -> LevelFilter {
        self.sources
            .iter()
            .filter(|(s, _)| source_matches(s, target))
            .max_by_key(|(s, _)| s.len())
            .map(|(_, l)| *l)
            .or(self.all)
            .unwrap_or(self.default)
    }

    /// The most verbose level of any target: what to pass to
    /// `log::set_max_level`.
    pub fn max_level(&self) -> LevelFilter {
        let base = self.all.unwrap_or(self.default);
        self.sources.iter().map(|(_, l)| *l).fold(base, Ord::max)
    }
}

/// The `--logs` text: `*`'s level bare first, then `SRC:LEVEL` entries
/// (e.g. `info,netif:debug`); the empty text when there is no entry. The
/// default is not part of the text.
impl fmt::Display for LogLevels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(all) = self.all {
            f.write_str(level_name(all))?;
            sep = ",";
        }
        for (source, level) in &self.sources {
            write!(f, "{sep}{source}:{}", level_name(*level))?;
            sep = ",";
        }
        Ok(())
    }
}

/// Parses with the MirageOS default level, `info`.
impl FromArg for LogLevels {
    const DOCV: &'static str = "LEVEL";

    fn from_arg(text: &str) -> Result<Self, ParseError> {
        LogLevels::parse_with_default(text, LevelFilter::Info)
    }

    fn docv() -> String {
        "[SRC:]LEVEL,...".to_string()
    }
}

impl ToArg for LogLevels {
    fn to_arg(&self) -> String {
        self.to_string()
    }
}

impl core::str::FromStr for LogLevels {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, ParseError> {
        LogLevels::from_arg(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(text: &str) -> LogLevels {
        LogLevels::from_arg(text).unwrap()
    }

    #[test]
    fn parse_levels() {
        for (text, level) in [
            ("quiet", LevelFilter::Off),
            ("app", LevelFilter::Error),
            ("error", LevelFilter::Error),
            ("warning", LevelFilter::Warn),
            ("warn", LevelFilter::Warn),
            ("WARNING", LevelFilter::Warn),
            ("info", LevelFilter::Info),
            ("debug", LevelFilter::Debug),
            ("trace", LevelFilter::Trace),
            ("*:debug", LevelFilter::Debug),
        ] {
            let l = levels(text);
            assert_eq!(l.level_for("anything"), level, "{text}");
            assert_eq!(l.max_level(), level, "{text}");
        }
    }

    #[test]
    fn parse_errors() {
        for text in [
            "loud",
            "netif:",
            ":debug",
            "netif:loud",
            "info,",
            ",info",
            "a b:info",
            "netif::debug",
            "netif:debug:x",
        ] {
            let e = LogLevels::from_arg(text).unwrap_err();
            assert!(e.expected.starts_with("a comma-separated list"), "{text}");
        }
        assert!(
            LogLevels::from_arg("netif:loud")
                .unwrap_err()
                .expected
                .ends_with("(not 'netif:loud')")
        );
    }

    #[test]
    fn empty_and_default() {
        assert_eq!(levels(""), LogLevels::default());
        assert_eq!(levels("").level_for("x"), LevelFilter::Info);
        assert_eq!(levels("").max_level(), LevelFilter::Info);
        let l = LogLevels::parse_with_default("netif:debug", LevelFilter::Warn).unwrap();
        assert_eq!(l.level_for("tcp"), LevelFilter::Warn);
        assert_eq!(l.level_for("netif"), LevelFilter::Debug);
        assert_eq!(
            LogLevels::new(LevelFilter::Error).level_for("x"),
            LevelFilter::Error
        );
        assert_eq!(
            levels("netif:debug")
                .with_default(LevelFilter::Off)
                .level_for("y"),
            LevelFilter::Off
        );
    }

    #[test]
    fn the_mirage_example() {
        let l = levels("*:info,netif:debug");
        assert_eq!(l.level_for("netif"), LevelFilter::Debug);
        assert_eq!(l.level_for("netif::rx"), LevelFilter::Debug);
        assert_eq!(l.level_for("application"), LevelFilter::Info);
        assert_eq!(l.level_for("tcp"), LevelFilter::Info);
        assert_eq!(l.max_level(), LevelFilter::Debug);
        assert_eq!(l.to_arg(), "info,netif:debug");
    }

    #[test]
    fn precedence() {
        let l = levels("warning,netif:debug,mirage::net:error,mirage::net::tcp:trace,app:quiet");
        assert_eq!(l.level_for("hello"), LevelFilter::Warn);
        assert_eq!(l.level_for("netif"), LevelFilter::Debug);
        assert_eq!(l.level_for("netif::rx"), LevelFilter::Debug);
        assert_eq!(l.level_for("netifx"), LevelFilter::Warn);
        assert_eq!(l.level_for("net"), LevelFilter::Warn);
        assert_eq!(l.level_for("mirage"), LevelFilter::Warn);
        assert_eq!(l.level_for("mirage::net"), LevelFilter::Error);
        assert_eq!(l.level_for("mirage::net::ip"), LevelFilter::Error);
        assert_eq!(l.level_for("mirage::net::tcp"), LevelFilter::Trace);
        assert_eq!(l.level_for("mirage::net::tcp::rx"), LevelFilter::Trace);
        assert_eq!(l.level_for("mirage::network"), LevelFilter::Warn);
        assert_eq!(l.level_for("app"), LevelFilter::Off);
        assert_eq!(l.max_level(), LevelFilter::Trace);
        // Order of entries does not matter for specificity.
        let l = levels("mirage::net::tcp:trace,mirage::net:error,*:quiet");
        assert_eq!(l.level_for("mirage::net::tcp::rx"), LevelFilter::Trace);
        assert_eq!(l.level_for("mirage::net::udp"), LevelFilter::Error);
        assert_eq!(l.level_for("other"), LevelFilter::Off);
        // Later entries replace earlier ones.
        let l = levels("debug,netif:info,netif:error,warn");
        assert_eq!(l.level_for("netif"), LevelFilter::Error);
        assert_eq!(l.level_for("x"), LevelFilter::Warn);
        assert_eq!(l.max_level(), LevelFilter::Warn);
    }

    #[test]
    fn max_level() {
        assert_eq!(levels("quiet,netif:debug").max_level(), LevelFilter::Debug);
        assert_eq!(levels("debug,netif:quiet").max_level(), LevelFilter::Debug);
        assert_eq!(levels("quiet").max_level(), LevelFilter::Off);
        assert_eq!(
            LogLevels::parse_with_default("a:error", LevelFilter::Off)
                .unwrap()
                .max_level(),
            LevelFilter::Error
        );
    }

    #[test]
    fn round_trip() {
        for (text, rendered) in [
            ("", ""),
            ("info", "info"),
            ("*:warn", "warning"),
            ("app", "error"),
            ("netif:debug, quiet", "quiet,netif:debug"),
            ("a::b:trace,c:info", "a::b:trace,c:info"),
        ] {
            let l = levels(text);
            assert_eq!(l.to_arg(), rendered, "{text}");
            assert_eq!(levels(&l.to_arg()), l, "{text}");
        }
        assert_eq!("debug".parse::<LogLevels>(), Ok(levels("debug")));
        assert_eq!(<LogLevels as FromArg>::docv(), "[SRC:]LEVEL,...");
        assert!(crate::args::check::<LogLevels>("netif:debug,info").is_ok());
        assert!(crate::args::check::<LogLevels>("netif:loud").is_err());
    }
}
