//! [`Lock`]: mutual exclusion between tasks for sections that wait.
//!
//! A device whose operations span several waits (a store writing a few
//! sectors one after the other, say) holds a [`Lock`] across them, so
//! another task's operation never interleaves with its own. A task that
//! finds the lock held waits (it is woken when the lock is released); there
//! is no spinning, and dropping a waiting `lock()` future leaves nothing
//! behind but a spare wake-up.

use alloc::vec::Vec;
use core::future::poll_fn;
use core::task::{Poll, Waker};

/// A lock without data: what it protects is the section between
/// [`Lock::lock`] and the guard's drop.
#[derive(Debug, Default)]
pub struct Lock {
    state: spin::Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    held: bool,
    waiters: Vec<Waker>,
}

/// Holds the [`Lock`] until dropped.
#[derive(Debug)]
#[must_use = "the lock is released when the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl Lock {
    /// An unlocked lock.
    pub const fn new() -> Self {
        Lock {
            state: spin::Mutex::new(State {
                held: false,
                waiters: Vec::new(),
            }),
        }
    }

    /// Waits until the lock is free and takes it.
    pub async fn lock(&self) -> LockGuard<'_> {
        poll_fn(|cx| {
            let mut state = self.state.lock();
            if state.held {
                if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    state.waiters.push(cx.waker().clone());
                }
                Poll::Pending
            } else {
                state.held = true;
                Poll::Ready(LockGuard { lock: self })
            }
        })
        .await
    }

    /// Takes the lock if it is free.
    pub fn try_lock(&self) -> Option<LockGuard<'_>> {
        let mut state = self.state.lock();
        if state.held {
            None
        } else {
            state.held = true;
            Some(LockGuard { lock: self })
        }
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let waiters = {
            let mut state = self.lock.state.lock();
            state.held = false;
            core::mem::take(&mut state.waiters)
        };
        // Every waiter tries again; one of them gets the lock.
        for waker in waiters {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::pin::pin;
    use core::task::Context;

    #[test]
    fn one_holder_at_a_time_and_waiters_are_woken() {
        let lock = Lock::new();
        let guard = lock.try_lock().unwrap();
        assert!(lock.try_lock().is_none());
        let woken = alloc::sync::Arc::new(core::sync::atomic::AtomicUsize::new(0));
        struct Count(alloc::sync::Arc<core::sync::atomic::AtomicUsize>);
        impl alloc::task::Wake for Count {
            fn wake(self: alloc::sync::Arc<Self>) {
                self.0.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            }
        }
        let waker = Waker::from(alloc::sync::Arc::new(Count(woken.clone())));
        let mut cx = Context::from_waker(&waker);
        let mut waiting = pin!(lock.lock());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        drop(guard);
        assert_eq!(woken.load(core::sync::atomic::Ordering::Relaxed), 1);
        let Poll::Ready(second) = waiting.as_mut().poll(&mut cx) else {
            panic!("the lock was released");
        };
        assert!(lock.try_lock().is_none());
        drop(second);
        assert!(lock.try_lock().is_some());
    }
}
