//! The `time` device (`Mirage_time.S`): sleeping.

/// A source of timed sleeps (the seed's `time` device type).
///
/// Sleeping suspends only the calling task: other tasks of the unikernel
/// keep running on the cooperative executor meanwhile.
pub trait Time {
    /// Suspends the calling task for at least `ns` nanoseconds.
    async fn sleep_ns(&self, ns: u64);
}
