//! The seed's `tcp` device type (`Tcpip.Tcp.S`, flows as `Mirage_flow.S`)
//! as the [`Tcp`], [`TcpListener`] and [`Flow`] traits, and their
//! implementation over this stack's [`TcpEngine`]: [`DirectTcp`] (the
//! seed's `direct_tcp`).
//!
//! Flows implement the `embedded-io-async` `Read` and `Write` traits, so
//! that no_std libraries written against them run over any stack: a read
//! of `Ok(0)` is the end of the stream, as those traits say.
//!
//! [`DirectTcp`] does not read the network: the stack's runner hands it
//! the segments the IP layer received ([`DirectTcp::process`]) and runs
//! [`DirectTcp::dispatch`] after each batch and when its timers are due.
//! What an application operation gives the engine to send (a write's
//! data, a read's window update, a connect's SYN, a close's FIN) leaves at
//! once, from the application's task, without waking the runner; the
//! operation raises [`DirectTcp::kicked`] only when the runner must act:
//! when the engine's next deadline is earlier than the one the runner
//! waits for ([`DirectTcp::set_runner_deadline`]), or the device refused a
//! segment. The engine is never borrowed across an await.
//!
//! Time: the runner's turn reads the clock once, at the first segment of
//! a batch or at its dispatch, and the whole turn uses that time.

use core::cell::{Cell, RefCell};
use core::future::{Future, poll_fn};
use core::marker::PhantomData;
use core::net::IpAddr;
use core::task::Poll;

use crate::Mclock;
use crate::Random;
use crate::net::ip::{Datagram, ECN_MASK, IcmpError, Ip, SendOptions, protocol};
use crate::rt::Signal;

use super::{Config, ConnId, KeepAlive, ListenerId, Stats, TcpEngine, TcpError, Transmit};

/// The backlog of a listener made by [`Tcp::bind`].
pub const DEFAULT_BACKLOG: usize = 128;

impl embedded_io::Error for TcpError {
    fn kind(&self) -> embedded_io::ErrorKind {
        use embedded_io::ErrorKind;
        match self {
            TcpError::InvalidHandle => ErrorKind::NotConnected,
            // (A write after our shutdown, or on a finished connection:
            // `EPIPE`, which std's `TcpStream` tells as `BrokenPipe`.)
            TcpError::Closed | TcpError::Eof => ErrorKind::BrokenPipe,
            TcpError::Reset => ErrorKind::ConnectionReset,
            TcpError::Refused => ErrorKind::ConnectionRefused,
            TcpError::TimedOut => ErrorKind::TimedOut,
            TcpError::AddrInUse => ErrorKind::AddrInUse,
            TcpError::NoPortAvailable | TcpError::Unaddressable => ErrorKind::AddrNotAvailable,
            TcpError::TooManyConnections => ErrorKind::OutOfMemory,
            // (embedded-io has no unreachable kinds.)
            TcpError::HostUnreachable | TcpError::NetworkUnreachable => ErrorKind::Other,
            TcpError::PermissionDenied => ErrorKind::PermissionDenied,
            TcpError::InvalidArgument => ErrorKind::InvalidInput,
        }
    }
}

/// The seed's `tcp` device type: opening and accepting connections.
pub trait Tcp {
    /// A connection.
    type Flow: Flow + 'static;
    /// A listening port.
    type Listener: TcpListener<Flow = Self::Flow>;

