//! Readiness of file descriptors for a single-threaded executor, with
//! `ppoll(2)` as the executor's idle step.
//!
//! Tasks [`register`] interest in a descriptor becoming readable or
//! writable together with a [`Waker`]; when the executor has nothing to
//! run it calls [`idle`], which blocks until a registered descriptor is
//! ready, a deadline passes or a termination signal arrives, and wakes the
//! wakers of the ready descriptors. Registrations are one-shot: a woken
//! registration is removed, and the task registers again if its retried
//! non-blocking system call still reports `EAGAIN`.
//!
//! The registry is per thread (`thread_local!`): an executor and the tasks
//! it polls live on one thread, and each thread's [`idle`] sees only that
//! thread's registrations.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::clock::monotonic_ns;
use crate::{interrupt, signals};

/// The readiness a task waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interest {
    /// Data can be read, or the peer closed its end (`POLLIN`).
    Readable,
    /// Data can be written without blocking (`POLLOUT`).
    Writable,
}

/// The wakers of the tasks waiting for one readiness of a descriptor, at
/// most one per task: the first inline (a single waiter, the common case,
/// allocates nothing), the others after it. Each counts its registrations
/// (two [`Wait`]s of one task on the same readiness, say): dropping one
/// removes one, so the other is still woken.
#[derive(Default)]
struct Waiters {
    first: Option<(Waker, u32)>,
    /// Empty while `first` is `None`.
    more: Vec<(Waker, u32)>,
}

impl Waiters {
    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.len()
    }

    fn entries(&mut self) -> impl Iterator<Item = &mut (Waker, u32)> {
        self.first.iter_mut().chain(self.more.iter_mut())
    }

    /// Whether a waker that wakes the same task as `waker` is here.
    fn contains(&self, waker: &Waker) -> bool {
        self.first
            .iter()
            .chain(&self.more)
            .any(|(w, _)| w.will_wake(waker))
    }

    /// One more registration of `waker`'s task.
    fn add(&mut self, waker: &Waker) {
        if let Some((_, count)) = self.entries().find(|(w, _)| w.will_wake(waker)) {
            *count = count.saturating_add(1);
            return;
        }
        match self.first {
            None => self.first = Some((waker.clone(), 1)),
            Some(_) => self.more.push((waker.clone(), 1)),
        }
    }

    /// One registration fewer of `waker`'s task: its waker goes with the
    /// last.
    fn remove(&mut self, waker: &Waker) {
        let Some((_, count)) = self.entries().find(|(w, _)| w.will_wake(waker)) else {
            return;
        };
        *count -= 1;
        if *count > 0 {
            return;
        }
        self.more.retain(|(w, _)| !w.will_wake(waker));
        if self.first.as_ref().is_some_and(|(w, _)| w.will_wake(waker)) {
            self.first = self.more.pop();
        }
    }

    /// Moves every waker to `out`.
    fn take_into(&mut self, out: &mut Vec<Waker>) {
        out.extend(self.first.take().map(|(w, _)| w));
        out.extend(self.more.drain(..).map(|(w, _)| w));
    }
}

/// The wakers waiting on one descriptor.
struct Registration {
    fd: RawFd,
    readable: Waiters,
    writable: Waiters,
}

impl Registration {
    fn slot(&mut self, interest: Interest) -> &mut Waiters {
        match interest {
            Interest::Readable => &mut self.readable,
            Interest::Writable => &mut self.writable,
        }
    }

    fn is_empty(&self) -> bool {
        self.readable.is_empty() && self.writable.is_empty()
    }

    fn events(&self) -> libc::c_short {
        let mut events = 0;
        if !self.readable.is_empty() {
            events |= libc::POLLIN;
        }
        if !self.writable.is_empty() {
            events |= libc::POLLOUT;
        }
        events
    }
}

thread_local! {
    /// This thread's registrations, at most one entry per descriptor.
    static REGISTRY: RefCell<Vec<Registration>> = const { RefCell::new(Vec::new()) };
}

