//! A platform for tests and simulations: virtual monotonic time that jumps
//! to the next timer deadline whenever every task waits, so a simulation of
//! minutes of protocol timers runs in microseconds, deterministically.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

use super::Platform;

/// Virtual time: `idle` advances the clock to the requested deadline
/// (nothing else can wake a task in a closed simulation); with no deadline
/// every task waits forever, and the executor is told to stop (signal 0)
/// instead of hanging.
#[derive(Debug, Clone, Default)]
pub struct VirtualPlatform {
    now: Arc<AtomicU64>,
    stalled: Arc<AtomicU64>,
}

impl VirtualPlatform {
    /// A clock at 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current virtual time in nanoseconds.
    pub fn now(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }

    /// Moves the clock forward by `ns`.
    pub fn advance(&self, ns: u64) {
        self.now.fetch_add(ns, Ordering::SeqCst);
    }
}

impl Platform for VirtualPlatform {
    fn now_ns(&self) -> u64 {
        self.now()
    }

    fn idle(&self, deadline_ns: Option<u64>) {
        match deadline_ns {
            Some(deadline) => {
                self.now.fetch_max(deadline, Ordering::SeqCst);
            }
            None => {
                self.stalled.store(1, Ordering::SeqCst);
            }
        }
    }

    fn stop_requested(&self) -> Option<i32> {
        (self.stalled.swap(0, Ordering::SeqCst) == 1).then_some(0)
    }
}
