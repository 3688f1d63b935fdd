//! Termination signals (`SIGINT`, `SIGTERM`) and the self-pipe that lets
//! them interrupt [`crate::reactor::idle`].
//!
//! The handlers are async-signal-safe: they only store the signal number
//! in an atomic and `write(2)` one byte to a non-blocking, close-on-exec
//! pipe, saving and restoring `errno`. The reactor polls the read end of
//! that pipe, so a signal arriving at any moment — even just before the
//! executor goes idle — ends the current (or next) idle step; the byte
//! stays in the pipe until an idle step drains it.
//!
//! This state is process-wide by nature (signal dispositions are). The
//! pipe is shared: with several threads idling at once, every thread
//! blocked in `idle` when the byte arrives wakes, but one that enters
//! `idle` after another thread drained it does not. The single-threaded
//! executor this layer serves never has that problem; other threads can
//! consult [`termination_requested`].

use std::io;
use std::os::fd::RawFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};

/// The first termination signal received, 0 while none arrived.
static TERMINATION: AtomicI32 = AtomicI32::new(0);
/// Read end of the self-pipe, -1 until it exists. Never closed once set.
static PIPE_READ: AtomicI32 = AtomicI32::new(-1);
/// Write end of the self-pipe, -1 until it exists. Never closed once set,
/// so a handler can never write into a reused descriptor number.
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
/// Serialises installation; `true` once every handler is installed.
static INSTALLED: Mutex<bool> = Mutex::new(false);

/// Installs the `SIGINT` and `SIGTERM` handlers and ignores `SIGPIPE`.
///
/// The handlers record the signal (see [`termination_requested`]) and wake
/// the reactor through the self-pipe. `SA_RESTART` is not set, so blocking
/// system calls in the thread that takes the signal fail with `EINTR`
/// instead of hiding it. With `SIGPIPE` ignored, writing to a closed
/// socket or pipe returns `EPIPE` instead of killing the process.
///
/// Idempotent: later calls do nothing once a call succeeded; a call that
/// failed may be retried.
///
/// # Errors
///
/// Returns the error of `pipe2(2)` or `sigaction(2)` if one fails.
pub fn install_termination_handlers() -> io::Result<()> {
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if *installed {
        return Ok(());
    }
    if PIPE_WRITE.load(Ordering::SeqCst) < 0 {
        let (read, write) = nonblocking_pipe()?;
        // The read end first: whoever sees the write end set may rely on
        // the read end being there.
        PIPE_READ.store(read, Ordering::SeqCst);
        PIPE_WRITE.store(write, Ordering::SeqCst);
    }
    set_disposition(libc::SIGPIPE, libc::SIG_IGN)?;
    let handler: extern "C" fn(libc::c_int) = on_termination;
    set_disposition(libc::SIGINT, handler as libc::sighandler_t)?;
    set_disposition(libc::SIGTERM, handler as libc::sighandler_t)?;
    *installed = true;
    Ok(())
}

/// The number of the first termination signal (`SIGINT` = 2 or
/// `SIGTERM` = 15) received since [`install_termination_handlers`], or
/// `None` while none arrived. Once set, it stays set.
pub fn termination_requested() -> Option<i32> {
    match TERMINATION.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}

/// The read end of the self-pipe, once the handlers are installed. The
/// reactor polls it for readability.
pub(crate) fn wakeup_fd() -> Option<RawFd> {
    let fd = PIPE_READ.load(Ordering::SeqCst);
    (fd >= 0).then_some(fd)
}

/// Reads every byte currently in the self-pipe, so that the next idle step
/// blocks again until a new signal arrives.
pub(crate) fn drain_wakeup() {
    let Some(fd) = wakeup_fd() else { return };
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: `buf` is a valid, writable buffer for the whole call and
        // `read` writes at most `buf.len()` bytes into it.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        // Stop at EAGAIN (empty: the pipe is non-blocking), at any other
        // error, at end of file, and after a short read (drained).
        if n <= 0 || (n as usize) < buf.len() {
            return;
        }
    }
}

/// The handler of `SIGINT` and `SIGTERM`. Async-signal-safe: atomics and
/// `write(2)` only, and `errno` is preserved for the interrupted code.
extern "C" fn on_termination(sig: libc::c_int) {
    // Keep the first signal: a second one does not rewrite the reason.
    let _ = TERMINATION.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
    let fd = PIPE_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        let saved = errno();
        poke(fd);
        set_errno(saved);
    }
}

/// Writes one byte to the self-pipe's write end `fd`. A full pipe
/// (`EAGAIN`) already guarantees a wake-up, and nothing useful can be done
/// about other errors inside a signal handler, so the result is ignored.
fn poke(fd: RawFd) {
    let byte = 1u8;
    // SAFETY: `byte` lives for the whole call and `write` reads exactly one
    // byte from it; `write(2)` is async-signal-safe.
    unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
}