/// Asks to be woken through `waker` once `fd` is ready for `interest`.
///
/// Several tasks may wait for one `(fd, interest)` (tasks writing through
/// one shared socket): each task's waker is woken. A waker that wakes the
/// same task as one registered is not added again. The registration lasts
/// until [`idle`] wakes it or [`deregister`] removes it.
/// Readiness is a hint: after the wake-up the owner retries its
/// non-blocking system call and registers again on `EAGAIN`.
///
/// The registration belongs to the calling thread's reactor.
pub fn register(fd: RawFd, interest: Interest, waker: &Waker) {
    REGISTRY.with_borrow_mut(|registry| {
        let index = match registry.iter().position(|r| r.fd == fd) {
            Some(index) => index,
            None => {
                registry.push(Registration {
                    fd,
                    readable: Waiters::default(),
                    writable: Waiters::default(),
                });
                registry.len() - 1
            }
        };
        registry[index].slot(interest).add(waker);
    });
}

/// Removes every registration of `fd` (both interests) without waking
/// anyone. Call it before closing a descriptor: a closed descriptor would
/// otherwise be reported invalid (or, once its number is reused, watched
/// on behalf of the wrong owner).
pub fn deregister(fd: RawFd) {
    REGISTRY.with_borrow_mut(|registry| registry.retain(|r| r.fd != fd));
}

/// The number of `(fd, interest, task)` registrations of the calling
/// thread (a descriptor registered for both interests counts twice, and
/// one waited for by two tasks twice).
pub fn registered_count() -> usize {
    REGISTRY.with_borrow(|registry| {
        registry
            .iter()
            .map(|r| r.readable.len() + r.writable.len())
            .sum()
    })
}

/// Whether `(fd, interest)` is still registered on the calling thread
/// with a waker that wakes the same task as `waker`.
fn is_registered(fd: RawFd, interest: Interest, waker: &Waker) -> bool {
    REGISTRY.with_borrow_mut(|registry| {
        registry
            .iter_mut()
            .any(|r| r.fd == fd && r.slot(interest).contains(waker))
    })
}

/// Removes the registration of `(fd, interest)` with a waker that wakes
/// the same task as `waker`, if there is one.
fn unregister_if(fd: RawFd, interest: Interest, waker: &Waker) {
    REGISTRY.with_borrow_mut(|registry| {
        if let Some(index) = registry.iter().position(|r| r.fd == fd) {
            registry[index].slot(interest).remove(waker);
            if registry[index].is_empty() {
                registry.swap_remove(index);
            }
        }
    });
}

