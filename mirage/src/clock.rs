//! The clock devices: `pclock` (POSIX wall clock, `Mirage_clock.PCLOCK`) and
//! `mclock` (monotonic clock, `Mirage_clock.MCLOCK`).

/// Picoseconds in one day.
pub const PS_PER_DAY: u64 = 86_400_000_000_000_000;

/// A POSIX (wall) clock: time since the Unix epoch, UTC.
pub trait Pclock {
    /// The current POSIX time as `(days, picoseconds)` since
    /// 1970-01-01T00:00:00Z, with `picoseconds < PS_PER_DAY` (as
    /// `Mirage_clock.PCLOCK.now_d_ps`).
    fn now_d_ps(&self) -> (i64, u64);

    /// The local time zone offset to UTC in seconds, if known.
    fn current_tz_offset_s(&self) -> Option<i32> {
        None
    }

    /// The clock's period as `(days, picoseconds)`, if known.
    fn period_d_ps(&self) -> Option<(i64, u64)> {
        None
    }

    /// The current POSIX time in nanoseconds since the Unix epoch.
    fn now_unix_ns(&self) -> i128 {
        let (d, ps) = self.now_d_ps();
        i128::from(d) * 86_400_000_000_000 + i128::from(ps / 1000)
    }
}

/// A monotonic clock: nanoseconds elapsed since an arbitrary point fixed when
/// the unikernel started; never goes backwards.
pub trait Mclock {
    /// Nanoseconds elapsed (as `Mirage_clock.MCLOCK.elapsed_ns`).
    fn elapsed_ns(&self) -> u64;

    /// The clock's period in nanoseconds, if known.
    fn period_ns(&self) -> Option<u64> {
        None
    }
}

/// Splits nanoseconds since the Unix epoch into `(days, picoseconds)`.
pub fn d_ps_of_unix_ns(ns: i128) -> (i64, u64) {
    const NS_PER_DAY: i128 = 86_400_000_000_000;
    let days = ns.div_euclid(NS_PER_DAY);
    let rem = ns.rem_euclid(NS_PER_DAY);
    (days as i64, (rem as u64) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d_ps_round_trips() {
        for ns in [0i128, 1, 86_400_000_000_000, 1_732_550_400_123_456_789, -1] {
            let (d, ps) = d_ps_of_unix_ns(ns);
            assert!(ps < PS_PER_DAY);
            assert_eq!(
                i128::from(d) * 86_400_000_000_000 + i128::from(ps / 1000),
                ns
            );
        }
    }
}