    /// Opens a connection to `dst:port` (MirageOS's `create_connection`).
    /// Fails, on both stacks, with `Unaddressable` for an endpoint that is
    /// not one host's (port 0; unspecified, multicast, broadcast
    /// addresses) or that no route or address of ours reaches, `Refused`
    /// when the peer resets the SYN, `HostUnreachable` /
    /// `NetworkUnreachable` when no neighbour answers on the link or an
    /// ICMP error says so, `TimedOut` when no answer comes at all,
    /// `NoPortAvailable` when no ephemeral port is free toward `dst`. An
    /// IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is the IPv4 host, on
    /// both stacks (as to Linux's dual-stack sockets).
    async fn connect(&'static self, dst: IpAddr, port: u16) -> Result<Self::Flow, TcpError>;

    /// Listens on `port` of every address of the stack (0: an ephemeral
    /// port, which [`TcpListener::local_port`] tells).
    fn bind(&'static self, port: u16) -> Result<Self::Listener, TcpError>;

    /// Listens on `port` and runs `handler` on each connection, in a task
    /// of its own (the seed's `listen`), until the unikernel stops: a
    /// connection's own errors (reset before it was accepted, ...) are the
    /// handler's or skipped, and only an error of the listener itself
    /// (logged) ends the loop. Port 0 is `Unaddressable`: nobody could
    /// know the port (use [`Tcp::bind`]).
    async fn listen<F, Fut>(&'static self, port: u16, handler: F) -> Result<(), TcpError>
    where
        F: Fn(Self::Flow) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
        Self::Listener: 'static,
    {
        if port == 0 {
            return Err(TcpError::Unaddressable);
        }
        let listener = self.bind(port)?;
        let spawner = crate::rt::Spawner::for_current_executor().await;
        let inner = spawner.clone();
        spawner.spawn(async move {
            loop {
                match listener.accept().await {
                    Ok(flow) => {
                        inner.spawn(handler(flow));
                    }
                    Err(e) => {
                        log::warn!(target: "tcp", "listener on port {}: {e}", listener.local_port());
                        break;
                    }
                }
            }
        });
        Ok(())
    }
}

/// A listening port.
pub trait TcpListener {
    /// The connections it accepts.
    type Flow: Flow;

    /// The port.
    fn local_port(&self) -> u16;

    /// Waits for the next connection.
    async fn accept(&self) -> Result<Self::Flow, TcpError>;
}

/// The room [`Flow::write_with`]'s default offers.
pub const WRITE_WITH_ROOM: usize = 4096;

/// A TCP connection (`Mirage_flow.S`): bytes both ways, half-close, close.
pub trait Flow:
    embedded_io_async::Read<Error = TcpError>
    + embedded_io_async::Write<Error = TcpError>
    + embedded_io_async::ReadReady
    + embedded_io_async::WriteReady
{
    /// Our address and port.
    fn local(&self) -> (IpAddr, u16);

    /// The peer's address and port (MirageOS's `dst`).
    fn remote(&self) -> (IpAddr, u16);

    /// Turns Nagle's algorithm off (`true`: small writes go out at once,
    /// as `TCP_NODELAY` does) or back on (the default).
    fn set_nodelay(&self, nodelay: bool) -> Result<(), TcpError>;

    /// Turns keep-alive probes on with these times, or off (`None`), as
    /// MirageOS's `?keepalive` does for a connection. The idle time counts
    /// from now (or from the connection's last segment, whichever is
    /// later). The socket stack's kernel counts whole seconds: times are
    /// rounded up and clamped to what Linux takes (1 to 32,767 s, 1 to 127
    /// probes).
    fn set_keepalive(&self, keepalive: Option<KeepAlive>) -> Result<(), TcpError>;

    /// Sets the connection's user timeout (RFC 9293 section 3.8.3's R2,
    /// as Linux's `TCP_USER_TIMEOUT`), or clears it (`None`, the default
    /// unless [`crate::net::tcp::Config::user_timeout_ns`] says otherwise).
    /// With it, the connection fails with [`TcpError::TimedOut`] once data
    /// it sent went unacknowledged for `timeout_ns`, or the probes of a
    /// shut window or of keep-alive went unanswered that long, instead of
    /// after a number of tries: a longer one rides out a long outage, a
    /// shorter one notices a dead peer sooner. A wait already under way
    /// counts from its start. The socket stack's kernel counts
    /// milliseconds (rounded up, at most 2^31 - 1), and for keep-alive
    /// from the last segment received (the idle time included), so that
    /// it gives up after the first unanswered probe's interval once the
    /// idle time exceeds the user timeout.
    fn set_user_timeout(&self, timeout_ns: Option<u64>) -> Result<(), TcpError>;

    /// Retransmission timeouts in a row of the oldest data this end sent
    /// and the peer has not acknowledged (or of the SYN): 0 while
    /// acknowledgments come. From R1 on ([`crate::net::tcp::Config::r1_retries`],
    /// 3) the stack has told the IP layer that the path may be broken
    /// (RFC 9293 section 3.8.3), and this is how the application learns of
    /// the delivery problem before the connection gives up at R2 (its
    /// SHLD-9). The socket stack reads the kernel's count (`TCP_INFO`'s
    /// `tcpi_retransmits`; its R1 is `net.ipv4.tcp_retries1`, 3).
    fn consecutive_timeouts(&self) -> Result<u32, TcpError>;

    /// Sets the DiffServ codepoint (RFC 2474; 0 to 63) of the segments the
    /// connection sends from now on (RFC 9293 section 3.9.1, MUST-48 and
    /// SHLD-21), as Linux's `IP_TOS` / `IPV6_TCLASS` set to `dscp << 2`:
    /// the two ECN bits are not the application's (they are the TCP's:
    /// ECT(0) on the data of a connection that negotiated ECN, by
    /// [`crate::net::tcp::Config::ecn`] on the direct stack, by the
    /// kernel's `net.ipv4.tcp_ecn` on the socket stack). Every later segment
    /// carries it: data, ACKs, retransmissions, FIN, a RST that aborts
    /// the connection. Only our direction's: the peer chooses its own
    /// (SHLD-23). The default is [`crate::net::tcp::Config::dscp`] on the
    /// direct stack, which accepted connections take as well (not the
    /// DSCP of the peer's SYN), and 0 on the socket stack (the kernel's).
    /// A value above 63 is [`TcpError::InvalidArgument`], and changes
    /// nothing.
    fn set_dscp(&self, dscp: u8) -> Result<(), TcpError>;

    /// The reading half that [`Flow::split`] lends.
    type Reader<'a>: embedded_io_async::Read<Error = TcpError> + embedded_io_async::ReadReady
    where
        Self: 'a;

    /// The writing half that [`Flow::split`] lends.
    type Writer<'a>: embedded_io_async::Write<Error = TcpError> + embedded_io_async::WriteReady
    where
        Self: 'a;

    /// Splits the flow into its reading and its writing half, usable at
    /// once by two futures of one task ([`crate::rt::join`]ed or
    /// [`crate::rt::select`]ed), as a proxy copies both ways. Both borrow
    /// the flow (so they cannot go to tasks of their own, whose futures are
    /// `'static`); shutting down and closing stay with it.
    fn split(&mut self) -> (Self::Reader<'_>, Self::Writer<'_>);

    /// Writes every buffer, in order (MirageOS's `writev`). This default
    /// writes them one by one; the direct stack's queues them together,
    /// and the socket stack's writes them in one vectored write, so that
    /// small buffers leave in one segment.
    async fn writev(&mut self, bufs: &[&[u8]]) -> Result<(), TcpError> {
        for buf in bufs {
            embedded_io_async::Write::write_all(self, buf).await?;
        }
        Ok(())
    }

    /// Reads in place: waits until received bytes are ready or the stream
    /// ended, then calls `f` with the first contiguous run of them (an
    /// empty slice at the end of the stream, and only then). `f` returns
    /// how many of them it consumed, which the next read does not see
    /// again (at most the slice's length counts), and a value, which this
    /// returns. On the direct stack the slice is the connection's receive
    /// buffer itself: no copy, and consuming opens the window.
    ///
    /// - A run ends where the receive buffer wraps, so one call may see
    ///   fewer bytes than are held; the next call sees the rest.
    /// - Consuming nothing does not wait for more: the next call sees the
    ///   same bytes at once. A reader that needs more than a run (a
    ///   record split by the wrap) copies it out, or uses `read`.
    /// - `f` runs while the stack holds the connection: it must not call
    ///   into the same stack (its flows, listeners, counters), which
    ///   panics as a `RefCell` borrowed twice does.
    /// - A future dropped before `f` ran consumed nothing.
    async fn read_with<R>(&mut self, f: impl FnOnce(&[u8]) -> (usize, R)) -> Result<R, TcpError>;

    /// Writes in place: `f` writes the bytes to send at the start of a
    /// room it is given (never empty) and returns how many (at most the
    /// room's length counts) and a value, which this returns once they are
    /// the stack's. On the direct stack this waits until the connection
    /// can take bytes, and the room is the connection's send buffer itself
    /// (no copy), whose old bytes are unspecified: zeros, or bytes this
    /// connection's writes left there before (sent, or written by an
    /// earlier `f` and not counted), never another connection's. As for
    /// [`Flow::read_with`], `f` must not call into the same stack, and a
    /// future dropped before `f` ran wrote nothing.
    ///
    /// This default, for flows that can neither lend a buffer nor tell
    /// when they can take bytes, calls `f` at once with a zeroed buffer of
    /// [`WRITE_WITH_ROOM`] bytes, then writes what `f` wrote with
    /// `write_all`: it waits after `f`, not before, and a future dropped
    /// during that wait may have written only part of it, as `write_all`'s
    /// may. (The socket stack's flows wait first.)
    async fn write_with<R>(
        &mut self,
        f: impl FnOnce(&mut [u8]) -> (usize, R),
    ) -> Result<R, TcpError> {
        let mut room = [0u8; WRITE_WITH_ROOM];
        let (n, r) = f(&mut room);
        embedded_io_async::Write::write_all(self, &room[..n.min(WRITE_WITH_ROOM)]).await?;
        Ok(r)
    }

    /// Shuts our direction down: the peer reads the end of the stream after
    /// what was written (MirageOS's `shutdown `write`); reading goes on.
    /// Shutting down again, or once the connection ended in order, is
    /// `Ok`; on a connection that failed it is its error (`Reset`,
    /// `TimedOut`), as for `write`.
    async fn shutdown_write(&mut self) -> Result<(), TcpError>;

    /// Closes the connection; it finishes in the background (this does
    /// not wait for the peer). A FIN follows what was written; with
    /// received bytes left unread, the connection is reset instead (RFC
    /// 2525 section 2.17), on both stacks. Dropping a flow closes it the
    /// same way.
    async fn close(self) -> Result<(), TcpError>
    where
        Self: Sized;

    /// Writes every byte of `data`, in order, as urgent data (RFC 9293
    /// section 3.9's SEND with the urgent flag; `send(2)` with `MSG_OOB`):
    /// the bytes go in the stream as `write_all`'s would, in line, and the
    /// connection's urgent pointer moves to the byte after the last one,
    /// so that the peer is told that urgent data is coming and where it
    /// ends, however long it is (MUST-31). Each step of the write moves it
    /// after what that step queued (as Linux does for each `send`), so a
    /// write that waits for room has told the peer already. An empty
    /// `data` is `Ok` and marks nothing.
    ///
    /// - Direct stack: the pointer goes on every segment before it (data,
    ///   retransmissions, probes, ACKs) until the urgent data is
    ///   acknowledged, and Nagle's algorithm holds none of it back. Urgent
    ///   data longer than 65,535 bytes is announced with the largest
    ///   pointer until the end comes within reach.
    /// - Socket stack: the kernel's `send(MSG_OOB)`, which does the same.
    async fn write_urgent(&mut self, data: &[u8]) -> Result<(), TcpError>;

    /// The urgent data the peer sent that is yet to be read (RFC 9293
    /// MUST-33): the number of bytes from the next one a read returns up to
    /// and including the last urgent byte, or `None` when no urgent data
    /// remains to be read. Urgent bytes stay in the stream, in order (as
    /// `SO_OOBINLINE` keeps them): reads return them as any other; an
    /// application that wants to skip to the end of the urgent data reads
    /// that many bytes.
    ///
    /// - Direct stack: reads do not stop at urgent bytes. The count is
    ///   there from the moment the peer's urgent pointer arrives,
    ///   which may be before the urgent bytes themselves (the count then
    ///   includes bytes not received yet); after the peer's FIN, no more
    ///   than the bytes before it. A later pointer extends the urgent data.
    /// - Socket stack: Linux tracks only the last urgent byte, and only
    ///   once it has arrived: `None` until then; the count is exact
    ///   afterwards (Linux's reads stop at the mark, which a peek counts).
    ///   A read there may thus return fewer bytes than were ready: the
    ///   bytes before the last urgent byte, then it and what follows.
    fn urgent(&self) -> Result<Option<usize>, TcpError>;

    /// Waits until the peer's urgent pointer arrives while no urgent data
    /// was pending, or advances (RFC 9293 MUST-32), since this last
    /// returned (or the connection opened), and returns what
    /// [`Flow::urgent`] returns then. It does not report a pointer whose
    /// urgent data was all read before it was called (nothing urgent
    /// remains), nor the same pointer twice. Fails with `Eof` once the
    /// peer closed its direction (no urgent data can come any more), with
    /// the connection's error if it failed. It borrows the flow: an
    /// application that also reads waits for this between reads, or looks
    /// at [`Flow::urgent`] after each read.
    ///
    /// - Direct stack: told when the pointer arrives (the urgent bytes
    ///   may follow).
    /// - Socket stack: told when the last urgent byte arrives (Linux's
    ///   `POLLPRI`), and for each new last urgent byte.
    async fn urgent_arrived(&self) -> Result<usize, TcpError>;
}

/// The IP layer as the engine sends through it.
struct IpTx<'a, I> {
    ip: &'a I,
    /// [`Config::ttl`](super::Config::ttl).
    ttl: Option<u8>,
    /// The device offers segmentation offload at all.
    offload: bool,
}

impl<I> IpTx<'_, I> {
    /// How a segment with `tos` as its type of service byte goes: it fits
    /// the MTU (the MSS says so) or goes through the segmentation offload,
    /// never fragmented.
    #[inline(always)]
    fn options(&self, tos: u8) -> SendOptions {
        SendOptions {
            ttl: self.ttl,
            fragment: false,
            dscp: tos >> 2,
            ecn: tos & ECN_MASK,
        }
    }
}

/// The TCP and IP fixed headers.
const TCP_HEADER_LEN: usize = 20;

impl<I: Ip> Transmit for IpTx<'_, I> {
    fn mss_hint(&self, dst: IpAddr) -> usize {
        self.ip.link_mtu(dst).saturating_sub(TCP_HEADER_LEN)
    }