/// The executor's idle step: blocks until a registered descriptor is
/// ready, the monotonic `deadline_ns` (see [`crate::clock::monotonic_ns`])
/// passes, or a termination signal arrives; then wakes (and removes) the
/// registrations of the ready descriptors.
///
/// * `None` means no deadline. With nothing registered this blocks until
///   a signal arrives; it never spins.
/// * A deadline in the past polls without blocking.
/// * The wait has nanosecond precision (`ppoll(2)`), and a timeout never
///   returns before the deadline.
/// * `POLLHUP` and `POLLERR` wake both interests of the descriptor, so its
///   owner sees the condition on its next system call; `POLLNVAL` (the
///   descriptor is not open) does too and also drops the descriptor's
///   registration.
/// * Once [`crate::signals::install_termination_handlers`] ran, the
///   signal self-pipe is polled too and drained when it fires; an
///   interrupted wait (`EINTR`) returns normally. The caller then checks
///   [`crate::signals::termination_requested`].
/// * Once an [`crate::interrupt::IdleInterrupter`] was made for this
///   thread, its event descriptor is polled too: an interrupt from
///   another thread ends the wait, and the descriptor is drained.
///
/// # Panics
///
/// Panics if `ppoll(2)` fails for a reason other than `EINTR` or `ENOMEM`
/// (`EINVAL`: more registered descriptors than `RLIMIT_NOFILE` allows),
/// since the executor could then neither wait nor make progress.
pub fn idle(deadline_ns: Option<u64>) {
    let wakeup = signals::wakeup_fd();
    let mut fds: Vec<libc::pollfd> = REGISTRY.with_borrow(|registry| {
        registry
            .iter()
            .map(|r| libc::pollfd {
                fd: r.fd,
                events: r.events(),
                revents: 0,
            })
            .collect()
    });
    let registered = fds.len();
    // After the registrations: the signal self-pipe, then this thread's
    // interrupt descriptor, each if it exists.
    let interrupt = interrupt::event_fd();
    for fd in [wakeup, interrupt].into_iter().flatten() {
        fds.push(libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
    }

    let ready = loop {
        let timeout = deadline_ns.map(|deadline| deadline.saturating_sub(monotonic_ns()));
        match ppoll(&mut fds, timeout) {
            // A timeout never returns early: wait again for what is left.
            Ok(0) if deadline_ns.is_some_and(|deadline| monotonic_ns() < deadline) => continue,
            Ok(n) => break n,
            Err(err) if matches!(err.raw_os_error(), Some(libc::EINTR | libc::ENOMEM)) => {
                return;
            }
            Err(err) => panic!("ppoll over {} descriptors failed: {err}", fds.len()),
        }
    };
    if ready == 0 {
        return;
    }
    let mut extra = fds[registered..].iter();
    if wakeup.is_some() && extra.next().is_some_and(|fd| fd.revents != 0) {
        signals::drain_wakeup();
    }
    if interrupt.is_some() && extra.next().is_some_and(|fd| fd.revents != 0) {
        interrupt::drain();
    }

    // Nothing ran on this thread since the snapshot above, so the registry
    // still holds exactly the descriptors of `fds[..registered]`, in order.
    let mut to_wake = Vec::new();
    REGISTRY.with_borrow_mut(|registry| {
        debug_assert_eq!(registry.len(), registered);
        for (registration, pollfd) in registry.iter_mut().zip(&fds[..registered]) {
            debug_assert_eq!(registration.fd, pollfd.fd);
            let revents = pollfd.revents;
            let failed = revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0;
            if failed || revents & libc::POLLIN != 0 {
                registration.readable.take_into(&mut to_wake);
            }
            if failed || revents & libc::POLLOUT != 0 {
                registration.writable.take_into(&mut to_wake);
            }
        }
        registry.retain(|r| !r.is_empty());
    });
    // Wake outside the borrow: a waker may register again.
    for waker in to_wake {
        waker.wake();
    }
}

/// Whether `fd` is ready for `interest` now, without waiting (a `ppoll(2)`
/// with a zero timeout): readable includes the peer's end of stream, and
/// both include a pending error or hang-up, since the next system call then
/// returns at once too.
///
/// # Errors
///
/// The error of `ppoll(2)`.
pub fn ready_now(fd: RawFd, interest: Interest) -> io::Result<bool> {
    let events = match interest {
        Interest::Readable => libc::POLLIN,
        Interest::Writable => libc::POLLOUT,
    };
    let mut fds = [libc::pollfd {
        fd,
        events,
        revents: 0,
    }];
    loop {
        match ppoll(&mut fds, Some(0)) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(fds[0].revents != 0),
            Err(err) if err.raw_os_error() == Some(libc::EINTR) => {}
            Err(err) => return Err(err),
        }
    }
}

