//! The application: generic over the `Time` device it is given.

use mirage::Time;
use mirage::export::String;

/// Prints `hello` `count` times through the log reporter, waiting
/// `interval_ms` milliseconds between two messages.
pub async fn start<T: Time>(time: &'static T, hello: String, count: u32, interval_ms: u64) {
    for n in 0..count {
        if n > 0 {
            time.sleep_ns(interval_ms.saturating_mul(1_000_000)).await;
        }
        log::info!(target: "application", "{hello}");
    }
}