    fn path_mss_hint(&self, dst: IpAddr) -> usize {
        self.ip.mtu(dst).saturating_sub(TCP_HEADER_LEN)
    }

    fn is_local_unicast(&self, addr: IpAddr) -> bool {
        self.ip.has_address(addr)
    }

    fn negative_advice(&mut self, dst: IpAddr) {
        self.ip.negative_advice(dst);
    }

    fn send(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        segment_len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> bool {
        self.send_tos(src, dst, 0, segment_len, fill)
    }

    #[inline]
    fn segmentation_offload(&self, dst: IpAddr) -> usize {
        // (A device without the offload costs one test per dispatch turn.)
        if !self.offload {
            return 0;
        }
        self.ip.segmentation_offload(dst)
    }

    fn send_segmented(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        tos: u8,
        segment_len: usize,
        mss: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> bool {
        let options = self.options(tos);
        match self
            .ip
            .send_segmented(src, dst, options, segment_len, mss, fill)
        {
            Some(Ok(sent)) => sent,
            // The offload went away within the dispatch turn that found
            // it (it cannot: the next hop's address stays known in one
            // turn), or the device failed: lost as on a wire, and resent
            // by the timers in segments of one MSS.
            Some(Err(e)) => {
                log::debug!(target: "tcp", "segment to {dst}: {e}");
                true
            }
            None => {
                log::debug!(target: "tcp", "segment to {dst}: the offload is gone");
                true
            }
        }
    }

    #[inline(always)]
    fn send_tos(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        tos: u8,
        segment_len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> bool {
        let options = self.options(tos);
        match self.ip.send(
            Some(src),
            dst,
            protocol::TCP,
            options,
            segment_len,
            |_, buf| fill(buf),
        ) {
            Ok(sent) => sent,
            // No route or address now: lost as on a wire; the engine's
            // timers retransmit and eventually give up.
            Err(e) => {
                log::debug!(target: "tcp", "segment to {dst}: {e}");
                true
            }
        }
    }
}

/// TCP over the IP layer `I`, timed by `C` (the seed's `direct_tcp`).
pub struct DirectTcp<I: 'static, C: 'static> {
    ip: &'static I,
    clock: &'static C,
    engine: RefCell<TcpEngine>,
    kick: Signal,
    /// The time of the runner's current turn, read at its first use and
    /// forgotten by its dispatch.
    turn_now: Cell<Option<u64>>,
    /// The deadline the runner's timer waits for (`None`: no timer).
    runner_deadline: Cell<Option<u64>>,
    /// The engine's [`Config::ttl`](super::Config::ttl), for the IP layer.
    ttl: Option<u8>,
    /// The IP layer's device offers segmentation offload (asked once).
    offload: bool,
}

impl<I, C> core::fmt::Debug for DirectTcp<I, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DirectTcp").finish_non_exhaustive()
    }
}

impl<I: Ip, C: Mclock> DirectTcp<I, C> {
    /// TCP over `ip` with `config`; the secret of its initial sequence
    /// numbers and SYN cookies comes from `random`.
    pub fn connect(
        ip: &'static I,
        clock: &'static C,
        random: &impl Random,
        config: Config,
    ) -> Self {
        let mut secret = [0u8; 32];
        random.fill(&mut secret);
        DirectTcp {
            ip,
            clock,
            ttl: config.ttl,
            offload: ip.offers_segmentation_offload(),
            engine: RefCell::new(TcpEngine::new(config, secret)),
            kick: Signal::new(),
            turn_now: Cell::new(None),
            runner_deadline: Cell::new(None),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut TcpEngine) -> R) -> R {
        f(&mut self.engine.borrow_mut())
    }

