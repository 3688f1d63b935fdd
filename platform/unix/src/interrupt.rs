//! Ending a thread's idle step from another thread: an `eventfd(2)` per
//! thread, polled by [`crate::reactor::idle`] next to the registered
//! descriptors.
//!
//! A waker is `Send + Sync`, so a task may be woken by another thread (a
//! thread doing blocking work, a channel from one). The executor then finds
//! the task queued, but only once its idle step returns, and an idle step
//! with no deadline and no ready descriptor would never return. The
//! executor's thread creates an [`IdleInterrupter`] once; a wake from
//! another thread while the executor is idle calls
//! [`IdleInterrupter::interrupt`], which makes the descriptor readable and
//! so ends the blocked `ppoll(2)` (or the next one, if the thread is about
//! to block: the count stays in the descriptor until an idle step drains
//! it).

use std::cell::OnceCell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

thread_local! {
    /// The calling thread's event descriptor, once an interrupter for the
    /// thread was made.
    static EVENT: OnceCell<Arc<OwnedFd>> = const { OnceCell::new() };
}

/// Makes one thread's [`crate::reactor::idle`] return; usable from any
/// thread.
#[derive(Clone, Debug)]
pub struct IdleInterrupter {
    /// The owning thread's event descriptor. Shared with that thread's
    /// `EVENT`: the descriptor stays open while either holds it, so an
    /// interrupt never writes to a reused descriptor number.
    event: Arc<OwnedFd>,
}

impl IdleInterrupter {
    /// The interrupter of the calling thread's idle step. The thread's
    /// event descriptor is made at the first call; later calls share it.
    ///
    /// # Errors
    ///
    /// The error of `eventfd(2)` (for example `EMFILE`).
    pub fn for_current_thread() -> io::Result<Self> {
        EVENT.with(|cell| {
            if let Some(event) = cell.get() {
                return Ok(IdleInterrupter {
                    event: event.clone(),
                });
            }
            // SAFETY: `eventfd` takes no pointers; a non-negative result
            // is a new descriptor that nothing else owns.
            let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` was just returned by `eventfd` and is owned by
            // nothing else.
            let event = Arc::new(unsafe { OwnedFd::from_raw_fd(fd) });
            let _ = cell.set(event.clone());
            Ok(IdleInterrupter { event })
        })
    }

    /// Ends the owning thread's idle step: the one it is blocked in, or
    /// its next one if it is not blocked. Called on the owning thread it
    /// does nothing: a thread running this call is not blocked, and the
    /// executor checks its ready queue before it idles.
    pub fn interrupt(&self) {
        if self.owned_by_current_thread() {
            return;
        }
        let one = 1u64.to_ne_bytes();
        // SAFETY: `one` is 8 readable bytes for the whole call, the size
        // `eventfd` requires; the descriptor is open while `self` holds
        // it. The only possible failure, `EAGAIN` (a count at its maximum),
        // leaves the descriptor readable, which is all that is wanted.
        unsafe { libc::write(self.event.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }

    fn owned_by_current_thread(&self) -> bool {
        EVENT
            .try_with(|cell| {
                cell.get()
                    .is_some_and(|mine| Arc::ptr_eq(mine, &self.event))
            })
            .unwrap_or(false)
    }
}

/// The calling thread's event descriptor, if an interrupter was made for
/// the thread: [`crate::reactor::idle`] polls it.
pub(crate) fn event_fd() -> Option<RawFd> {
    EVENT
        .try_with(|cell| cell.get().map(|event| event.as_raw_fd()))
        .ok()
        .flatten()
}

/// Resets the calling thread's event descriptor (it was readable), so
/// that the next idle step blocks again.
pub(crate) fn drain() {
    let Some(fd) = event_fd() else { return };
    let mut count = [0u8; 8];
    // SAFETY: `count` is 8 writable bytes for the whole call, the size
    // `eventfd` requires. A read resets the count to zero; `EAGAIN` (it
    // already was) and `EINTR` leave nothing to do: a count left behind
    // only makes the next idle step return early, which is allowed.
    unsafe { libc::read(fd, count.as_mut_ptr().cast(), count.len()) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::monotonic_ns;
    use crate::reactor::idle;
    use crate::test_support::shared_signals;
    use std::time::Duration;

    const MS: u64 = 1_000_000;

    #[test]
    fn an_interrupt_from_another_thread_ends_a_blocked_idle() {
        // (No signal test may fill the self-pipe meanwhile.)
        let _guard = shared_signals();
        let interrupter = IdleInterrupter::for_current_thread().expect("eventfd");
        let remote = interrupter.clone();
        let waker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            remote.interrupt();
        });
        let started = monotonic_ns();
        // Nothing but the interrupt can end this wait early: no registered
        // descriptor, and a deadline far off (not `None`, so that a lost
        // interrupt fails the test instead of hanging it).
        idle(Some(started + 10_000 * MS));
        let took = monotonic_ns() - started;
        assert!(took >= 40 * MS, "returned before the interrupt");
        assert!(took < 5_000 * MS, "the interrupt did not end the idle step");
        waker.join().unwrap();
        // The count was drained: the next idle waits for its deadline.
        let deadline = monotonic_ns() + 30 * MS;
        idle(Some(deadline));
        assert!(
            monotonic_ns() >= deadline,
            "a drained interrupt ended an idle"
        );
    }

    #[test]
    fn an_interrupt_before_the_idle_is_kept_for_it() {
        // (No signal test may fill the self-pipe meanwhile.)
        let _guard = shared_signals();
        let interrupter = IdleInterrupter::for_current_thread().expect("eventfd");
        let remote = interrupter.clone();
        std::thread::spawn(move || remote.interrupt())
            .join()
            .unwrap();
        let started = monotonic_ns();
        idle(Some(started + 10_000 * MS));
        assert!(
            monotonic_ns() - started < 5_000 * MS,
            "an interrupt sent before the idle step was lost"
        );
    }

    #[test]
    fn interrupting_the_own_thread_does_nothing() {
        // (No signal test may fill the self-pipe meanwhile.)
        let _guard = shared_signals();
        let interrupter = IdleInterrupter::for_current_thread().expect("eventfd");
        interrupter.interrupt();
        let deadline = monotonic_ns() + 30 * MS;
        idle(Some(deadline));
        assert!(
            monotonic_ns() >= deadline,
            "the own thread's interrupt ended its idle"
        );
    }

    #[test]
    fn a_thread_makes_one_descriptor() {
        let a = IdleInterrupter::for_current_thread().expect("eventfd");
        let b = IdleInterrupter::for_current_thread().expect("eventfd");
        assert!(Arc::ptr_eq(&a.event, &b.event));
        assert_eq!(event_fd(), Some(a.event.as_raw_fd()));
        let other = std::thread::spawn(|| {
            let c = IdleInterrupter::for_current_thread().expect("eventfd");
            c.event.as_raw_fd()
        })
        .join()
        .unwrap();
        assert_ne!(other, a.event.as_raw_fd());
    }
}