/// `ppoll(2)` over `fds` with an optional relative timeout in nanoseconds
/// (`None`: wait indefinitely) and no signal-mask change. Returns the
/// number of descriptors with events.
fn ppoll(fds: &mut [libc::pollfd], timeout_ns: Option<u64>) -> io::Result<usize> {
    let timespec = timeout_ns.map(|ns| libc::timespec {
        // u64::MAX ns is about 584 years: fits any time_t.
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    });
    let timeout_ptr = timespec
        .as_ref()
        .map_or(std::ptr::null(), |ts| ts as *const libc::timespec);
    // SAFETY: `fds` is a valid, writable array of `fds.len()` pollfds (the
    // kernel writes only their `revents`); `timeout_ptr` is null or points
    // to `timespec`, alive for the whole call; a null sigmask leaves the
    // signal mask unchanged.
    let n = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            timeout_ptr,
            std::ptr::null(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// A future that completes once `fd` is (probably) ready for `interest`:
/// it registers on its first poll and completes once [`idle`] woke it.
///
/// Readiness is a hint, not a guarantee: another reader may have consumed
/// the data, and a [`deregister`] of the descriptor also completes the
/// future. The caller retries its non-blocking system call and waits again
/// on `EAGAIN`.
///
/// The future must be polled on the thread whose executor calls [`idle`]
/// (it is neither `Send` nor `Sync`). Dropping it before completion
/// removes its registration.
pub fn wait(fd: RawFd, interest: Interest) -> Wait {
    Wait {
        fd,
        interest,
        registered: None,
        _not_send: PhantomData,
    }
}

/// The future returned by [`wait`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Wait {
    fd: RawFd,
    interest: Interest,
    /// The waker registered by the last poll, `None` before the first.
    registered: Option<Waker>,
    /// The registry is thread-local: keep the future on its thread.
    _not_send: PhantomData<*const ()>,
}

impl Future for Wait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if let Some(registered) = &this.registered {
            if !is_registered(this.fd, this.interest, registered) {
                // `idle` woke and removed the registration (or the
                // descriptor was deregistered).
                this.registered = None;
                return Poll::Ready(());
            }
            if registered.will_wake(cx.waker()) {
                return Poll::Pending;
            }
            // Polled with another waker: it replaces the one registered.
            unregister_if(this.fd, this.interest, registered);
        }
        register(this.fd, this.interest, cx.waker());
        this.registered = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if let Some(waker) = &self.registered {
            unregister_if(self.fd, self.interest, waker);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::shared_signals;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use std::time::Duration;

    const SECOND: u64 = 1_000_000_000;

    /// A waker that counts its wake-ups.
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        (counter.clone(), Waker::from(counter))
    }

    fn wakes(counter: &Counter) -> usize {
        counter.0.load(Ordering::SeqCst)
    }

    #[test]
    fn idle_waits_for_its_deadline() {
        let _guard = shared_signals();
        let deadline = monotonic_ns() + 30_000_000;
        idle(Some(deadline));
        let now = monotonic_ns();
        assert!(now >= deadline, "returned {} ns early", deadline - now);
        assert!(
            now < deadline + SECOND,
            "returned {} ns late",
            now - deadline
        );
    }

    #[test]
    fn idle_with_a_past_deadline_returns_immediately() {
        let _guard = shared_signals();
        let start = monotonic_ns();
        idle(Some(start.saturating_sub(SECOND)));
        idle(Some(0));
        idle(Some(start));
        assert!(monotonic_ns() - start < SECOND / 2);
    }

    #[test]
    fn readable_pipe_wakes_and_unregisters() {
        let _guard = shared_signals();
        let (reader, mut writer) = std::io::pipe().unwrap();
        let (counter, waker) = counting_waker();
        register(reader.as_raw_fd(), Interest::Readable, &waker);
        assert_eq!(registered_count(), 1);
        let start = monotonic_ns();
        let feeder = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            writer.write_all(b"x").unwrap();
            writer
        });
        idle(None);
        let elapsed = monotonic_ns() - start;
        assert_eq!(wakes(&counter), 1);
        assert_eq!(registered_count(), 0);
        assert!(elapsed >= 15_000_000, "woke after only {elapsed} ns");
        drop(feeder.join().unwrap());
    }

    #[test]
    fn writable_empty_pipe_wakes_at_once() {
        let _guard = shared_signals();
        let (_reader, writer) = std::io::pipe().unwrap();
        let (counter, waker) = counting_waker();
        register(writer.as_raw_fd(), Interest::Writable, &waker);
        let start = monotonic_ns();
        idle(Some(start + 5 * SECOND));
        assert!(monotonic_ns() - start < SECOND);
        assert_eq!(wakes(&counter), 1);
        assert_eq!(registered_count(), 0);
    }

    #[test]
    fn ready_now_reports_without_waiting_or_registering() {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let (r, w) = (reader.as_raw_fd(), writer.as_raw_fd());
        assert!(!ready_now(r, Interest::Readable).unwrap());
        assert!(ready_now(w, Interest::Writable).unwrap());
        writer.write_all(b"x").unwrap();
        assert!(ready_now(r, Interest::Readable).unwrap());
        // A full pipe is not writable.
        // SAFETY: `w` is the open write end; F_SETFL only sets its flags.
        let set = unsafe { libc::fcntl(w, libc::F_SETFL, libc::O_NONBLOCK) };
        assert_eq!(set, 0);
        while writer.write(&[0u8; 4096]).is_ok() {}
        assert!(!ready_now(w, Interest::Writable).unwrap());
        // The writer gone, the reader is ready (end of stream) for good.
        drop(writer);
        assert!(ready_now(r, Interest::Readable).unwrap());
        assert_eq!(registered_count(), 0);
    }

    #[test]
    fn only_ready_interests_are_woken() {
        let _guard = shared_signals();
        let (reader, writer) = std::io::pipe().unwrap();
        let (read_counter, read_waker) = counting_waker();
        let (write_counter, write_waker) = counting_waker();
        register(reader.as_raw_fd(), Interest::Readable, &read_waker);
        register(writer.as_raw_fd(), Interest::Writable, &write_waker);
        assert_eq!(registered_count(), 2);
        idle(Some(monotonic_ns() + 5 * SECOND));
        assert_eq!(wakes(&write_counter), 1);
        assert_eq!(wakes(&read_counter), 0);
        assert_eq!(registered_count(), 1);
        deregister(reader.as_raw_fd());
        assert_eq!(registered_count(), 0);
    }

    /// Both interests on one descriptor (a socket's reading and writing
    /// halves): each is woken when ready, and the other stays registered.
    #[test]
    fn both_interests_of_one_descriptor_wait_and_wake_apart() {
        let _guard = shared_signals();
        let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let fd = ours.as_raw_fd();
        let (read_counter, read_waker) = counting_waker();
        let (write_counter, write_waker) = counting_waker();
        register(fd, Interest::Readable, &read_waker);
        register(fd, Interest::Writable, &write_waker);
        assert_eq!(registered_count(), 2);
        // Writable at once; nothing to read yet.
        idle(Some(monotonic_ns() + 5 * SECOND));
        assert_eq!((wakes(&read_counter), wakes(&write_counter)), (0, 1));
        assert!(is_registered(fd, Interest::Readable, &read_waker));
        assert_eq!(registered_count(), 1);
        theirs.write_all(b"x").unwrap();
        idle(Some(monotonic_ns() + 5 * SECOND));
        assert_eq!((wakes(&read_counter), wakes(&write_counter)), (1, 1));
        assert_eq!(registered_count(), 0);
        // A wait given up leaves the other interest's registration.
        register(fd, Interest::Readable, &read_waker);
        {
            let mut wait = Box::pin(wait(fd, Interest::Writable));
            let mut cx = Context::from_waker(&write_waker);
            // (Registers; the descriptor is writable, but only `idle` says.)
            assert!(wait.as_mut().poll(&mut cx).is_pending());
            assert_eq!(registered_count(), 2);
        }
        assert_eq!(registered_count(), 1);
        assert!(is_registered(fd, Interest::Readable, &read_waker));
        idle(Some(monotonic_ns() + 5 * SECOND));
        assert_eq!((wakes(&read_counter), wakes(&write_counter)), (2, 1));
        deregister(fd);
    }

    /// A task's waker is registered once; another task's is added.
    #[test]
    fn registering_adds_each_tasks_waker_once() {
        let (_reader, writer) = std::io::pipe().unwrap();
        let (first, first_waker) = counting_waker();
        let (second, second_waker) = counting_waker();
        register(writer.as_raw_fd(), Interest::Writable, &first_waker);
        register(writer.as_raw_fd(), Interest::Writable, &first_waker);
        assert_eq!(registered_count(), 1);
        register(writer.as_raw_fd(), Interest::Writable, &second_waker);
        assert_eq!(registered_count(), 2);
        let _guard = shared_signals();
        idle(Some(monotonic_ns() + 5 * SECOND));
        assert_eq!(wakes(&first), 1);
        assert_eq!(wakes(&second), 1);
        assert_eq!(registered_count(), 0);
    }

    /// A `Wait` polled with another waker moves its registration to it.
    #[test]
    fn a_wait_polled_with_another_waker_moves_its_registration() {
        let _guard = shared_signals();
        let (_reader, writer) = std::io::pipe().unwrap();
        let (first, first_waker) = counting_waker();
        let (second, second_waker) = counting_waker();
        let mut future = Box::pin(wait(writer.as_raw_fd(), Interest::Writable));
        assert!(
            future
                .as_mut()
                .poll(&mut Context::from_waker(&first_waker))
                .is_pending()
        );
        let mut cx = Context::from_waker(&second_waker);
        assert!(future.as_mut().poll(&mut cx).is_pending());
        assert_eq!(registered_count(), 1);
        idle(Some(monotonic_ns() + 5 * SECOND));
        assert_eq!((wakes(&first), wakes(&second)), (0, 1));
        assert!(future.as_mut().poll(&mut cx).is_ready());
    }

    /// Two tasks waiting for the same readiness of one descriptor (two
    /// tasks writing through one shared UDP socket) are both woken: the
    /// second registration does not drop the first task's, which would
    /// then wait for good. Each `Wait` completes once woken.
    #[test]
    fn two_tasks_waiting_on_one_descriptor_are_both_woken() {
        let _guard = shared_signals();
        let (_reader, writer) = std::io::pipe().unwrap();
        let fd = writer.as_raw_fd();
        let (first, first_waker) = counting_waker();
        let (second, second_waker) = counting_waker();
        let mut first_wait = Box::pin(wait(fd, Interest::Writable));
        let mut second_wait = Box::pin(wait(fd, Interest::Writable));
        let mut first_cx = Context::from_waker(&first_waker);
        let mut second_cx = Context::from_waker(&second_waker);
        assert!(first_wait.as_mut().poll(&mut first_cx).is_pending());
        assert!(second_wait.as_mut().poll(&mut second_cx).is_pending());
        assert_eq!(registered_count(), 2);
        idle(Some(monotonic_ns() + 5 * SECOND));
        assert_eq!((wakes(&first), wakes(&second)), (1, 1));
        assert!(first_wait.as_mut().poll(&mut first_cx).is_ready());
        assert!(second_wait.as_mut().poll(&mut second_cx).is_ready());
        assert_eq!(registered_count(), 0);
        // One given up: the other stays registered, and is woken.
        let mut first_wait = Box::pin(wait(fd, Interest::Writable));
        let mut second_wait = Box::pin(wait(fd, Interest::Writable));
        assert!(first_wait.as_mut().poll(&mut first_cx).is_pending());
        assert!(second_wait.as_mut().poll(&mut second_cx).is_pending());
        drop(first_wait);
        assert_eq!(registered_count(), 1);
        idle(Some(monotonic_ns() + 5 * SECOND));
        assert_eq!((wakes(&first), wakes(&second)), (1, 2));
        assert!(second_wait.as_mut().poll(&mut second_cx).is_ready());
    }

    /// Two `Wait`s of one task on the same readiness of one descriptor
    /// (a task selecting over two writes through one socket): dropping one
    /// leaves the other registered, and it is woken.
    #[test]
    fn one_tasks_second_wait_outlives_the_first() {
        let _guard = shared_signals();
        let (_reader, writer) = std::io::pipe().unwrap();
        let fd = writer.as_raw_fd();
        let (counter, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut first = Box::pin(wait(fd, Interest::Writable));
        let mut second = Box::pin(wait(fd, Interest::Writable));
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert!(second.as_mut().poll(&mut cx).is_pending());
        drop(first);
        assert_eq!(
            registered_count(),
            1,
            "the second wait lost its registration"
        );
        idle(Some(monotonic_ns() + 5 * SECOND));
        assert_eq!(wakes(&counter), 1);
        assert!(second.as_mut().poll(&mut cx).is_ready());
        assert_eq!(registered_count(), 0);
    }

    #[test]
    fn deregister_removes_both_interests() {
        let (reader, _writer) = std::io::pipe().unwrap();
        let (counter, waker) = counting_waker();
        register(reader.as_raw_fd(), Interest::Readable, &waker);
        register(reader.as_raw_fd(), Interest::Writable, &waker);
        assert_eq!(registered_count(), 2);
        deregister(reader.as_raw_fd());
        assert_eq!(registered_count(), 0);
        // Deregistering an unknown descriptor is harmless.
        deregister(reader.as_raw_fd());
        let _guard = shared_signals();
        idle(Some(monotonic_ns() + 10_000_000));
        assert_eq!(wakes(&counter), 0);
    }

    #[test]
    fn hangup_wakes_both_interests() {
        let _guard = shared_signals();
        let (reader, writer) = std::io::pipe().unwrap();
        let (read_counter, read_waker) = counting_waker();
        let (write_counter, write_waker) = counting_waker();
        // Writability of a read end never comes: only POLLHUP wakes this.
        register(reader.as_raw_fd(), Interest::Readable, &read_waker);
        register(reader.as_raw_fd(), Interest::Writable, &write_waker);
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            drop(writer);
        });
        let start = monotonic_ns();
        idle(Some(start + 5 * SECOND));
        assert!(monotonic_ns() - start < 5 * SECOND, "no POLLHUP");
        assert_eq!(wakes(&read_counter), 1);
        assert_eq!(wakes(&write_counter), 1);
        assert_eq!(registered_count(), 0);
        closer.join().unwrap();
    }

    #[test]
    fn invalid_descriptor_is_woken_and_dropped() {
        let _guard = shared_signals();
        // A descriptor number that is not open (far above any limit this
        // process reaches), so no parallel test can reuse it meanwhile.
        let closed_fd: RawFd = 0x3fff_fff0;
        let (counter, waker) = counting_waker();
        register(closed_fd, Interest::Readable, &waker);
        let start = monotonic_ns();
        idle(Some(start + 5 * SECOND));
        assert!(monotonic_ns() - start < SECOND, "no POLLNVAL");
        assert_eq!(wakes(&counter), 1);
        assert_eq!(registered_count(), 0);
    }

    #[test]
    fn registrations_are_per_thread() {
        let (_reader, writer) = std::io::pipe().unwrap();
        let (_counter, waker) = counting_waker();
        register(writer.as_raw_fd(), Interest::Writable, &waker);
        let other = std::thread::spawn(registered_count).join().unwrap();
        assert_eq!(other, 0);
        assert_eq!(registered_count(), 1);
        deregister(writer.as_raw_fd());
    }

    #[test]
    fn wait_future_completes_after_readiness() {
        let _guard = shared_signals();
        let (reader, mut writer) = std::io::pipe().unwrap();
        let (counter, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(wait(reader.as_raw_fd(), Interest::Readable));
        assert!(future.as_mut().poll(&mut cx).is_pending());
        assert_eq!(registered_count(), 1);
        // A spurious poll keeps it pending and registered.
        assert!(future.as_mut().poll(&mut cx).is_pending());
        assert_eq!(registered_count(), 1);
        writer.write_all(b"x").unwrap();
        idle(Some(monotonic_ns() + 5 * SECOND));
        assert_eq!(wakes(&counter), 1);
        assert!(future.as_mut().poll(&mut cx).is_ready());
        assert_eq!(registered_count(), 0);
    }

    #[test]
    fn dropping_a_pending_wait_unregisters() {
        let (reader, _writer) = std::io::pipe().unwrap();
        let (_counter, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut future = Box::pin(wait(reader.as_raw_fd(), Interest::Readable));
        assert!(future.as_mut().poll(&mut cx).is_pending());
        assert_eq!(registered_count(), 1);
        drop(future);
        assert_eq!(registered_count(), 0);
    }

    #[test]
    fn waker_may_register_again_while_being_woken() {
        /// Re-registers itself for writability when woken.
        struct Rearm(RawFd, AtomicUsize);
        impl Wake for Rearm {
            fn wake(self: Arc<Self>) {
                self.1.fetch_add(1, Ordering::SeqCst);
                let fd = self.0;
                register(fd, Interest::Writable, &Waker::from(self));
            }
        }
        let _guard = shared_signals();
        let (_reader, writer) = std::io::pipe().unwrap();
        let rearm = Arc::new(Rearm(writer.as_raw_fd(), AtomicUsize::new(0)));
        register(
            writer.as_raw_fd(),
            Interest::Writable,
            &Waker::from(rearm.clone()),
        );
        idle(Some(monotonic_ns() + 5 * SECOND));
        assert_eq!(rearm.1.load(Ordering::SeqCst), 1);
        assert_eq!(registered_count(), 1);
        deregister(writer.as_raw_fd());
    }
}