    /// The time of the runner's turn.
    fn turn_now(&self) -> u64 {
        match self.turn_now.get() {
            Some(now) => now,
            None => {
                let now = self.clock.elapsed_ns();
                self.turn_now.set(Some(now));
                now
            }
        }
    }

    /// Handles an ICMP error about a segment we sent (from the runner;
    /// see [`TcpEngine::icmp_error`]); a genuine report of a smaller path
    /// MTU goes on to the IP layer ([`Ip::learn_path_mtu`]), so that the
    /// next connections to the destination start with segments that fit.
    pub fn icmp_error(&self, error: &IcmpError<'_>) {
        let now = self.turn_now();
        if let Some((dst, mtu)) = self.with(|e| e.icmp_error(now, error)) {
            self.ip
                .learn_path_mtu(dst, usize::try_from(mtu).unwrap_or(usize::MAX));
        }
    }

    /// The IP layer as the engine sees it.
    fn tx(&self) -> IpTx<'_, I> {
        IpTx {
            ip: self.ip,
            ttl: self.ttl,
            offload: self.offload,
        }
    }

    /// Handles a received TCP segment (from the runner).
    pub fn process(&self, datagram: &Datagram<'_>) {
        let now = self.turn_now();
        let mut tx = self.tx();
        self.with(|e| {
            e.process_tos(
                now,
                &datagram.src,
                &datagram.dst,
                datagram.tos,
                &datagram.payload,
                &mut tx,
            )
        });
    }

