//! TCP throughput between the unikernel (on spt, and on unix with offload)
//! and the Linux kernel over a tap, against Linux to Linux over loopback
//! on the same machine (issue 5).
//!
//! In a network namespace of its own (as the interoperability tests make
//! them: `tap0`, Linux's side `10.0.0.1/24`), `examples/tcp-sink` and
//! `examples/tcp-echo`, built for spt with the unikernel's own stack
//! (`MIRAGE_NET=direct`), run under the project's spt tender
//! (`mirage-spt --net:service=tap0`, the unikernel at `10.0.0.2`). Linux's
//! side is this program, its sockets opened in the namespace (`setns` on
//! the threads that use them):
//!
//! * one way, Linux to the unikernel: a sender writes [`SIZE_MB`] MB to
//!   `tcp-sink`, shuts its direction down and waits for the sink to close
//!   (it does once it has read, counted and digested everything);
//! * both ways: a client writes as much to `tcp-echo` while reading
//!   the echo back (checked byte for byte), until the echo's end.
//!
//! Both workloads run again with the unikernels built for unix, as Linux
//! processes on the tap with the kernel's TCP segmentation offload
//! (`--interface=tap0 --offload`: TCP segments of up to 64 KiB cross the
//! tap both ways, which the spt tender's Solo5 interface cannot carry).
//!
//! The same two workloads then run between two sockets of the namespace
//! over loopback: a receiver that reads and drops, one that also digests
//! with SHA-256 as `tcp-sink` does (so that the one-way comparison is like
//! for like), and an echo server that writes back what it reads. Every
//! figure is end to end (first byte written to end of stream seen), in MB/s
//! (10^6 bytes per second); both-way figures are per direction.
//!
//! Needs root (namespaces and taps); otherwise prints `SKIPPED` with the
//! reason and exits successfully. Run with `cargo bench --bench tcp_tap`;
//! `TCP_TAP_MB` changes the size of a transfer (default 512).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/netns.rs"]
mod netns;
#[path = "../tests/common/netsim.rs"]
mod netsim;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use netns::{Lines, Netns};
use sha2::{Digest, Sha256};

/// Megabytes per transfer unless `TCP_TAP_MB` says otherwise.
const SIZE_MB: usize = 512;

/// How long the unikernel may take to come up.
const BOOT: Duration = Duration::from_secs(30);

/// The unikernel's address on the tap.
const UNIKERNEL: &str = "10.0.0.2";

/// The data written: a fixed pseudo-random block, repeated.
fn block() -> Vec<u8> {
    netsim::payload(1 << 20, 0x5eed)
}

/// Moves the calling thread into the namespace `name` (threads it spawns
/// follow).
fn enter(name: &str) {
    let path = format!("/var/run/netns/{name}");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // SAFETY: setns with a namespace file descriptor that stays open for
    // the call changes only the calling thread's network namespace.
    let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
}

/// Runs `f` on a thread inside the namespace `name`.
fn in_ns<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let name = name.to_string();
    std::thread::spawn(move || {
        enter(&name);
        f()
    })
    .join()
    .expect("the namespace thread")
}

/// Writes `size` bytes of the block, over and over.
fn write_stream(stream: &mut TcpStream, size: usize, block: &[u8]) {
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len());
        stream.write_all(&block[..n]).expect("write");
        left -= n;
    }
}

/// Connects to `addr`, retrying while the listener comes up.
fn connect(addr: SocketAddr) -> TcpStream {
    let deadline = Instant::now() + BOOT;
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(s) => return s,
            Err(e) if Instant::now() < deadline => {
                eprintln!("connecting to {addr}: {e}; again");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("connect {addr}: {e}"),
        }
    }
}

/// One way: writes `size` bytes to `addr`, shuts down, and waits for the
/// receiver to close; the time from the first byte to that close.
fn send(addr: SocketAddr, size: usize) -> Duration {
    let block = block();
    let mut stream = connect(addr);
    let started = Instant::now();
    write_stream(&mut stream, size, &block);
    stream.shutdown(Shutdown::Write).expect("shutdown");
    let mut rest = [0u8; 64];
    while stream.read(&mut rest).expect("read the end") > 0 {}
    started.elapsed()
}

/// Both ways: writes `size` bytes to an echo at `addr` while reading the
/// echo back and checking it; the time until the echo's end.
fn echo(addr: SocketAddr, size: usize) -> Duration {
    let block = block();
    let mut stream = connect(addr);
    let mut writer = stream.try_clone().expect("clone the socket");
    let started = Instant::now();
    let sent = {
        let block = block.clone();
        std::thread::spawn(move || {
            write_stream(&mut writer, size, &block);
            writer.shutdown(Shutdown::Write).expect("shutdown");
        })
    };
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0usize;
    loop {
        let n = stream.read(&mut buf).expect("read the echo");
        if n == 0 {
            break;
        }
        for (i, &b) in buf[..n].iter().enumerate() {
            let at = (got + i) % block.len();
            assert_eq!(b, block[at], "echoed byte {} differs", got + i);
        }
        got += n;
    }
    let took = started.elapsed();
    sent.join().expect("the writer");
    assert_eq!(got, size, "echoed {got} of {size} bytes");
    took
}

/// What a loopback receiver does with the bytes.
#[derive(Clone, Copy)]
enum Sink {
    /// Drops them.
    Drop,
    /// Digests them with SHA-256, as `tcp-sink` does.
    Sha256,
}

