//! Listeners: a port accepting connections, with a backlog that bounds its
//! half-open connections plus those waiting to be accepted. Beyond the
//! backlog a SYN is answered statelessly with a SYN cookie (when enabled),
//! so a SYN flood costs no memory; the cookie's ACK is accepted only for a
//! while after cookies were sent.

use super::ConnId;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::task::Waker;

/// How long after the last cookie was sent cookie ACKs are accepted
/// (the cookie itself is valid for at most two 64-second periods).
pub(crate) const COOKIE_ACCEPT_NS: u64 = 128_000_000_000;

/// A listening port.
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) port: u16,
    pub(crate) backlog: usize,
    /// Connections in SYN-RECEIVED that belong to this listener.
    pub(crate) half_open: usize,
    /// Established connections not yet accepted.
    pub(crate) queue: VecDeque<ConnId>,
    /// The tasks waiting to accept, each once: several tasks may accept
    /// on one listener, and each is woken by the next connection.
    wakers: Vec<Waker>,
    /// Cookie ACKs are accepted until then.
    pub(crate) cookies_until: Option<u64>,
}

impl Listener {
    pub(crate) fn new(port: u16, backlog: usize) -> Listener {
        Listener {
            port,
            backlog: backlog.max(1),
            half_open: 0,
            queue: VecDeque::new(),
            wakers: Vec::new(),
            cookies_until: None,
        }
    }

    /// Whether the backlog has room for one more connection.
    pub(crate) fn has_room(&self) -> bool {
        self.half_open + self.queue.len() < self.backlog
    }

    /// Registers `w` to be woken by the next connection, besides the
    /// other tasks waiting (a task waiting again is not added twice).
    pub(crate) fn register(&mut self, w: &Waker) {
        if !self.wakers.iter().any(|o| o.will_wake(w)) {
            self.wakers.push(w.clone());
        }
    }

    /// Wakes every task waiting to accept (those that find the queue
    /// empty register again).
    pub(crate) fn wake(&mut self) {
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }
}
