//! `reporter`: `default_reporter` and `no_reporter`.

use crate::device::{Connect, Device, Impl};
use crate::runtime_arg::runtime_arg;
use crate::typ::{Pclock, Reporter, reporter};

/// A log threshold (the seed's `Logs.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Only errors.
    Error,
    /// Warnings and errors.
    Warning,
    /// Information, warnings and errors (MirageOS's default).
    Info,
    /// Everything but traces.
    Debug,
}

impl LogLevel {
    fn name(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warning => "warning",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

/// The reporter that prints log lines on the console, timestamped with
/// `clock` (the seed's `default_reporter ?clock ?level ()`). It reads the
/// runtime argument `--logs` (`*:info,netif:debug`), whose default is
/// `level` (`Info` if `None`).
#[track_caller]
pub fn default_reporter(clock: Option<Impl<Pclock>>, level: Option<LogLevel>) -> Impl<Reporter> {
    let clock = match clock {
        Some(clock) => clock,
        None => super::default_posix_clock(),
    };
    let level = level.unwrap_or(LogLevel::Info);
    let mut logs = mirage::reporter::LogLevels::default();
    if let Ok(parsed) = level.name().parse::<mirage::reporter::LogLevels>() {
        logs = parsed;
    }
    let logs = runtime_arg::<mirage::reporter::LogLevels>("logs")
        .default(logs)
        .doc("Log thresholds: LEVEL for every source, or SRC:LEVEL pairs, comma-separated (e.g. *:info,netif:debug).");
    let (c, l) = (clock.clone(), logs.clone());
    Device::new("reporter", "default_reporter", reporter())
        .identity(&format!("default_reporter:{}", level.name()))
        .dep(&clock)
        .runtime_arg(&logs)
        .package(super::mirage_package())
        .rust_type(|_| "mirage::platform::Reporter".to_string())
        .connect(move |cx| {
            Connect::expr(format!(
                "mirage::platform::install_reporter({}, {})",
                cx.var(&c),
                cx.arg(&l)
            ))
            .leaked()
        })
        .build()
}

/// No reporting at all: every log level is off (the seed's `no_reporter`).
#[track_caller]
pub fn no_reporter() -> Impl<Reporter> {
    Device::new("reporter", "no_reporter", reporter())
        .identity("no_reporter")
        .package(super::mirage_package())
        .rust_type(|_| "()".to_string())
        .connect(|_| Connect::expr("mirage::reporter::no_reporter()"))
        .build()
}
