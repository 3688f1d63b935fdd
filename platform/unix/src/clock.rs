//! Clocks: `CLOCK_MONOTONIC` for timers and `CLOCK_REALTIME` for the wall
//! clock, both read with `clock_gettime(2)`.

/// Reads `clock` with `clock_gettime(2)`.
///
/// # Panics
///
/// Panics if the kernel rejects the call, which cannot happen for the
/// clocks this module passes (they exist on every supported kernel).
fn read(clock: libc::clockid_t) -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` living for the whole call;
    // `clock_gettime` writes only into it.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(
        rc,
        0,
        "clock_gettime({clock}) failed: {}",
        std::io::Error::last_os_error()
    );
    ts
}

/// Nanoseconds of `CLOCK_MONOTONIC`: a clock that never goes backwards and
/// is unaffected by changes of the wall clock. Its origin is unspecified
/// (typically the boot); only differences are meaningful. This is the time
/// base of [`crate::reactor::idle`]'s deadlines.
pub fn monotonic_ns() -> u64 {
    let ts = read(libc::CLOCK_MONOTONIC);
    // CLOCK_MONOTONIC is never negative; u64 nanoseconds last 584 years.
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// Nanoseconds since the Unix epoch (1970-01-01T00:00:00Z) according to
/// `CLOCK_REALTIME`. Negative before the epoch. This clock may jump when
/// the system time is set; use [`monotonic_ns`] to measure durations.
pub fn wall_clock_ns() -> i128 {
    let ts = read(libc::CLOCK_REALTIME);
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// The resolution of `CLOCK_MONOTONIC` in nanoseconds, as reported by
/// `clock_getres(2)` (at least 1).
///
/// # Panics
///
/// Panics if the kernel rejects the call (it cannot for `CLOCK_MONOTONIC`).
pub fn monotonic_resolution_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` living for the whole call;
    // `clock_getres` writes only into it.
    let rc = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(
        rc,
        0,
        "clock_getres failed: {}",
        std::io::Error::last_os_error()
    );
    ((ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_never_goes_backwards() {
        let mut previous = monotonic_ns();
        for _ in 0..1000 {
            let now = monotonic_ns();
            assert!(now >= previous, "{now} < {previous}");
            previous = now;
        }
    }

    #[test]
    fn monotonic_advances_with_sleep() {
        let before = monotonic_ns();
        std::thread::sleep(std::time::Duration::from_millis(10));
        let elapsed = monotonic_ns() - before;
        assert!(elapsed >= 10_000_000, "elapsed {elapsed} ns");
        assert!(elapsed < 10_000_000_000, "elapsed {elapsed} ns");
    }

    #[test]
    fn wall_clock_is_after_2024() {
        // 2024-01-01T00:00:00Z.
        const JAN_2024_NS: i128 = 1_704_067_200 * 1_000_000_000;
        let now = wall_clock_ns();
        assert!(now > JAN_2024_NS, "wall clock {now} ns is before 2024");
        // And agrees with std's view of the wall clock to within a minute.
        let std_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i128;
        assert!((std_now - now).abs() < 60_000_000_000);
    }

    #[test]
    fn resolution_is_sane() {
        let res = monotonic_resolution_ns();
        assert!((1..=10_000_000).contains(&res), "resolution {res} ns");
    }
}