    /// Sends what is pending and runs due timers (from the runner, at the
    /// end of its turn); `false` when the device refused a segment (the
    /// rest goes at the next call).
    pub fn dispatch(&self) -> bool {
        // The clock is read only when the engine has a timer or output: a
        // turn of a stack without connections reads none.
        let turn = self.turn_now.take();
        let now = || turn.unwrap_or_else(|| self.clock.elapsed_ns());
        let mut tx = self.tx();
        self.with(|e| {
            // Most turns (a batch whose ACKs are delayed, a wake-up for an
            // application) leave nothing to send and no timer due.
            let now = if e.has_pending_output() {
                now()
            } else {
                match e.next_deadline() {
                    None => return true,
                    Some(due) => {
                        let now = now();
                        if due > now {
                            return true;
                        }
                        now
                    }
                }
            };
            e.dispatch(now, &mut tx)
        })
    }

    /// The runner tells when its timer fires next (`None`: never), so that
    /// application operations wake it only when they need it earlier.
    pub fn set_runner_deadline(&self, deadline: Option<u64>) {
        self.runner_deadline.set(deadline);
    }

    /// After an application operation: sends what it gave the engine to
    /// send, and wakes the runner if the device refused a segment or the
    /// engine now needs the runner earlier than its timer.
    #[inline(always)]
    fn flush(&self, e: &mut TcpEngine, now: Option<u64>) {
        if e.has_pending_output() {
            self.flush_output(e, now);
        }
    }

    /// [`Self::flush`] with output pending.
    #[inline(never)]
    fn flush_output(&self, e: &mut TcpEngine, now: Option<u64>) {
        let now = now.unwrap_or_else(|| self.clock.elapsed_ns());
        let sent = e.dispatch(now, &mut self.tx());
        let earlier = match (e.next_deadline(), self.runner_deadline.get()) {
            (Some(due), Some(armed)) => due < armed,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !sent || earlier {
            self.kick.raise();
        }
    }

    /// An application operation on the engine, then [`Self::flush`].
    // (Inlined, as `op_at`: the result, written by `f` field by field,
    // was otherwise copied whole to the caller right away, a load that
    // stalls on store forwarding: ~5 % of a request/response round trip.)
    #[inline(always)]
    fn op<R>(&self, f: impl FnOnce(&mut TcpEngine) -> R) -> R {
        let mut e = self.engine.borrow_mut();
        let r = f(&mut e);
        self.flush(&mut e, None);
        r
    }

    /// [`Self::op`] for an operation that read the clock itself (`now`):
    /// its flush sends at the same time.
    #[inline(always)]
    fn op_at<R>(&self, now: u64, f: impl FnOnce(&mut TcpEngine, u64) -> R) -> R {
        let mut e = self.engine.borrow_mut();
        let r = f(&mut e, now);
        self.flush(&mut e, Some(now));
        r
    }

    /// When [`DirectTcp::dispatch`] must run next at the latest.
    pub fn next_deadline(&self) -> Option<u64> {
        self.engine.borrow().next_deadline()
    }

    /// Raised by application operations that need the runner: the device
    /// refused a segment, or the engine's next deadline moved before the
    /// runner's.
    pub fn kicked(&self) -> &Signal {
        &self.kick
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.engine.borrow().stats().clone()
    }

    /// What the engine holds (connections, listeners, TIME-WAIT records).
    pub fn occupancy(&self) -> super::Occupancy {
        self.engine.borrow().occupancy()
    }

    /// The engine, for queries and options the traits do not cover
    /// ([`TcpEngine::info`], [`TcpEngine::set_nodelay`], ...).
    pub fn with_engine<R>(&self, f: impl FnOnce(&mut TcpEngine) -> R) -> R {
        // The options may change timers as well as output: the runner
        // looks again.
        let r = self.op(f);
        self.kick.raise();
        r
    }
}

impl<I: Ip, C: Mclock> Tcp for DirectTcp<I, C> {
    type Flow = DirectFlow<I, C>;
    type Listener = DirectListener<I, C>;

