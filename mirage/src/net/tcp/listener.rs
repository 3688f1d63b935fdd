//! Listeners: a port accepting connections, with a backlog that bounds its
//! half-open connections plus those waiting to be accepted. Beyond the
//! backlog a SYN is answered statelessly with a SYN cookie (when enabled),
//! so a SYN flood costs no memory; the cookie's ACK is accepted only for a
//! while after cookies were sent.

use super::{ConnId, ListenerId, TcpEngine, TcpError};
use crate::rt::Waiters;
use alloc::collections::VecDeque;
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
    /// The tasks and futures waiting to accept: several may accept on one
    /// listener, and each is woken by the next connection. A future with a
    /// token takes its waker out when dropped
    /// ([`TcpEngine::cancel_accept_waiter`]).
    waiters: Waiters,
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
            waiters: Waiters::default(),
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
        self.waiters.register_task(w);
    }

    /// Wakes every task waiting to accept (those that find the queue
    /// empty register again).
    pub(crate) fn wake(&mut self) {
        self.waiters.wake_all();
    }
}

impl TcpEngine {
    /// As [`TcpEngine::register_accept_waker`], for a waiting future that
    /// cancels its wait when dropped ([`TcpEngine::cancel_accept_waiter`]):
    /// `token` names the future's registration (0 at first, which this
    /// sets; the future keeps it for its next registrations). Two futures
    /// of one task, with the same waker, are registered apart.
    pub fn register_accept_waiter(
        &mut self,
        l: ListenerId,
        w: &Waker,
        token: &mut u64,
    ) -> Result<(), TcpError> {
        let li = self.listener_mut(l).ok_or(TcpError::InvalidHandle)?;
        li.waiters.register(token, w);
        Ok(())
    }

    /// Takes the waker of the future `token` (from
    /// [`TcpEngine::register_accept_waiter`]) out of the listener's: it is
    /// no longer waiting (dropped, or done). Nothing if the listener is
    /// gone or the waker was woken already.
    pub fn cancel_accept_waiter(&mut self, l: ListenerId, token: u64) {
        if let Some(li) = self.listener_mut(l) {
            li.waiters.cancel(token);
        }
    }
}
