//! The `time` device (`Mirage_time.S`): sleeping.

/// A source of timed sleeps (the seed's `time` device type).
///
/// Sleeping suspends only the calling task: other tasks of the unikernel
/// keep running on the cooperative executor meanwhile.
pub trait Time {
    /// Suspends the calling task for at least `ns` nanoseconds.
    async fn sleep_ns(&self, ns: u64);
}

/// The timer of every target: sleeps on the executor's timer queue, which
/// the platform's idle step honours (`ppoll` on unix, `solo5_yield` on
/// Solo5).
#[derive(Debug, Default, Clone, Copy)]
pub struct RtTime;

impl RtTime {
    /// The timer.
    pub fn new() -> Self {
        RtTime
    }
}

impl Time for RtTime {
    async fn sleep_ns(&self, ns: u64) {
        crate::rt::sleep_ns(ns).await
    }
}