    /// The next hop is resolved first, as a host's stack does: the SYN
    /// leaves once it can, and a neighbour that never answers fails the
    /// connect with `HostUnreachable` (Linux's `EHOSTUNREACH`), not with
    /// `TimedOut` after every SYN was lost.
    async fn connect(&'static self, dst: IpAddr, port: u16) -> Result<DirectFlow<I, C>, TcpError> {
        // (An IPv4-mapped address is the IPv4 host, as to the socket
        // stack's dual-stack sockets: it must not go on the wire.)
        let dst = dst.to_canonical();
        // (An endpoint that is not one host's: refused before resolving,
        // as the engine refuses it; so is a broadcast address of one of
        // our networks, which only the IP layer knows: RFC 9293 section
        // 3.9.1.1, MUST-46.)
        if port == 0 || !super::valid_unicast(dst) || self.ip.is_broadcast(dst) {
            return Err(TcpError::Unaddressable);
        }
        let src = self.ip.src(dst).ok_or(TcpError::Unaddressable)?;
        // (Other errors are the engine's to tell, as before.)
        if let Err(crate::net::ip::IpError::HostUnreachable(_)) = self.ip.resolve(dst).await {
            return Err(TcpError::HostUnreachable);
        }
        let now = self.clock.elapsed_ns();
        let id = self.op_at(now, |e, now| e.connect(now, (src, 0), (dst, port)))?;
        let flow = DirectFlow {
            tcp: self,
            id,
            closed: false,
        };
        poll_fn(|cx| self.with(|e| e.poll_connected(id, cx.waker()))).await?;
        Ok(flow)
    }

    fn bind(&'static self, port: u16) -> Result<DirectListener<I, C>, TcpError> {
        let (id, port) = self.with(|e| {
            let id = e.listen(port, DEFAULT_BACKLOG)?;
            e.listener_port(id).map(|port| (id, port))
        })?;
        Ok(DirectListener {
            tcp: self,
            id,
            port,
        })
    }
}

/// A listening port of [`DirectTcp`]; stops listening when dropped.
pub struct DirectListener<I: 'static, C: 'static> {
    tcp: &'static DirectTcp<I, C>,
    id: ListenerId,
    port: u16,
}

impl<I, C> core::fmt::Debug for DirectListener<I, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DirectListener")
            .field("port", &self.port)
            .finish()
    }
}

// (`Drop` cannot require `Ip`, which sending needs: the runner sends.)
impl<I, C> Drop for DirectListener<I, C> {
    fn drop(&mut self) {
        let _ = self.tcp.engine.borrow_mut().close_listener(self.id);
        self.tcp.kick.raise();
    }
}

impl<I: Ip, C: Mclock> TcpListener for DirectListener<I, C> {
    type Flow = DirectFlow<I, C>;

    fn local_port(&self) -> u16 {
        self.port
    }

    /// A future dropped while waiting takes its waker out of the
    /// listener's: abandoned waits (a `select` with a timeout) pile up
    /// nothing.
    async fn accept(&self) -> Result<DirectFlow<I, C>, TcpError> {
        let tcp = self.tcp;
        let mut waiter = AcceptWaiter {
            tcp,
            listener: self.id,
            token: 0,
        };
        let token = &mut waiter.token;
        let id = poll_fn(|cx| {
            tcp.with(|e| match e.accept(self.id) {
                Ok(Some(id)) => Poll::Ready(Ok(id)),
                Ok(None) => match e.register_accept_waiter(self.id, cx.waker(), token) {
                    Ok(()) => Poll::Pending,
                    Err(err) => Poll::Ready(Err(err)),
                },
                Err(err) => Poll::Ready(Err(err)),
            })
        })
        .await?;
        Ok(DirectFlow {
            tcp,
            id,
            closed: false,
        })
    }
}

/// The registration of a [`DirectListener::accept`] future's waker,
/// taken out when the future is dropped or done.
struct AcceptWaiter<I: 'static, C: 'static> {
    tcp: &'static DirectTcp<I, C>,
    listener: ListenerId,
    /// The engine's name for the registration (0: none yet).
    token: u64,
}

impl<I, C> Drop for AcceptWaiter<I, C> {
    fn drop(&mut self) {
        if self.token != 0
            && let Ok(mut e) = self.tcp.engine.try_borrow_mut()
        {
            e.cancel_accept_waiter(self.listener, self.token);
        }
    }
}

/// A connection of [`DirectTcp`]; closed (in the background) when
/// dropped.
pub struct DirectFlow<I: 'static, C: 'static> {
    tcp: &'static DirectTcp<I, C>,
    id: ConnId,
    closed: bool,
}

impl<I, C> core::fmt::Debug for DirectFlow<I, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DirectFlow").field("id", &self.id).finish()
    }
}

// (`Drop` cannot require `Ip`, which sending needs: the runner sends.)
impl<I, C> Drop for DirectFlow<I, C> {
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.tcp.engine.borrow_mut().close(self.id);
            self.tcp.kick.raise();
        }
    }
}

impl<I: Ip, C: Mclock> DirectFlow<I, C> {
    /// The connection's handle in the engine, for
    /// [`DirectTcp::with_engine`].
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Resets the connection.
    pub fn abort(mut self) -> Result<(), TcpError> {
        self.closed = true;
        self.tcp.op(|e| e.abort(self.id))
    }

    fn endpoint(&self, remote: bool) -> (IpAddr, u16) {
        self.tcp
            .with(|e| e.endpoints(self.id))
            .map(|(l, r)| if remote { r } else { l })
            .unwrap_or((IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED), 0))
    }
}

