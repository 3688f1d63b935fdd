//! The POLL hypercall's host side (section 2.2): a CLOCK_MONOTONIC timerfd
//! and an epoll set over it and every tap.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::error::{HvtError, Result};

/// The epoll `data.u64` of the timer (Solo5's `~1U`).
const TIMER_TOKEN: u64 = !1u32 as u64;

/// At most this many events per wait (`MFT_MAX_ENTRIES`).
const MAX_EVENTS: usize = 64;

/// A timerfd plus an epoll set over it and the network devices.
#[derive(Debug)]
pub struct Poller {
    epoll: OwnedFd,
    timer: OwnedFd,
}

impl Poller {
    /// Creates the timerfd and the epoll set; `nets` are each tap's
    /// manifest index and fd (the fds must outlive the poller's use).
    pub fn new(nets: impl IntoIterator<Item = (usize, RawFd)>) -> Result<Self> {
        // SAFETY: plain syscall; the result is checked.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(HvtError::PollSetup(io::Error::last_os_error()));
        }
        // SAFETY: `epoll` is a fresh fd that nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        // SAFETY: plain syscall; the result is checked.
        let timer = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if timer < 0 {
            return Err(HvtError::PollSetup(io::Error::last_os_error()));
        }
        // SAFETY: `timer` is a fresh fd that nothing else owns.
        let timer = unsafe { OwnedFd::from_raw_fd(timer) };
        let poller = Poller { epoll, timer };
        poller.add(poller.timer.as_raw_fd(), TIMER_TOKEN)?;
        for (index, fd) in nets {
            poller.add(fd, index as u64)?;
        }
        Ok(poller)
    }

    fn add(&self, fd: RawFd, token: u64) -> Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `ev` is a valid event for the duration of the call; the
        // result is checked.
        let rc =
            unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if rc != 0 {
            return Err(HvtError::PollSetup(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Waits up to `timeout_nsecs` (relative; the timer's `tv_nsec` gets
    /// bit 0 set so it is never disarmed by a zero) for a tap to become
    /// readable. Returns the ready set (bit `index` per ready tap) and
    /// their number, the timer excluded.
    pub fn wait(&self, timeout_nsecs: u64) -> Result<(u64, i32)> {
        let it = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (timeout_nsecs / 1_000_000_000).min(i64::MAX as u64) as libc::time_t,
                tv_nsec: ((timeout_nsecs % 1_000_000_000) | 1) as libc::c_long,
            },
        };
        // SAFETY: `it` is valid for the call, the old value is not wanted
        // (NULL); the result is checked.
        let rc =
            unsafe { libc::timerfd_settime(self.timer.as_raw_fd(), 0, &it, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(HvtError::Poll(io::Error::last_os_error()));
        }
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];
        let n = loop {
            // SAFETY: `events` has room for MAX_EVENTS entries; no signal
            // mask (NULL); the result is checked.
            let n = unsafe {
                libc::epoll_pwait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    MAX_EVENTS as libc::c_int,
                    -1,
                    std::ptr::null(),
                )
            };
            if n >= 0 {
                break n as usize;
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(HvtError::Poll(err));
            }
        };
        let mut ready_set = 0u64;
        let mut ready = 0i32;
        for ev in &events[..n.min(MAX_EVENTS)] {
            let token = ev.u64;
            if token == TIMER_TOKEN {
                continue;
            }
            if token < 64 {
                ready_set |= 1 << token;
            }
            ready += 1;
        }
        Ok((ready_set, ready))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn times_out_with_nothing_ready() {
        let p = Poller::new([]).unwrap();
        let t = Instant::now();
        assert_eq!(p.wait(20_000_000).unwrap(), (0, 0));
        assert!(t.elapsed().as_millis() >= 15);
        // Zero still returns (bit 0 of tv_nsec keeps the timer armed).
        assert_eq!(p.wait(0).unwrap(), (0, 0));
    }

    #[test]
    fn reports_a_readable_fd_by_index() {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two ends.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: fresh fds owned here.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let p = Poller::new([(3, r.as_raw_fd())]).unwrap();
        assert_eq!(p.wait(1_000_000).unwrap(), (0, 0));
        // SAFETY: writes one byte from a valid buffer.
        let n = unsafe { libc::write(w.as_raw_fd(), b"x".as_ptr().cast(), 1) };
        assert_eq!(n, 1);
        assert_eq!(p.wait(5_000_000_000).unwrap(), (1 << 3, 1));
    }
}
