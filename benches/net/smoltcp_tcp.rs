//! The TCP workloads on two smoltcp interfaces over the in-memory link,
//! driven by calling `Interface::poll` in a loop, with smoltcp's default
//! socket configuration (no congestion control feature, Nagle on, delayed
//! ACKs of 10 ms, no timestamps) and [`TCP_BUFFER`] bytes of send and
//! receive buffer per socket, as ours.
//!
//! B serves from a pool of two sockets (smoltcp's socket is the
//! connection): one listens while the other finishes its close, and a
//! closed socket listens again. A's one socket connects again once it is
//! in TIME-WAIT (smoltcp allows that), from the next port.

use std::time::{Duration, Instant};

use mirage::net::device::Network;
use mirage::net::device::memory::LinkConfig;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};
use smoltcp::wire::{IpAddress, IpEndpoint};

use super::smoltcp_side::{Host, Watchdog};
use super::{ADDR_A, ADDR_B, CHUNK, MESSAGE, MIB, TCP_BUFFER, TCP_PORT, link_with};

/// How long a workload may go without progress before the benchmark
/// gives up (smoltcp's least retransmission timeout is a second, and it
/// doubles when the retransmission is lost too).
const STALL: Duration = Duration::from_secs(30);

/// The sockets B serves from.
const SERVERS: usize = 2;

/// The first and the last port of A's connections.
const PORTS: (u16, u16) = (49152, 65535);

/// A TCP socket with our buffer sizes.
fn socket() -> tcp::Socket<'static> {
    tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
    )
}

/// Hosts A and B, A's socket and B's.
pub struct SmoltcpTcp {
    a: Host,
    b: Host,
    client: SocketHandle,
    servers: [SocketHandle; SERVERS],
    /// Whether B's sockets echo what they receive (else the workload
    /// reads them).
    echo: bool,
    next_port: u16,
    buf: Vec<u8>,
}

impl SmoltcpTcp {
    /// A connection from A to B, A's end kept full by the workload.
    pub fn bulk(config: LinkConfig) -> Self {
        let mut hosts = Self::hosts(config, false);
        hosts.connect();
        hosts.stream(1, false);
        hosts
    }

    /// An echo server on B and a connection to it from A.
    pub fn round_trip(config: LinkConfig) -> Self {
        let mut hosts = Self::hosts(config, true);
        hosts.connect();
        hosts.round_trips(1);
        hosts
    }

    /// An echo server on B, for connections from A.
    pub fn churn(config: LinkConfig) -> Self {
        let mut hosts = Self::hosts(config, true);
        hosts.connections(1);
        hosts
    }

    fn hosts(config: LinkConfig, echo: bool) -> Self {
        let (na, nb) = link_with(config);
        let mut a = Host::new(na, ADDR_A, 1);
        let mut b = Host::new(nb, ADDR_B, 2);
        let client = a.sockets.add(socket());
        let servers = [(); SERVERS].map(|()| b.sockets.add(socket()));
        let mut hosts = SmoltcpTcp {
            a,
            b,
            client,
            servers,
            echo,
            next_port: PORTS.0,
            buf: vec![0; CHUNK],
        };
        hosts.serve();
        hosts
    }

