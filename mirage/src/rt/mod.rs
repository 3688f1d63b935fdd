//! The cooperative runtime: a single-threaded executor of tasks, wakers and
//! timers whose idle step is supplied by the platform.
//!
//! Like Lwt in MirageOS, the runtime is event driven and cooperative: tasks
//! run until they wait, there is no preemption and no second thread. The
//! executor knows nothing about the platform beyond the [`Platform`] trait:
//! a monotonic clock and one *idle step* that blocks until the next timer
//! deadline or until an event source (a file descriptor on unix, a Solo5
//! device on hvt/spt) may have become ready, waking the wakers registered on
//! it.
//!
//! Timers ([`sleep_ns`], [`timeout`]) and the [`Spawner`] find their
//! executor through the waker of the task that polls them, so several
//! executors (one per test thread, say) never share state.
//!
//! Invariants:
//! - a task is in the ready queue at most once (its `queued` flag);
//! - a task's future is polled, and dropped, only by the thread running its
//!   executor;
//! - the timer queue holds one entry per pending [`Sleep`]; dropping the
//!   `Sleep` removes it, so cancelled timeouts leave nothing behind.
//!
//! Wakers are `Send + Sync`: a task may be woken from another thread (one
//! doing blocking work, say). The task is then queued at once, and where
//! the platform has an [`Interrupter`] (unix: an `eventfd`) a wake while
//! the executor idles ends the idle step, so the task runs promptly.

mod executor;
mod job;
// (Structural pinning of the two futures of `Join`.)
#[allow(unsafe_code)]
mod join;
#[allow(unsafe_code)]
mod local;
mod lock;
// (Structural pinning of the two futures of `Select`.)
#[allow(unsafe_code)]
mod select;
mod signal;
mod timer;
mod virtual_time;
mod waiters;
#[allow(unsafe_code)]
mod waker;

pub use executor::{Executor, JoinHandle, Spawner, Stopped, YieldNow, yield_now};
pub use job::{ConnectError, Job, JobOutcome, StartError, connect_error, job, run_jobs};
pub use join::{Join, join};
pub use lock::{Lock, LockGuard};
pub use select::{Deadline, Either, MovingDeadline, Select, deadline, select};
pub use signal::Signal;
pub use timer::{Elapsed, Sleep, sleep_ns, sleep_until, timeout};
pub use virtual_time::VirtualPlatform;
pub(crate) use waiters::Waiters;

/// What a target supplies to the executor: its monotonic clock and its idle
/// step.
///
/// `Send + Sync + 'static` because timers read the clock through a shared
/// handle; every platform's clock is a plain function of the machine anyway.
pub trait Platform: Send + Sync + 'static {
    /// Monotonic time in nanoseconds.
    fn now_ns(&self) -> u64;

    /// Blocks until the monotonic clock reaches `deadline_ns` (`None`: no
    /// deadline), or until some event source may have become ready, waking
    /// the wakers registered on ready sources before returning. A deadline
    /// in the past means: check the event sources without blocking. Returning
    /// early (spuriously) is allowed; busy-looping is not.
    fn idle(&self, deadline_ns: Option<u64>);

    /// `Some(signal)` once the platform has been asked to stop (SIGINT or
    /// SIGTERM on unix); the executor then returns [`Stopped`].
    fn stop_requested(&self) -> Option<i32> {
        None
    }

    /// What ends a blocked [`Platform::idle`] of the calling thread from
    /// another thread. The executor asks once, on its own thread, when it
    /// is made, and interrupts its idle step when a task is woken while it
    /// idles. Such a wake-up comes from another thread, or from the idle
    /// step itself waking the wakers of ready event sources on the
    /// executor's thread; the interrupter may ignore the latter, since
    /// that step is ending anyway.
    ///
    /// `None` (the default): nothing can, because the platform has no
    /// other threads (Solo5) or no such means; a wake from another thread
    /// is then noticed when the idle step returns for its own reasons.
    fn interrupter(&self) -> Option<Interrupter> {
        None
    }
}

/// Ends an executor's idle step from any thread: see
/// [`Platform::interrupter`].
pub struct Interrupter(alloc::boxed::Box<dyn Fn() + Send + Sync>);

impl Interrupter {
    /// An interrupter that calls `interrupt`, which must end the idle step
    /// the executor's thread is blocked in, or its next one if it is not
    /// blocked yet (an interrupt is never lost in the race with the start
    /// of an idle step).
    pub fn new(interrupt: impl Fn() + Send + Sync + 'static) -> Self {
        Interrupter(alloc::boxed::Box::new(interrupt))
    }

    /// Ends the idle step (see [`Interrupter::new`]).
    pub fn interrupt(&self) {
        (self.0)()
    }
}

impl core::fmt::Debug for Interrupter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Interrupter")
    }
}

/// Polls `future` once, with a waker that does nothing: its output if it
/// was ready at once, `None` if it would have waited. For devices that
/// never wait (ramdisks, in-memory stores) driven outside an executor, in
/// tests and benchmarks.
pub fn now_or_never<F: core::future::Future>(future: F) -> Option<F::Output> {
    let mut future = core::pin::pin!(future);
    let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        core::task::Poll::Ready(v) => Some(v),
        core::task::Poll::Pending => None,
    }
}

/// Moves `value` to the heap for the rest of the program and returns a
/// shared reference to it.
///
/// Devices live as long as the unikernel: the generated entry point leaks
/// each connected device once and hands the `&'static` reference to every
/// device and job that uses it, which is how one implementation is shared by
/// several users without reference counting or `dyn`.
pub fn leak<T>(value: T) -> &'static T {
    alloc::boxed::Box::leak(alloc::boxed::Box::new(value))
}

#[cfg(test)]
pub(crate) mod tests;
