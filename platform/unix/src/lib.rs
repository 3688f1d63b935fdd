//! The unix target of mirage: clocks, console, entropy, signals and the
//! `ppoll(2)` reactor that forms the executor's idle step.
//!
//! This crate is the raw platform layer of a unikernel that runs as an
//! ordinary Linux process. It talks to the kernel through `libc` and knows
//! nothing of the `mirage` crate, which wraps these functions into its
//! device types and uses [`reactor::idle`] as its executor's idle step:
//!
//! * [`clock`]: the monotonic clock (time base of deadlines), its
//!   resolution, and the wall clock.
//! * [`console`]: unbuffered writes to standard output and standard error.
//! * [`entropy`]: random bytes from `getrandom(2)`.
//! * [`interrupt`]: an `eventfd(2)` per thread through which another
//!   thread ends that thread's idle step (a wake from another thread).
//! * [`reactor`]: per-thread registrations of file-descriptor readiness and
//!   the blocking [`reactor::idle`] step.
//! * [`signals`]: `SIGINT`/`SIGTERM` handlers that record the request and
//!   wake the reactor through a self-pipe; `SIGPIPE` is ignored.
//! * [`socket`]: non-blocking TCP connects.
//!
//! A typical executor loop: run the ready tasks; stop if
//! [`termination_requested`] says so; otherwise call [`idle`] with the
//! earliest timer deadline (in [`monotonic_ns`] time).

#[cfg(not(any(target_os = "linux", target_os = "android")))]
compile_error!("mirage-unix supports Linux only (ppoll, getrandom, pipe2)");

pub mod clock;
pub mod console;
pub mod entropy;
pub mod interrupt;
pub mod reactor;
pub mod signals;
pub mod socket;
pub mod tap;

pub use clock::{monotonic_ns, monotonic_resolution_ns, wall_clock_ns};
pub use console::{console_write, console_write_stderr};
pub use entropy::fill_entropy;
pub use interrupt::IdleInterrupter;
pub use reactor::{Interest, Wait, deregister, idle, register, registered_count, wait};
pub use signals::{install_termination_handlers, termination_requested};
pub use tap::{DEFAULT_TAP, Tap, VNET_HDR_LEN, open_tap, open_tap_with_offload, random_local_mac};

/// Coordination between tests that share the process-wide signal state.
#[cfg(test)]
mod test_support {
    use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

    /// Held shared by every test that idles, and exclusively by the one
    /// test that raises signals: a raised signal ends whichever idle steps
    /// are running, so no other test may be idling meanwhile.
    static SIGNALS: RwLock<()> = RwLock::new(());

    /// For tests that call `idle` and expect no signal to end it.
    pub(crate) fn shared_signals() -> RwLockReadGuard<'static, ()> {
        SIGNALS.read().unwrap_or_else(|e| e.into_inner())
    }

    /// For the test that raises signals.
    pub(crate) fn exclusive_signals() -> RwLockWriteGuard<'static, ()> {
        SIGNALS.write().unwrap_or_else(|e| e.into_inner())
    }
}
