//! The Mirage_logs line format and the RFC 3339 timestamp.

use core::fmt;

use crate::clock::PS_PER_DAY;

/// The civil (proleptic Gregorian) date `(year, month 1..=12, day 1..=31)`
/// of `days` since 1970-01-01: Howard Hinnant's `civil_from_days`, in
/// `i128` so that no `i64` day count overflows.
pub fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = i128::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], from March
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i128::from(month <= 2);
    // |year| <= |days| / 365 + 1, so it fits an i64.
    (year as i64, month as u8, day as u8)
}

/// Writes the RFC 3339 UTC timestamp of `(days, picoseconds)` since the
/// epoch, to the second, with the unknown-offset suffix `-00:00`, as OCaml's
/// `Ptime.pp_rfc3339 ()` without a time zone: `2024-11-25T17:25:54-00:00`.
///
/// Picoseconds of a day or more carry into the days. Years outside
/// `0000..=9999` (which RFC 3339 cannot express) are written with more
/// digits or a leading `-`.
pub fn write_rfc3339(out: &mut impl fmt::Write, (days, ps): (i64, u64)) -> fmt::Result {
    let days = days.saturating_add((ps / PS_PER_DAY) as i64);
    let secs = (ps % PS_PER_DAY) / 1_000_000_000_000;
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if y < 0 {
        write!(out, "-{:04}", y.unsigned_abs())?;
    } else {
        write!(out, "{y:04}")?;
    }
    write!(out, "-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}-00:00")
}

/// The header of a level, as `Logs.pp_header` prints it (`[TRACE]` for the
/// `log` crate's extra level).
pub fn level_header(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "[ERROR]",
        log::Level::Warn => "[WARNING]",
        log::Level::Info => "[INFO]",
        log::Level::Debug => "[DEBUG]",
        log::Level::Trace => "[TRACE]",
    }
}

/// Writes one log line in MirageOS's `Mirage_logs` style, newline-terminated:
///
/// ```text
/// 2024-11-25T17:25:54-00:00: [INFO] [application] Hello World!
/// ```
///
/// that is the [RFC 3339 timestamp](write_rfc3339) of `now_d_ps`, `: `, the
/// [level header](level_header), the target in brackets (the log source) and
/// the message.
pub fn format_line(
    out: &mut impl fmt::Write,
    now_d_ps: (i64, u64),
    level: log::Level,
    target: &str,
    args: fmt::Arguments,
) -> fmt::Result {
    write_rfc3339(out, now_d_ps)?;
    writeln!(out, ": {} [{target}] {args}", level_header(level))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    const PS_PER_S: u64 = 1_000_000_000_000;

    fn ts(d_ps: (i64, u64)) -> String {
        let mut s = String::new();
        write_rfc3339(&mut s, d_ps).unwrap();
        s
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(31), (1970, 2, 1));
        assert_eq!(civil_from_days(10_956), (1999, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(20_052), (2024, 11, 25));
        assert_eq!(civil_from_days(-25_567), (1900, 1, 1));
        assert_eq!(civil_from_days(-719_528), (0, 1, 1));
        assert_eq!(civil_from_days(2_932_896), (9999, 12, 31));
        assert_eq!(civil_from_days(-4_371), (1958, 1, 13));
        // Every day of a 400-year cycle is the day after the previous one.
        let mut prev = civil_from_days(-1);
        for d in 0..146_097 {
            let cur = civil_from_days(d);
            let next_day = (prev.0, prev.1, prev.2 + 1);
            let next_month = (prev.0, prev.1 + 1, 1);
            let next_year = (prev.0 + 1, 1, 1);
            assert!(
                cur == next_day || cur == next_month || cur == next_year,
                "{d}"
            );
            prev = cur;
        }
        // No overflow at the extremes.
        let _ = civil_from_days(i64::MAX);
        let _ = civil_from_days(i64::MIN);
    }

    #[test]
    fn timestamps() {
        assert_eq!(ts((0, 0)), "1970-01-01T00:00:00-00:00");
        assert_eq!(ts((0, PS_PER_DAY - 1)), "1970-01-01T23:59:59-00:00");
        assert_eq!(ts((0, PS_PER_DAY)), "1970-01-02T00:00:00-00:00");
        assert_eq!(
            ts((
                20_052,
                (17 * 3600 + 25 * 60 + 54) * PS_PER_S + 999_999_999_999
            )),
            "2024-11-25T17:25:54-00:00"
        );
        assert_eq!(
            ts((11_016, 12 * 3600 * PS_PER_S)),
            "2000-02-29T12:00:00-00:00"
        );
        assert_eq!(ts((-1, 86_399 * PS_PER_S)), "1969-12-31T23:59:59-00:00");
        assert_eq!(ts((-4_371, 3_723 * PS_PER_S)), "1958-01-13T01:02:03-00:00");
        assert_eq!(ts((-719_529, 0)), "-0001-12-31T00:00:00-00:00");
        assert_eq!(ts((2_932_897, 0)), "10000-01-01T00:00:00-00:00");
    }

    #[test]
    fn lines() {
        let mut s = String::new();
        let now = (20_052, (17 * 3600 + 25 * 60 + 54) * PS_PER_S);
        format_line(
            &mut s,
            now,
            log::Level::Info,
            "application",
            format_args!("Hello World!"),
        )
        .unwrap();
        assert_eq!(
            s,
            "2024-11-25T17:25:54-00:00: [INFO] [application] Hello World!\n"
        );
        for (level, header) in [
            (log::Level::Error, "[ERROR]"),
            (log::Level::Warn, "[WARNING]"),
            (log::Level::Info, "[INFO]"),
            (log::Level::Debug, "[DEBUG]"),
            (log::Level::Trace, "[TRACE]"),
        ] {
            let mut s = String::new();
            format_line(&mut s, (0, 0), level, "netif::rx", format_args!("n={}", 3)).unwrap();
            assert_eq!(
                s,
                alloc::format!("1970-01-01T00:00:00-00:00: {header} [netif::rx] n=3\n")
            );
        }
    }
}