/// A flow's operations on the connection `id`, shared by [`DirectFlow`]
/// and its halves ([`DirectReader`], [`DirectWriter`]). Each is the one
/// `poll_fn` future that the trait's method awaits (a nested `async fn`
/// added a state machine per call, about 2 % of a request/response round
/// trip).
impl<I: Ip, C: Mclock> DirectTcp<I, C> {
    /// `Read::read` of a non-empty `buf`.
    #[inline(always)]
    fn flow_read<'a>(
        &'a self,
        id: ConnId,
        buf: &'a mut [u8],
    ) -> impl Future<Output = Result<usize, TcpError>> + 'a {
        // Reading opens the window: the engine may owe the peer an update,
        // which `op` sends.
        // (The result is mapped after `op`, from registers: mapped inside,
        // it was spilled and reloaded in overlapping pieces right after
        // being stored, which stalls on store forwarding.)
        poll_fn(
            move |cx| match self.op(|e| e.recv_or_register(id, buf, cx.waker())) {
                Ok(0) => Poll::Pending,
                Ok(n) => Poll::Ready(Ok(n)),
                Err(TcpError::Eof) => Poll::Ready(Ok(0)),
                Err(err) => Poll::Ready(Err(err)),
            },
        )
    }

    /// `Read::read_exact`: the trait's loop of reads as one future, the
    /// same engine operations without a read future per step.
    #[inline(always)]
    fn flow_read_exact<'a>(
        &'a self,
        id: ConnId,
        buf: &'a mut [u8],
    ) -> impl Future<Output = Result<(), embedded_io_async::ReadExactError<TcpError>>> + 'a {
        use embedded_io_async::ReadExactError;
        let mut filled = 0;
        poll_fn(move |cx| {
            while filled < buf.len() {
                match self.op(|e| e.recv_or_register(id, &mut buf[filled..], cx.waker())) {
                    Ok(0) => return Poll::Pending,
                    Ok(n) => filled += n,
                    Err(TcpError::Eof) => return Poll::Ready(Err(ReadExactError::UnexpectedEof)),
                    Err(err) => return Poll::Ready(Err(ReadExactError::Other(err))),
                }
            }
            Poll::Ready(Ok(()))
        })
    }

    /// `Write::write` of non-empty `data`.
    #[inline(always)]
    fn flow_write<'a>(
        &'a self,
        id: ConnId,
        data: &'a [u8],
    ) -> impl Future<Output = Result<usize, TcpError>> + 'a {
        // (Mapped after `op`: see `flow_read`.)
        poll_fn(
            move |cx| match self.op(|e| e.send_or_register(id, data, cx.waker())) {
                Ok(0) => Poll::Pending,
                other => Poll::Ready(other),
            },
        )
    }

    /// `Write::write_all`: the trait's loop of writes as one future.
    #[inline(always)]
    fn flow_write_all<'a>(
        &'a self,
        id: ConnId,
        data: &'a [u8],
    ) -> impl Future<Output = Result<(), TcpError>> + 'a {
        let mut rest = data;
        poll_fn(move |cx| {
            while !rest.is_empty() {
                match self.op(|e| e.send_or_register(id, rest, cx.waker())) {
                    Ok(0) => return Poll::Pending,
                    Ok(n) => rest = &rest[n..],
                    Err(err) => return Poll::Ready(Err(err)),
                }
            }
            Poll::Ready(Ok(()))
        })
    }
}

/// The reading and writing traits of a flow or a half of one, over
/// [`DirectTcp`]'s `flow_*` operations on its connection (`tcp`, `id`).
macro_rules! direct_io {
    (read $t:ty) => {
        impl<I: Ip, C: Mclock> embedded_io::ErrorType for $t {
            type Error = TcpError;
        }

        impl<I: Ip, C: Mclock> embedded_io_async::Read for $t {
            async fn read(&mut self, buf: &mut [u8]) -> Result<usize, TcpError> {
                if buf.is_empty() {
                    return Ok(0);
                }
                self.tcp.flow_read(self.id, buf).await
            }

            async fn read_exact(
                &mut self,
                buf: &mut [u8],
            ) -> Result<(), embedded_io_async::ReadExactError<TcpError>> {
                self.tcp.flow_read_exact(self.id, buf).await
            }
        }

        /// `true`: the next `read` returns at once (bytes, the end of the
        /// stream, or the connection's error).
        impl<I: Ip, C: Mclock> embedded_io_async::ReadReady for $t {
            fn read_ready(&mut self) -> Result<bool, TcpError> {
                self.tcp.with(|e| e.can_recv(self.id))
            }
        }
    };
    (write $t:ty) => {
        impl<I: Ip, C: Mclock> embedded_io_async::Write for $t {
            async fn write(&mut self, data: &[u8]) -> Result<usize, TcpError> {
                if data.is_empty() {
                    return Ok(0);
                }
                self.tcp.flow_write(self.id, data).await
            }

            async fn write_all(&mut self, data: &[u8]) -> Result<(), TcpError> {
                self.tcp.flow_write_all(self.id, data).await
            }

            /// The data is the engine's once written, and what the windows
            /// allow has left: nothing to do.
            async fn flush(&mut self) -> Result<(), TcpError> {
                Ok(())
            }
        }

        /// `true`: the next `write` returns at once (taking bytes, or with
        /// the connection's error).
        impl<I: Ip, C: Mclock> embedded_io_async::WriteReady for $t {
            fn write_ready(&mut self) -> Result<bool, TcpError> {
                self.tcp.with(|e| e.can_send(self.id))
            }
        }
    };
}

direct_io!(read DirectFlow<I, C>);
direct_io!(write DirectFlow<I, C>);
direct_io!(read DirectReader<'_, I, C>);
direct_io!(write DirectWriter<'_, I, C>);

/// The reading half of a [`DirectFlow`] ([`Flow::split`]).
pub struct DirectReader<'a, I: 'static, C: 'static> {
    tcp: &'static DirectTcp<I, C>,
    id: ConnId,
    _flow: PhantomData<&'a mut DirectFlow<I, C>>,
}

/// The writing half of a [`DirectFlow`] ([`Flow::split`]).
pub struct DirectWriter<'a, I: 'static, C: 'static> {
    tcp: &'static DirectTcp<I, C>,
    id: ConnId,
    _flow: PhantomData<&'a mut DirectFlow<I, C>>,
}