/// A loopback listener serving one connection on a thread: a sink, or an
/// echo. Its address.
fn loopback_server(kind: Option<Sink>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut buf = vec![0u8; 1 << 16];
        let mut digest = Sha256::new();
        loop {
            let n = stream.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            match kind {
                Some(Sink::Drop) => {}
                Some(Sink::Sha256) => digest.update(&buf[..n]),
                None => stream.write_all(&buf[..n]).expect("echo"),
            }
        }
        std::hint::black_box(digest.finalize());
        let _ = stream.shutdown(Shutdown::Both);
    });
    addr
}

/// MB/s of `size` bytes in `took`.
fn rate(size: usize, took: Duration) -> f64 {
    size as f64 / took.as_secs_f64() / 1e6
}

/// How a unikernel runs on the tap.
#[derive(Clone, Copy)]
enum Target {
    /// Under the spt tender.
    Spt,
    /// A unix process, with the tap's segmentation offload.
    UnixOffload,
}

/// Starts `example` for `target` in `ns`; waits for `ready` in its output.
fn unikernel(ns: &mut Netns, target: Target, example: &str, ready: &str) -> Lines {
    let direct = [("MIRAGE_NET", "direct")];
    let cmd = match target {
        Target::Spt => {
            let binary = common::build_example_with(example, "spt", &direct);
            let mut cmd = ns.command(common::tender("mirage-spt").to_str().expect("a path"));
            cmd.arg("--net:service=tap0").arg(&binary);
            cmd
        }
        Target::UnixOffload => {
            let binary = common::build_example_with(example, "unix", &direct);
            let mut cmd = ns.command(binary.to_str().expect("a path"));
            cmd.args(["--interface=tap0", "--offload"]);
            cmd
        }
    };
    let mut lines = ns.spawn(cmd);
    assert!(
        lines.wait_for(ready, BOOT).is_some(),
        "{example} did not come up:\n{}",
        lines.dump()
    );
    lines
}

fn main() {
    if let Some(why) = netns::unavailable() {
        eprintln!("SKIPPED: tcp_tap: {why}");
        return;
    }
    let size = std::env::var("TCP_TAP_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(SIZE_MB)
        * 1_000_000;
    let tap_addr =
        |port: u16| -> SocketAddr { format!("{UNIKERNEL}:{port}").parse().expect("an address") };
    eprintln!("tcp_tap: building tcp-sink and tcp-echo for spt and unix, and the tender");
    for target in ["spt", "unix"] {
        for example in ["tcp-sink", "tcp-echo"] {
            common::build_example_with(example, target, &[("MIRAGE_NET", "direct")]);
        }
    }
    common::tender("mirage-spt");

    // Linux to the unikernel, one way; both ways through its echo.
    let run = |target: Target| {
        let mut ns = Netns::new("tcptap");
        let mut sink = unikernel(&mut ns, target, "tcp-sink", "receiving TCP on port 9");
        let to_sink = in_ns(&ns.name, move || send(tap_addr(9), size));
        let sink_says = sink
            .wait_for(&format!("received {size} bytes"), BOOT)
            .unwrap_or_else(|| panic!("tcp-sink did not report:\n{}", sink.dump()));
        drop(ns);
        let mut ns = Netns::new("tcptap");
        let _echo = unikernel(&mut ns, target, "tcp-echo", "echoing TCP on port 7");
        let through_echo = in_ns(&ns.name, move || echo(tap_addr(7), size));
        (to_sink, sink_says, through_echo)
    };
    let (to_sink, sink_says, through_echo) = run(Target::Spt);
    let (to_unix, _, through_unix) = run(Target::UnixOffload);
    let ns = Netns::new("tcptap");

    // Linux to Linux over loopback, in the same namespace.
    let loop_drop = in_ns(&ns.name, move || {
        send(loopback_server(Some(Sink::Drop)), size)
    });
    let loop_sha = in_ns(&ns.name, move || {
        send(loopback_server(Some(Sink::Sha256)), size)
    });
    let loop_echo = in_ns(&ns.name, move || echo(loopback_server(None), size));
    drop(ns);

    let rows = [
        (
            "Linux -> unikernel (spt, tap), tcp-sink (SHA-256)",
            rate(size, to_sink),
        ),
        (
            "Linux -> Linux (loopback), reader drops",
            rate(size, loop_drop),
        ),
        (
            "Linux -> Linux (loopback), reader SHA-256",
            rate(size, loop_sha),
        ),
        (
            "Linux <-> unikernel (spt, tap), tcp-echo, each way",
            rate(size, through_echo),
        ),
        (
            "Linux <-> Linux (loopback), echo, each way",
            rate(size, loop_echo),
        ),
        (
            "Linux -> unikernel (unix, tap, offload), tcp-sink",
            rate(size, to_unix),
        ),
        (
            "Linux <-> unikernel (unix, tap, offload), tcp-echo",
            rate(size, through_unix),
        ),
    ];
    println!();
    println!("tcp_tap: {} MB per transfer", size / 1_000_000);
    println!("{:<52} {:>10}", "path", "MB/s");
    for (what, mbps) in rows {
        println!("{what:<52} {mbps:>10.0}");
    }
    println!("tcp-sink's own report: {}", sink_says.trim());
    println!("ratios (unikernel / Linux loopback):");
    println!(
        "  one way, against a dropping reader:   {:.3}",
        rows[0].1 / rows[1].1
    );
    println!(
        "  one way, against a SHA-256 reader:    {:.3}",
        rows[0].1 / rows[2].1
    );
    println!(
        "  echo, each way:                       {:.3}",
        rows[3].1 / rows[4].1
    );
    println!("ratios (unikernel on unix with offload / Linux loopback):");
    println!(
        "  one way, against a SHA-256 reader:    {:.3}",
        rows[5].1 / rows[2].1
    );
    println!(
        "  echo, each way:                       {:.3}",
        rows[6].1 / rows[4].1
    );
}
