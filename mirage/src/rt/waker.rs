//! The executor's wakers: a reference-counted [`TaskHeader`] behind a static
//! vtable.
//!
//! The vtable is a `static`, so its address is unique in the program: a
//! waker whose vtable is `&VTABLE` is known to carry an `Arc<TaskHeader>`,
//! which is how timers and spawners find the executor of the task polling
//! them.

use alloc::sync::Arc;
use core::task::{RawWaker, RawWakerVTable, Waker};

use super::executor::TaskHeader;

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// Makes a waker that schedules the task of `header`.
pub(super) fn waker_for(header: Arc<TaskHeader>) -> Waker {
    let raw = RawWaker::new(Arc::into_raw(header).cast(), &VTABLE);
    // SAFETY: the data pointer comes from `Arc::into_raw` of an
    // `Arc<TaskHeader>` and the vtable's functions treat it as exactly that,
    // keeping the reference count balanced (clone increments, wake and drop
    // decrement, wake_by_ref leaves it). `TaskHeader` is `Send + Sync`, so the
    // waker may be used from any thread.
    unsafe { Waker::from_raw(raw) }
}

/// The task header behind `waker`, if it is one of this executor's wakers.
pub(super) fn header_of(waker: &Waker) -> Option<&TaskHeader> {
    if core::ptr::eq(waker.vtable(), &VTABLE) {
        // SAFETY: only `waker_for` creates wakers with this (unique, static)
        // vtable, and their data pointer is an `Arc<TaskHeader>` that stays
        // alive at least as long as the borrowed waker.
        Some(unsafe { &*waker.data().cast::<TaskHeader>() })
    } else {
        None
    }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a live `Arc<TaskHeader>` pointer (see `waker_for`);
    // the new waker owns one more strong count.
    unsafe { Arc::increment_strong_count(data.cast::<TaskHeader>()) };
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: waking by value consumes the waker's strong count.
    let header = unsafe { Arc::from_raw(data.cast::<TaskHeader>()) };
    header.schedule();
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: `data` is a live `Arc<TaskHeader>` borrowed for this call.
    let header = unsafe { &*data.cast::<TaskHeader>() };
    header.schedule();
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: dropping the waker releases its strong count.
    unsafe { Arc::decrement_strong_count(data.cast::<TaskHeader>()) };
}