impl<I: Ip, C: Mclock> embedded_io::ErrorType for DirectWriter<'_, I, C> {
    type Error = TcpError;
}

impl<I, C> core::fmt::Debug for DirectReader<'_, I, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DirectReader")
            .field("id", &self.id)
            .finish()
    }
}

impl<I, C> core::fmt::Debug for DirectWriter<'_, I, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DirectWriter")
            .field("id", &self.id)
            .finish()
    }
}

impl<I: Ip, C: Mclock> Flow for DirectFlow<I, C> {
    type Reader<'a> = DirectReader<'a, I, C>;
    type Writer<'a> = DirectWriter<'a, I, C>;

    fn split(&mut self) -> (DirectReader<'_, I, C>, DirectWriter<'_, I, C>) {
        let (tcp, id) = (self.tcp, self.id);
        (
            DirectReader {
                tcp,
                id,
                _flow: PhantomData,
            },
            DirectWriter {
                tcp,
                id,
                _flow: PhantomData,
            },
        )
    }

    fn local(&self) -> (IpAddr, u16) {
        self.endpoint(false)
    }

    fn remote(&self) -> (IpAddr, u16) {
        self.endpoint(true)
    }

    fn set_nodelay(&self, nodelay: bool) -> Result<(), TcpError> {
        self.tcp.op(|e| e.set_nodelay(self.id, nodelay))
    }

    fn set_keepalive(&self, keepalive: Option<KeepAlive>) -> Result<(), TcpError> {
        // (The operation's flush dispatches the connection, which arms the
        // timer, and tells the runner if it must wake earlier.)
        self.tcp.op(|e| e.set_keepalive(self.id, keepalive))
    }

    fn set_user_timeout(&self, timeout_ns: Option<u64>) -> Result<(), TcpError> {
        self.tcp.op(|e| e.set_user_timeout(self.id, timeout_ns))
    }

    fn consecutive_timeouts(&self) -> Result<u32, TcpError> {
        self.tcp
            .with_engine(|e| e.info(self.id))
            .map(|i| i.consecutive_timeouts)
    }

    fn set_dscp(&self, dscp: u8) -> Result<(), TcpError> {
        self.tcp.with(|e| e.set_dscp(self.id, dscp))
    }

    /// Each step queues as much of the buffers as the send buffer takes,
    /// in one engine operation, before anything is sent: small buffers
    /// leave in one segment (written one by one, the first would go alone
    /// and Nagle's algorithm hold the rest until the peer's acknowledgment).
    async fn writev(&mut self, bufs: &[&[u8]]) -> Result<(), TcpError> {
        let (tcp, id) = (self.tcp, self.id);
        // (The buffer being written, and how much of it was.)
        let (mut i, mut done) = (0, 0);
        poll_fn(|cx| {
            tcp.op(|e| {
                while let Some(buf) = bufs.get(i) {
                    let rest = &buf[done..];
                    if rest.is_empty() {
                        (i, done) = (i + 1, 0);
                        continue;
                    }
                    match e.send_or_register(id, rest, cx.waker()) {
                        Ok(0) => return Poll::Pending,
                        Ok(n) => done += n,
                        Err(err) => return Poll::Ready(Err(err)),
                    }
                }
                Poll::Ready(Ok(()))
            })
        })
        .await
    }

    async fn read_with<R>(&mut self, f: impl FnOnce(&[u8]) -> (usize, R)) -> Result<R, TcpError> {
        let (tcp, id) = (self.tcp, self.id);
        let mut f = Some(f);
        // (Consuming may owe the peer a window update, which `op` sends.
        // `None`: nothing ready yet.)
        poll_fn(|cx| {
            let r = tcp.op(|e| e.recv_with_or_register(id, &mut f, cx.waker()));
            r.transpose().map_or(Poll::Pending, Poll::Ready)
        })
        .await
    }

    async fn write_with<R>(
        &mut self,
        f: impl FnOnce(&mut [u8]) -> (usize, R),
    ) -> Result<R, TcpError> {
        let (tcp, id) = (self.tcp, self.id);
        let mut f = Some(f);
        poll_fn(|cx| {
            let r = tcp.op(|e| e.send_with_or_register(id, &mut f, cx.waker()));
            r.transpose().map_or(Poll::Pending, Poll::Ready)
        })
        .await
    }

    async fn shutdown_write(&mut self) -> Result<(), TcpError> {
        self.tcp.op(|e| e.shutdown_write(self.id))
    }

    async fn close(mut self) -> Result<(), TcpError> {
        self.closed = true;
        self.tcp.op(|e| e.close(self.id))
    }

    async fn write_urgent(&mut self, data: &[u8]) -> Result<(), TcpError> {
        let (tcp, id) = (self.tcp, self.id);
        let mut rest = data;
        poll_fn(|cx| {
            while !rest.is_empty() {
                match tcp.op(|e| e.send_urgent_or_register(id, rest, cx.waker())) {
                    Ok(0) => return Poll::Pending,
                    Ok(n) => rest = &rest[n..],
                    Err(err) => return Poll::Ready(Err(err)),
                }
            }
            Poll::Ready(Ok(()))
        })
        .await
    }

    fn urgent(&self) -> Result<Option<usize>, TcpError> {
        self.tcp.with(|e| e.urgent(self.id))
    }

    async fn urgent_arrived(&self) -> Result<usize, TcpError> {
        let (tcp, id) = (self.tcp, self.id);
        poll_fn(|cx| tcp.with(|e| e.poll_urgent(id, cx.waker()))).await
    }
}