/// The calling thread's `errno`.
fn errno() -> libc::c_int {
    // SAFETY: `__errno_location` returns a valid pointer to the calling
    // thread's `errno`, which lives as long as the thread.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's `errno`.
fn set_errno(value: libc::c_int) {
    // SAFETY: as in `errno`: the pointer is valid and thread-local.
    unsafe { *libc::__errno_location() = value };
}

/// Creates a pipe whose both ends are non-blocking and close-on-exec,
/// returning `(read end, write end)`.
fn nonblocking_pipe() -> io::Result<(RawFd, RawFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: `fds` is a valid, writable array of the two ints `pipe2`
    // fills in.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((fds[0], fds[1]))
}

/// Sets the disposition of `sig` to `handler` (a function pointer, or
/// `SIG_IGN`/`SIG_DFL`) with `sigaction(2)`: no `SA_RESTART`, no
/// `SA_SIGINFO`, and both termination signals blocked while it runs.
fn set_disposition(sig: libc::c_int, handler: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: `sigaction` is a plain C struct for which all-zero bytes are
    // a valid value (empty mask, no flags, SIG_DFL).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler;
    action.sa_flags = 0;
    // SAFETY: `action.sa_mask` is a valid, writable `sigset_t`; the signal
    // numbers are valid.
    unsafe {
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaddset(&mut action.sa_mask, libc::SIGINT);
        libc::sigaddset(&mut action.sa_mask, libc::SIGTERM);
    }
    // SAFETY: `action` is fully initialised; its handler is either a
    // constant disposition or `on_termination`, an `extern "C"` function
    // taking the signal number and doing only async-signal-safe work. A
    // null old-action pointer is allowed.
    let rc = unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::monotonic_ns;
    use crate::reactor::idle;
    use crate::test_support::exclusive_signals;
    use std::sync::mpsc;
    use std::time::Duration;

    /// The only test that raises signals or looks at
    /// `termination_requested`; it holds the signal lock exclusively, so
    /// no other test idles while the self-pipe carries a byte.
    #[test]
    fn termination_signals_are_recorded_and_end_idle() {
        let _guard = exclusive_signals();
        install_termination_handlers().unwrap();
        // Idempotent.
        install_termination_handlers().unwrap();
        let fd = wakeup_fd().expect("self-pipe exists after install");
        // SAFETY: `fd` is the open read end of the self-pipe; F_GETFD and
        // F_GETFL only query it.
        let (fd_flags, fl_flags) = unsafe {
            (
                libc::fcntl(fd, libc::F_GETFD),
                libc::fcntl(fd, libc::F_GETFL),
            )
        };
        assert_ne!(fd_flags & libc::FD_CLOEXEC, 0, "self-pipe is close-on-exec");
        assert_ne!(fl_flags & libc::O_NONBLOCK, 0, "self-pipe is non-blocking");

        // idle(None) with nothing registered blocks...
        let (tx, rx) = mpsc::channel();
        let idler = std::thread::spawn(move || {
            let start = monotonic_ns();
            idle(None);
            tx.send(monotonic_ns() - start).unwrap();
        });
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            rx.try_recv(),
            Err(mpsc::TryRecvError::Empty),
            "idle(None) with nothing registered returned without a signal"
        );

        // ...until a termination signal arrives (delivered to this thread;
        // the handler wakes the other one through the self-pipe).
        // SAFETY: raising SIGTERM is sound: its handler is installed above.
        assert_eq!(unsafe { libc::raise(libc::SIGTERM) }, 0);
        assert_eq!(termination_requested(), Some(libc::SIGTERM));
        assert_eq!(termination_requested(), Some(15));
        let blocked_ns = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("idle(None) did not return after SIGTERM");
        assert!(blocked_ns >= 50_000_000, "blocked only {blocked_ns} ns");
        idler.join().unwrap();

        // A signal that arrives before the idle step still ends it
        // promptly: the byte waits in the pipe.
        // SAFETY: raising SIGINT is sound: its handler is installed above.
        assert_eq!(unsafe { libc::raise(libc::SIGINT) }, 0);
        let start = monotonic_ns();
        idle(None);
        assert!(monotonic_ns() - start < 1_000_000_000);
        // The first signal stays the recorded one.
        assert_eq!(termination_requested(), Some(15));

        // The pipe was drained: the next idle waits for its deadline.
        let deadline = monotonic_ns() + 20_000_000;
        idle(Some(deadline));
        assert!(monotonic_ns() >= deadline);

        // SIGPIPE is ignored.
        // SAFETY: a zeroed `sigaction` is a valid out-parameter; a null new
        // action only queries the current disposition.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: as above; `old` is valid and writable.
        let rc = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) };
        assert_eq!(rc, 0);
        assert_eq!(old.sa_sigaction, libc::SIG_IGN);
        // And the termination handlers do not restart system calls.
        // SAFETY: as above.
        let rc = unsafe { libc::sigaction(libc::SIGTERM, std::ptr::null(), &mut old) };
        assert_eq!(rc, 0);
        assert_eq!(old.sa_flags & libc::SA_RESTART, 0);
    }
}