    fn client(&mut self) -> &mut tcp::Socket<'static> {
        self.a.sockets.get_mut(self.client)
    }

    /// Starts a connection from A's socket, from the next port.
    fn start_connection(&mut self) {
        let port = self.next_port;
        self.next_port = if port == PORTS.1 { PORTS.0 } else { port + 1 };
        let remote = IpEndpoint::new(IpAddress::Ipv4(ADDR_B), TCP_PORT);
        let socket = self.a.sockets.get_mut::<tcp::Socket>(self.client);
        socket
            .connect(self.a.iface.context(), remote, port)
            .expect("connect");
    }

    /// Connects A's socket to B and waits until both ends are established.
    fn connect(&mut self) {
        self.start_connection();
        let mut dog = Watchdog::new(STALL);
        loop {
            self.turn();
            let server_up = self
                .servers
                .iter()
                .any(|&h| self.b.sockets.get::<tcp::Socket>(h).state() == State::Established);
            if self.client().state() == State::Established && server_up {
                return;
            }
            dog.check(|| self.stalled("connect"));
        }
    }

    /// B's application: closed sockets listen again; with `echo`, what a
    /// socket received goes back, and a socket whose peer closed closes.
    fn serve(&mut self) {
        for &h in &self.servers {
            let socket = self.b.sockets.get_mut::<tcp::Socket>(h);
            if matches!(socket.state(), State::Closed | State::TimeWait) {
                socket.listen(TCP_PORT).expect("listen");
            }
            if !self.echo {
                continue;
            }
            while socket.can_recv() {
                let room = socket.send_capacity() - socket.send_queue();
                if room == 0 {
                    break;
                }
                let limit = room.min(self.buf.len());
                let n = socket.recv_slice(&mut self.buf[..limit]).expect("recv");
                let sent = socket.send_slice(&self.buf[..n]).expect("send");
                assert_eq!(sent, n, "room was checked");
            }
            if socket.state() == State::CloseWait && !socket.can_recv() {
                socket.close();
            }
        }
    }

    /// One turn of both hosts: A sends, B receives and its application
    /// answers, B sends, A receives.
    fn turn(&mut self) {
        self.a.poll();
        self.b.poll();
        self.serve();
        self.b.poll();
        self.a.poll();
    }

    /// Takes `n` MiB of the stream at B (A's socket is kept full, so the
    /// stream never pauses between the workload's runs): the time until
    /// B's socket has given up the last byte. B copies the bytes into a
    /// buffer, or with `in_place` looks at them in the socket's.
    pub fn stream(&mut self, n: u64, in_place: bool) -> Duration {
        let len = n * MIB as u64;
        let data = [0x5a; CHUNK];
        let mut got = 0u64;
        let mut dog = Watchdog::new(STALL);
        let started = Instant::now();
        while got < len {
            let tx = self.a.sockets.get_mut::<tcp::Socket>(self.client);
            while tx.send_slice(&data).expect("send") > 0 {}
            self.a.poll();
            self.b.poll();
            let rx = self.b.sockets.get_mut::<tcp::Socket>(self.servers[0]);
            while got < len && rx.can_recv() {
                let want = (len - got).min(CHUNK as u64) as usize;
                got += if in_place {
                    rx.recv(|run| {
                        let n = run.len().min(want);
                        (n, n)
                    })
                } else {
                    rx.recv_slice(&mut self.buf[..want])
                }
                .expect("recv") as u64;
                dog.progress();
            }
            dog.check(|| self.stalled("stream"));
        }
        started.elapsed()
    }

    /// `n` round trips: A sends a request of [`MESSAGE`] bytes, B echoes
    /// it, A takes the whole response before the next request.
    pub fn round_trips(&mut self, n: u64) -> Duration {
        let request = [0x5a; MESSAGE];
        let mut response = [0; MESSAGE];
        let mut dog = Watchdog::new(STALL);
        let started = Instant::now();
        for _ in 0..n {
            let sent = self.client().send_slice(&request).expect("send");
            assert_eq!(sent, MESSAGE, "the send buffer is empty");
            let mut got = 0;
            while got < MESSAGE {
                self.turn();
                got += self
                    .client()
                    .recv_slice(&mut response[got..])
                    .expect("recv");
                dog.check(|| self.stalled("round trip"));
            }
            dog.progress();
        }
        started.elapsed()
    }

    /// `n` connections one after the other: A connects, sends a byte,
    /// takes its echo, closes, and waits for TIME-WAIT (both FINs have
    /// passed; B's socket closes when A's last ACK arrives).
    pub fn connections(&mut self, n: u64) -> Duration {
        let mut dog = Watchdog::new(STALL);
        let started = Instant::now();
        for _ in 0..n {
            self.start_connection();
            let mut sent = false;
            let mut echoed = false;
            loop {
                self.turn();
                let socket = self.client();
                if !sent && socket.may_send() {
                    sent = socket.send_slice(&[1]).expect("send") == 1;
                }
                if sent && !echoed && socket.can_recv() {
                    let mut byte = [0];
                    echoed = socket.recv_slice(&mut byte).expect("recv") == 1;
                    if echoed {
                        socket.close();
                    }
                }
                if echoed && socket.state() == State::TimeWait {
                    break;
                }
                dog.check(|| self.stalled("connection"));
            }
            dog.progress();
        }
        started.elapsed()
    }

    /// The watchdog's message: what stalled, and both links' counters.
    fn stalled(&self, what: &str) -> String {
        format!(
            "{what} stalled: A {:?}, B {:?}",
            self.a.dev.0.stats(),
            self.b.dev.0.stats()
        )
    }

    /// Checks that no frame overflowed a queue of the link and that the
    /// link's faults were applied.
    pub fn check(&self, config: LinkConfig) {
        for host in [&self.a, &self.b] {
            let link = host.dev.0.stats();
            assert_eq!((link.rx_dropped, link.tx_dropped), (0, 0), "{link:?}");
        }
        let lost = self.a.dev.0.fault_stats().dropped + self.b.dev.0.fault_stats().dropped;
        assert_eq!(config.faults[0].drop > 0.0, lost > 0, "frames lost: {lost}");
        if lost > 0 {
            eprintln!("smoltcp: {lost} frames lost");
        }
    }
}
