//! The log `reporter` device: a backend of the `log` crate that prints
//! MirageOS-style lines.
//!
//! MirageOS's `default_reporter` (`Mirage_logs`) prints every log message as
//! one line, `2024-11-25T17:25:54-00:00: [INFO] [application] Hello World!`,
//! with the levels of the sources chosen by the `--logs` runtime argument.
//! Here the `log` crate's macros are the front end, [`LogLevels`] is the value
//! of `--logs`, [`format_line`] the line format, [`DefaultReporter`] the
//! `log::Log` implementation writing to a platform's [`LogSink`], and
//! [`no_reporter`] the choice of no reporter at all.

use alloc::string::String;

use crate::clock::Pclock;

mod format;
mod levels;

pub use format::{civil_from_days, format_line, level_header, write_rfc3339};
pub use levels::LogLevels;

/// Where log lines go: the platform supplies a console sink.
pub trait LogSink: Send + Sync {
    /// Writes `s`, one or more whole lines, at once.
    fn write_str(&self, s: &str);
}

impl<S: LogSink + ?Sized> LogSink for &S {
    fn write_str(&self, s: &str) {
        (**self).write_str(s);
    }
}

/// The default reporter: formats each enabled record as one
/// [`format_line`] line, timestamped by the wall clock `C`, and writes it to
/// the sink `S` with a single [`LogSink::write_str`] call, so that lines of
/// concurrent loggers never interleave.
pub struct DefaultReporter<C: Pclock + Send + Sync + 'static, S: LogSink + 'static> {
    clock: &'static C,
    sink: S,
    levels: LogLevels,
}

impl<C: Pclock + Send + Sync + 'static, S: LogSink + 'static> DefaultReporter<C, S> {
    /// A reporter writing to `sink` the records that `levels` enables.
    pub fn new(clock: &'static C, sink: S, levels: LogLevels) -> Self {
        DefaultReporter {
            clock,
            sink,
            levels,
        }
    }

    /// The levels this reporter enables.
    pub fn levels(&self) -> &LogLevels {
        &self.levels
    }

    /// The sink this reporter writes to.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Installs this reporter as the `log` crate's logger and sets the
    /// global maximum level to [`LogLevels::max_level`]. Fails if a logger
    /// is already installed (the maximum level is then left unchanged).
    pub fn install(&'static self) -> Result<(), log::SetLoggerError> {
        log::set_logger(self)?;
        log::set_max_level(self.levels.max_level());
        Ok(())
    }
}

impl<C: Pclock + Send + Sync + 'static, S: LogSink + 'static> log::Log for DefaultReporter<C, S> {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.levels.level_for(metadata.target())
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut line = String::new();
        // Writing to a String fails only if a `Display` impl of the message
        // fails; print what was formatted up to there.
        let _ = format_line(
            &mut line,
            self.clock.now_d_ps(),
            record.level(),
            record.target(),
            *record.args(),
        );
        if !line.ends_with('\n') {
            line.push('\n');
        }
        self.sink.write_str(&line);
    }

    fn flush(&self) {}
}

/// MirageOS's `no_reporter`: installs no logger and sets the `log` crate's
/// maximum level to `Off`, so that the log macros cost one comparison and
/// print nothing.
pub fn no_reporter() {
    log::set_max_level(log::LevelFilter::Off);
}

/// Makes the default reporter over `clock` and `sink` with `levels`, for
/// the rest of the program, and installs it as the `log` crate's logger.
/// A second installation keeps the first logger (a unikernel's single
/// entry point never makes one).
pub fn install_default<C, S>(
    clock: &'static C,
    sink: S,
    levels: LogLevels,
) -> &'static DefaultReporter<C, S>
where
    C: crate::Pclock + Send + Sync + 'static,
    S: LogSink + 'static,
{
    let reporter = crate::rt::leak(DefaultReporter::new(clock, sink, levels));
    let _ = reporter.install();
    reporter
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::FromArg;
    use log::Log;

    struct TestClock((i64, u64));

    impl Pclock for TestClock {
        fn now_d_ps(&self) -> (i64, u64) {
            self.0
        }
    }

    #[derive(Default)]
    struct Capture {
        text: spin::Mutex<String>,
        writes: spin::Mutex<usize>,
    }

    impl LogSink for Capture {
        fn write_str(&self, s: &str) {
            self.text.lock().push_str(s);
            *self.writes.lock() += 1;
        }
    }

    static CLOCK: TestClock = TestClock((20_052, 62_754 * 1_000_000_000_000));

    fn record(reporter: &impl Log, level: log::Level, target: &str, args: core::fmt::Arguments) {
        reporter.log(
            &log::Record::builder()
                .level(level)
                .target(target)
                .args(args)
                .build(),
        );
    }

    #[test]
    fn reporter_filters_and_formats() {
        let levels = LogLevels::from_arg("warning,netif:debug").unwrap();
        let r = DefaultReporter::new(&CLOCK, Capture::default(), levels);
        let sink = r.sink();
        assert_eq!(r.levels().max_level(), log::LevelFilter::Debug);
        record(&r, log::Level::Info, "application", format_args!("hidden"));
        record(
            &r,
            log::Level::Warn,
            "application",
            format_args!("Hello {}!", "World"),
        );
        record(
            &r,
            log::Level::Debug,
            "netif::rx",
            format_args!("frame of {} bytes", 60),
        );
        record(&r, log::Level::Trace, "netif", format_args!("hidden"));
        record(&r, log::Level::Error, "hello", format_args!("two\nlines"));
        assert_eq!(
            *sink.text.lock(),
            "2024-11-25T17:25:54-00:00: [WARNING] [application] Hello World!\n\
             2024-11-25T17:25:54-00:00: [DEBUG] [netif::rx] frame of 60 bytes\n\
             2024-11-25T17:25:54-00:00: [ERROR] [hello] two\nlines\n"
        );
        // One write per line.
        assert_eq!(*sink.writes.lock(), 3);
        let meta = |level, target| log::Metadata::builder().level(level).target(target).build();
        assert!(r.enabled(&meta(log::Level::Debug, "netif")));
        assert!(!r.enabled(&meta(log::Level::Debug, "tcp")));
        assert!(r.enabled(&meta(log::Level::Warn, "tcp")));
        r.flush();
    }

    #[test]
    fn reporter_default_is_info() {
        let r = DefaultReporter::new(&CLOCK, Capture::default(), LogLevels::default());
        let sink = r.sink();
        record(&r, log::Level::Info, "a", format_args!("shown"));
        record(&r, log::Level::Debug, "a", format_args!("hidden"));
        assert_eq!(
            *sink.text.lock(),
            "2024-11-25T17:25:54-00:00: [INFO] [a] shown\n"
        );
    }

    #[test]
    fn reporter_quiet() {
        let levels = LogLevels::from_arg("quiet").unwrap();
        let r = DefaultReporter::new(&CLOCK, Capture::default(), levels);
        let sink = r.sink();
        record(&r, log::Level::Error, "a", format_args!("hidden"));
        assert_eq!(*sink.text.lock(), "");
        assert_eq!(*sink.writes.lock(), 0);
    }
}
