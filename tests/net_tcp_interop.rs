//! TCP against the Linux kernel's, over a tap in a network namespace each
//! test creates and removes, with the unikernel on unix and under the
//! project's spt tender: a Linux client talks to `tcp-echo` (bulk both
//! ways at once, checksummed end to end, over IPv4 and IPv6), `tcp-echo`
//! connects out to a Linux listener, `tcp-sink` digests what Linux sends,
//! and a packet capture shows window scaling, timestamps and SACK
//! negotiated; Linux negotiates ECN with us and counts our D-SACK blocks;
//! a Linux client that stops reading for a while shuts both windows and
//! gets everything once it reads again;
//! and with a Linux host one hop away, through a Linux router that loses
//! packets both ways, bulk both ways still arrives intact (each side
//! recovering with the other's SACK blocks) and 200 short connections
//! complete, and through one whose next
//! hop carries 1,280 bytes, `tcp-echo` follows the router's ICMP reports.
//! Needs root; otherwise each test says SKIPPED.

mod common;
#[path = "common/netns.rs"]
mod netns;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use netns::{Lines, Netns};

const BOOT: Duration = Duration::from_secs(20);
const MB: usize = 1 << 20;

fn can_run(what: &str) -> bool {
    if let Some(why) = netns::unavailable() {
        common::skipped(what, &why);
        return false;
    }
    if Command::new("python3").arg("--version").output().is_err() {
        common::skipped(what, "python3 is missing");
        return false;
    }
    true
}

fn peer_script() -> String {
    common::workspace()
        .join("tests/tcp_peer.py")
        .to_string_lossy()
        .into_owned()
}

/// `example` built for `target` with the direct stack (once per test
/// binary; other tests' builds go first).
fn build(example: &str, target: &str) -> PathBuf {
    common::build_example_with(example, target, &[("MIRAGE_NET", "direct")])
}

/// Starts `example` for `target` in `ns` (the tap as `tap0` on unix, as
/// `service` under spt) with `args`, and waits for `ready` in its output.
fn start(ns: &mut Netns, target: &str, example: &str, args: &[&str], ready: &str) -> Lines {
    let binary = build(example, target);
    let cmd = if target == "unix" {
        let mut cmd = ns.command(binary.to_str().unwrap());
        cmd.arg("--interface=tap0").args(args);
        cmd
    } else {
        let mut cmd = ns.command(common::tender("mirage-spt").to_str().unwrap());
        cmd.arg("--net:service=tap0").arg(&binary).args(args);
        cmd
    };
    let mut lines = ns.spawn(cmd);
    assert!(
        lines.wait_for(ready, BOOT).is_some(),
        "{example} did not come up:\n{}",
        lines.dump()
    );
    lines
}

/// Runs the peer script in `ns`; its "OK bytes seconds sha256" line.
fn peer(ns: &Netns, args: &[&str], lines: &mut Lines) -> (usize, f64, String) {
    let script = peer_script();
    let mut full = vec!["python3", script.as_str()];
    full.extend_from_slice(args);
    let out = ns.try_exec(&full);
    let text = common::text(&out.stdout);
    assert!(
        out.status.success() && text.starts_with("OK "),
        "peer {args:?}: {text}{}\nunikernel:\n{}",
        common::text(&out.stderr),
        lines.dump()
    );
    let mut f = text.split_whitespace().skip(1);
    (
        f.next().unwrap().parse().unwrap(),
        f.next().unwrap().parse().unwrap(),
        f.next().unwrap().to_string(),
    )
}

fn echo_both_ways(target: &str) {
    if !can_run(&format!("TCP echo over a tap ({target})")) {
        return;
    }
    let mut ns = Netns::new("tcpecho");
    let mut lines = start(
        &mut ns,
        target,
        "tcp-echo",
        &["--ipv6=fd00::2/64"],
        "fd00::2 is usable",
    );
    // socat, as a user would try it.
    for target_addr in ["TCP4:10.0.0.2:7", "TCP6:[fd00::2]:7"] {
        let out = ns.try_exec(&[
            "sh",
            "-c",
            &format!("printf 'hello mirage' | socat -t 5 - {target_addr}"),
        ]);
        assert_eq!(
            common::text(&out.stdout),
            "hello mirage",
            "socat {target_addr}: {}\n{}",
            common::text(&out.stderr),
            lines.dump()
        );
    }
    // Linux's urgent data (`send(MSG_OOB)`: URG segments with Linux's
    // pointer) reaches the echo in line and intact, and comes back so.
    let urgent = "import socket\n\
        s = socket.create_connection(('10.0.0.2', 7))\n\
        s.sendall(b'abc'); s.send(b'URGENT', socket.MSG_OOB); s.sendall(b'xyz')\n\
        s.shutdown(socket.SHUT_WR)\n\
        d = b''\n\
        while True:\n    b = s.recv(100)\n    if not b: break\n    d += b\n\
        print(d.decode(), end='')\n";
    let out = ns.try_exec(&["python3", "-c", urgent]);
    assert_eq!(
        common::text(&out.stdout),
        "abcURGENTxyz",
        "urgent data: {}\n{}",
        common::text(&out.stderr),
        lines.dump()
    );
    for (addr, size) in [("10.0.0.2", 24 * MB), ("fd00::2", 8 * MB)] {
        let (n, secs, _) = peer(&ns, &["client", addr, "7", &size.to_string()], &mut lines);
        assert_eq!(n, size);
        eprintln!(
            "tcp-echo ({target}) via {addr}: {size} bytes each way in {secs:.2} s ({:.0} MB/s each way)",
            n as f64 / secs / 1e6
        );
    }
}

#[test]
fn a_linux_client_and_tcp_echo_exchange_bulk_both_ways_unix() {
    echo_both_ways("unix");
}

#[test]
fn a_linux_client_and_tcp_echo_exchange_bulk_both_ways_spt() {
    echo_both_ways("spt");
}

/// The tap's counter `which` (`rx_bytes`...) in `ns`.
fn tap_counter(ns: &Netns, which: &str) -> u64 {
    let out = ns.exec(&["cat", &format!("/sys/class/net/tap0/statistics/{which}")]);
    common::text(&out.stdout).trim().parse().unwrap()
}

/// `tcp-echo` on unix with `--offload`: the tap carries TCP segments of up
/// to 64 KiB both ways (its kernel side counts frames longer than the MTU
/// on average, each way), Linux's partial checksums are completed, and
/// bulk both ways over both families arrives intact.
#[test]
fn tcp_echo_exchanges_bulk_through_the_taps_segmentation_offload_unix() {
    if !can_run("TCP echo through the tap's segmentation offload (unix)") {
        return;
    }
    let mut ns = Netns::new("tcpoff");
    let mut lines = start(
        &mut ns,
        "unix",
        "tcp-echo",
        &["--ipv6=fd00::2/64", "--offload"],
        "fd00::2 is usable",
    );
    let counters = |ns: &Netns| {
        ["rx_bytes", "rx_packets", "tx_bytes", "tx_packets"].map(|c| tap_counter(ns, c))
    };
    let before = counters(&ns);
    for (addr, size) in [("10.0.0.2", 64 * MB), ("fd00::2", 32 * MB)] {
        let (n, secs, _) = peer(&ns, &["client", addr, "7", &size.to_string()], &mut lines);
        assert_eq!(n, size);
        eprintln!(
            "tcp-echo (unix, offload) via {addr}: {size} bytes each way in {secs:.2} s ({:.0} MB/s each way)",
            n as f64 / secs / 1e6
        );
    }
    let after = counters(&ns);
    let [rx_bytes, rx_packets, tx_bytes, tx_packets] = [0, 1, 2, 3].map(|i| after[i] - before[i]);
    // The tap's receive side is what the unikernel sent.
    eprintln!(
        "tap: {rx_packets} frames from the unikernel ({} bytes each), {tx_packets} to it ({} bytes each)",
        rx_bytes / rx_packets.max(1),
        tx_bytes / tx_packets.max(1)
    );
    assert!(
        rx_bytes / rx_packets.max(1) > 1514,
        "{after:?}\n{}",
        lines.dump()
    );
    assert!(
        tx_bytes / tx_packets.max(1) > 1514,
        "{after:?}\n{}",
        lines.dump()
    );
}

fn connect_out(target: &str) {
    if !can_run(&format!("TCP connect out ({target})")) {
        return;
    }
    let mut ns = Netns::new("tcpout");
    // Built before the listener starts: it accepts for 60 s at most, and
    // the build (behind the other tests' builds) can take longer on a
    // loaded machine, when the unikernel's connect found the listener
    // gone ("connection refused").
    build("tcp-echo", target);
    // The Linux listener first: the unikernel connects at start.
    let mut listener = ns.command("python3");
    listener.args([&peer_script(), "server", "7000", &(16 * MB).to_string()]);
    let mut server = ns.spawn(listener);
    assert!(
        server.wait_for("LISTENING", BOOT).is_some(),
        "{}",
        server.dump()
    );
    let mut lines = start(
        &mut ns,
        target,
        "tcp-echo",
        &["--peer=10.0.0.1", "--peer-port=7000"],
        "connected to 10.0.0.1:7000",
    );
    let result = server.wait_for("OK ", Duration::from_secs(60));
    assert!(
        result.is_some(),
        "listener:\n{}\nunikernel:\n{}",
        server.dump(),
        lines.dump()
    );
    assert!(
        lines
            .wait_for("echoed 16777216 bytes to 10.0.0.1:7000", BOOT)
            .is_some(),
        "{}",
        lines.dump()
    );
}

#[test]
fn tcp_echo_connects_out_to_a_linux_listener_unix() {
    connect_out("unix");
}

#[test]
fn tcp_echo_connects_out_to_a_linux_listener_spt() {
    connect_out("spt");
}

/// A Linux listener for `tcp-urgent` (out-of-band mode, as sockets are by
/// default): it reads the stream to its end, taking the out-of-band byte
/// (`recv(MSG_OOB)`) whenever `select` reports it (Linux's in-band reads
/// stop before it and skip it, and it can no longer be read once they have
/// passed it), and prints the bytes of each kind it read in band and the
/// out-of-band bytes.
const URGENT_LISTENER: &str = "import select, socket, sys\n\
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
    l.bind(('10.0.0.1', int(sys.argv[1]))); l.listen(1); l.settimeout(60)\n\
    print('LISTENING', flush=True)\n\
    c, _ = l.accept(); c.settimeout(60)\n\
    d = b''; oob = b''\n\
    while True:\n\
    \x20   r, _, x = select.select([c], [], [c], 60)\n\
    \x20   if x:\n\
    \x20       oob += c.recv(1, socket.MSG_OOB); continue\n\
    \x20   b = c.recv(65536)\n\
    \x20   if not b: break\n\
    \x20   d += b\n\
    print('OK', len(d), *[d.count(k) for k in b'puaT'], oob.decode(), flush=True)\n\
    c.close()\n";

/// `tcp-urgent` connects to a Linux listener and sends 1,000 plain bytes,
/// 20,000 urgent bytes in one write (more than a segment: every segment
/// up to the last urgent byte carries our pointer, RFC 6093's meaning of
/// it, which is Linux's too) and 3 plain bytes: Linux takes the last
/// urgent byte out of band (its default) and the rest in band, intact and
/// in order. With `offload`, over the tap's segmentation offload (the
/// segments that carry the pointer go without it; Linux takes a segment
/// through the offload whole into its own stack, so this test cannot tell
/// whether they did: `urgent_data_does_not_go_through_the_offload` does).
fn urgent_to_linux(target: &str, offload: bool) {
    if !can_run(&format!("urgent data to Linux ({target})")) {
        return;
    }
    let mut ns = Netns::new("tcpurg");
    // Built before the listener starts (see `connect_out`).
    build("tcp-urgent", target);
    let mut listener = ns.command("python3");
    listener.args(["-c", URGENT_LISTENER, "7000"]);
    let mut server = ns.spawn(listener);
    assert!(
        server.wait_for("LISTENING", BOOT).is_some(),
        "{}",
        server.dump()
    );
    let mut args = vec!["--peer=10.0.0.1", "--urgent=20000"];
    if offload {
        args.push("--offload");
    }
    let mut lines = start(
        &mut ns,
        target,
        "tcp-urgent",
        &args,
        "connected to 10.0.0.1:7000",
    );
    let result = server.wait_for("OK ", Duration::from_secs(60));
    let result = result
        .unwrap_or_else(|| panic!("listener:\n{}\nunikernel:\n{}", server.dump(), lines.dump()));
    // In band: everything but the out-of-band byte, the last urgent one.
    assert_eq!(
        result.trim(),
        "OK 21002 1000 19999 3 0 T",
        "{}",
        lines.dump()
    );
    assert!(
        lines
            .wait_for("sent 1000 plain, 20000 urgent and 3 plain bytes", BOOT)
            .is_some(),
        "{}",
        lines.dump()
    );
}

#[test]
fn tcp_urgent_sends_urgent_data_to_a_linux_listener_unix() {
    urgent_to_linux("unix", false);
}

#[test]
fn tcp_urgent_sends_urgent_data_to_a_linux_listener_through_the_taps_offload_unix() {
    urgent_to_linux("unix", true);
}

#[test]
fn tcp_urgent_sends_urgent_data_to_a_linux_listener_spt() {
    urgent_to_linux("spt", false);
}

fn sink(target: &str) {
    if !can_run(&format!("TCP sink ({target})")) {
        return;
    }
    let mut ns = Netns::new("tcpsink");
    let mut lines = start(&mut ns, target, "tcp-sink", &[], "receiving TCP on port 9");
    let size = 64 * MB;
    let (_, secs, digest) = peer(
        &ns,
        &["send", "10.0.0.2", "9", &size.to_string()],
        &mut lines,
    );
    let line = lines
        .wait_for("sha256", BOOT)
        .unwrap_or_else(|| panic!("{}", lines.dump()));
    assert!(line.contains(&format!("received {size} bytes")), "{line}");
    assert!(line.contains(&digest), "{line} vs {digest}");
    eprintln!(
        "tcp-sink ({target}): Linux sent {size} bytes in {secs:.2} s ({:.0} MB/s)",
        size as f64 / secs / 1e6
    );
}

#[test]
fn tcp_sink_digests_what_linux_sends_unix() {
    sink("unix");
}

#[test]
fn tcp_sink_digests_what_linux_sends_spt() {
    sink("spt");
}

#[test]
fn a_capture_shows_window_scaling_timestamps_and_sack_negotiated() {
    if !can_run("TCP options in a capture") {
        return;
    }
    if Command::new("tcpdump").arg("--version").output().is_err() {
        common::skipped(
            "TCP options in a capture",
            "tcpdump is not installed (.ci/setup installs it)",
        );
        return;
    }
    let mut ns = Netns::new("tcpcap");
    let mut lines = start(&mut ns, "spt", "tcp-echo", &[], "echoing TCP on port 7");
    let mut capture = tcpdump(&mut ns, "tcp port 7 and tcp[13] & 2 != 0");
    peer(&ns, &["client", "10.0.0.2", "7", "100000"], &mut lines);
    let syn_ack = capture
        .wait_for("10.0.0.2.7 >", BOOT)
        .unwrap_or_else(|| panic!("no SYN-ACK captured:\n{}", capture.dump()));
    let syn = capture
        .seen
        .iter()
        .find(|l| l.contains("> 10.0.0.2.7"))
        .cloned()
        .unwrap_or_default();
    for option in ["sackOK", "TS val", "wscale"] {
        assert!(syn.contains(option), "Linux's SYN lacks {option}: {syn}");
        assert!(
            syn_ack.contains(option),
            "our SYN-ACK lacks {option}: {syn_ack}"
        );
    }
    assert!(syn_ack.contains("mss 1460"), "{syn_ack}");
}

/// Starts `tcpdump` on the namespace's tap for the first 3 packets that
/// `filter` takes (verbose, numeric), once it listens.
fn tcpdump(ns: &mut Netns, filter: &str) -> Lines {
    let mut capture = ns.command("tcpdump");
    capture.args(["-i", "tap0", "-n", "-l", "-v", "-c", "3", filter]);
    let mut capture = ns.spawn(capture);
    assert!(
        capture.wait_for("listening on", BOOT).is_some(),
        "{}",
        capture.dump()
    );
    capture
}

/// RFC 3168 (RFC 9293 SHLD-8) with Linux: a Linux client whose namespace
/// asks for ECN (`net.ipv4.tcp_ecn = 1`) gets it from `tcp-echo` (the
/// default configuration accepts it: `Ecn::Passive`). The capture shows our
/// SYN-ACK with ECE (an ECN-setup SYN-ACK) and our data sent ECT(0); Linux's
/// `TCP_INFO` (what `ss -ti` reads: `tcpi_options`' `TCPI_OPT_ECN`) reports
/// the connection as using ECN.
#[test]
fn a_linux_client_asking_for_ecn_gets_it_from_tcp_echo() {
    let what = "ECN negotiated with Linux";
    if !can_run(what) {
        return;
    }
    if Command::new("tcpdump").arg("--version").output().is_err() {
        common::skipped(what, "tcpdump is not installed (.ci/setup installs it)");
        return;
    }
    let mut ns = Netns::new("tcpecn");
    ns.exec(&["sysctl", "-q", "-w", "net.ipv4.tcp_ecn=1"]);
    let mut lines = start(&mut ns, "unix", "tcp-echo", &[], "echoing TCP on port 7");
    let mut capture = tcpdump(
        &mut ns,
        "tcp port 7 and (tcp[13] & 2 != 0 or (src host 10.0.0.2 and ip[2:2] > 200))",
    );
    let script = r#"
import socket
s = socket.create_connection(("10.0.0.2", 7), timeout=10)
data = b"x" * 20000
s.sendall(data)
got = 0
while got < len(data):
    b = s.recv(65536)
    if not b:
        break
    got += len(b)
# What ss -ti shows: tcpi_options (TCPI_OPT_ECN = 8, TIMESTAMPS = 1).
info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
print("GOT", got)
print("OPTIONS", info[5])
s.close()
"#;
    let out = ns.try_exec(&["python3", "-c", script]);
    let text = common::text(&out.stdout);
    assert!(
        out.status.success() && text.starts_with("GOT 20000"),
        "{text}{}\nunikernel:\n{}",
        common::text(&out.stderr),
        lines.dump()
    );
    let ect = capture.wait_for("ECT(0)", Duration::from_secs(5));
    assert!(
        ect.is_some(),
        "our data is not ECN-capable:\n{}\n{text}",
        capture.dump()
    );
    let syn_ack = capture
        .seen
        .iter()
        .find(|l| l.contains("10.0.0.2.7 >") && l.contains("Flags [S"))
        .cloned()
        .unwrap_or_default();
    assert!(
        syn_ack.contains("Flags [S.E]"),
        "{syn_ack}\n{:?}",
        capture.seen
    );
    let options: u8 = text
        .lines()
        .find_map(|l| l.strip_prefix("OPTIONS "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(options & 1, 1, "timestamps: {text}");
    assert_eq!(
        options & 8,
        8,
        "Linux's connection does not use ECN: {text}"
    );
}

/// RFC 2883 with Linux: Linux's retransmission timeout, lowered to 1 ms on
/// its route to the unikernel, fires before `tcp-sink` acknowledges a lone
/// segment (that ACK is delayed), so Linux resends data the sink already
/// holds; each such duplicate draws a D-SACK block from us, which Linux
/// counts (`TCP_INFO`'s `tcpi_dsack_dups`, what `ss -ti` shows as
/// `dsack_dups`). Without D-SACK the count stays 0 (checked).
#[test]
fn linux_counts_the_dsack_blocks_of_tcp_sink() {
    let what = "D-SACK to Linux";
    if !can_run(what) {
        return;
    }
    let mut ns = Netns::new("tcpdsack");
    ns.exec(&[
        "ip",
        "route",
        "replace",
        "10.0.0.0/24",
        "dev",
        "tap0",
        "rto_min",
        "1ms",
    ]);
    let mut lines = start(&mut ns, "unix", "tcp-sink", &[], "receiving TCP on port 9");
    let script = r#"
import socket, struct, time
s = socket.create_connection(("10.0.0.2", 9), timeout=10)
for _ in range(20):
    s.send(b"x" * 100)
    time.sleep(0.1)
info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
print("RETRANS", struct.unpack_from("I", info, 100)[0])
print("DSACK", struct.unpack_from("I", info, 216)[0] if len(info) >= 220 else -1)
s.close()
"#;
    let out = ns.try_exec(&["python3", "-c", script]);
    let text = common::text(&out.stdout);
    let mut field = |name: &str| -> i64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "{text}{}\nunikernel:\n{}",
                    common::text(&out.stderr),
                    lines.dump()
                )
            })
    };
    let (retrans, dsack) = (field("RETRANS "), field("DSACK "));
    if dsack < 0 {
        common::skipped(what, "this kernel's TCP_INFO has no tcpi_dsack_dups");
        return;
    }
    assert!(retrans > 0, "Linux resent nothing: {text}");
    assert!(dsack > 0, "Linux counted no D-SACK block: {text}");
}

/// The share of TCP packets lost in each direction by
/// [`recover_from_loss`]'s router.
const LOSS_PERCENT: u32 = 5;

/// Loss both ways, with Linux: a Linux host one hop away (in a namespace
/// of its own, through a namespace that forwards between it and the tap)
/// exchanges data with `tcp-echo`, each way at once, while the forwarding
/// namespace drops [`LOSS_PERCENT`] % of the TCP packets in each direction
/// at random (nftables; Linux sends one segment per packet, `gso_max_segs
/// 1`, so losses are of single segments rather than of whole offload
/// bursts). Everything arrives intact.
///
/// With `sack` (Linux's defaults), 16 MB over IPv4 and 8 MB over IPv6:
/// Linux recovered with the SACK blocks we sent (`TCPSackRecovery`), and
/// we resent little that Linux already had: the duplicates Linux reported
/// with D-SACK blocks (`TCPDSACKOldSent` and `TCPDSACKOfoSent`) are at
/// most a quarter of the segments we lost (a sender without SACK resends
/// a window's worth for many of its losses); then 200 short connections
/// ([`churn`]). Without (Linux's
/// `tcp_sack`, `tcp_timestamps` and `tcp_window_scaling` off, so neither
/// side has them), 1 MB over IPv4, recovered by NewReno on our side and
/// Reno's on Linux's, which our duplicate ACKs start (`TCPRenoRecovery`),
/// round trips timed without timestamps, in a 64 KB window; slower, as
/// Linux with Linux is there. Our duplicate ACKs go as pure ACKs although
/// echoed data is ready to go (Linux counts no ACK that carries data);
/// still, many of Linux's losses end in a timeout (three duplicate ACKs
/// need three segments to arrive after the lost one, and Linux after a
/// timeout recovers by going back): a megabyte has seen from one to a
/// dozen fast recoveries, and once none (a CI run, before the duplicate
/// ACKs went on their own), so up to three more megabytes go until Linux
/// has recovered fast once.
fn recover_from_loss(target: &str, sack: bool) {
    let what = format!("TCP with Linux under loss ({target}, SACK {sack})");
    if !can_run(&what) || !have_nft(&what) {
        return;
    }
    let (mut ns, host) = routed("tcploss");
    if !sack {
        host.exec(&[
            "sh",
            "-c",
            "cd /proc/sys/net/ipv4 && echo 0 > tcp_sack && echo 0 > tcp_timestamps && \
             echo 0 > tcp_window_scaling",
        ]);
    }
    lose_tcp(&ns);
    let mut lines = start_routed(&mut ns, target);
    let transfers: &[(&str, usize)] = if sack {
        &[("10.0.0.2", 16 * MB), ("fd00::2", 8 * MB)]
    } else {
        &[("10.0.0.2", MB); 4]
    };
    let recoveries = |host: &Netns| {
        let netstat = common::text(&host.exec(&["cat", "/proc/net/netstat"]).stdout);
        let name = if sack {
            "TCPSackRecovery"
        } else {
            "TCPRenoRecovery"
        };
        linux_counter(&netstat, "TcpExt", name)
    };
    for (i, &(addr, size)) in transfers.iter().enumerate() {
        if !sack && i > 0 && recoveries(&host) > 0 {
            break;
        }
        let (n, secs, _) = peer(&host, &["client", addr, "7", &size.to_string()], &mut lines);
        assert_eq!(n, size);
        eprintln!(
            "tcp-echo ({target}) via {addr}, {LOSS_PERCENT} % loss each way, SACK {sack}: {size} \
             bytes each way in {secs:.2} s"
        );
    }
    if sack {
        churn(&host, &mut lines, target);
    }
    let (ours_lost, linux_lost) = (
        nft_packets(&ns, "mirage_loss", "from_unikernel"),
        nft_packets(&ns, "mirage_loss", "to_unikernel"),
    );
    let netstat = common::text(&host.exec(&["cat", "/proc/net/netstat"]).stdout);
    let linux = |name: &str| linux_counter(&netstat, "TcpExt", name);
    let recoveries = recoveries(&host);
    let duplicates = linux("TCPDSACKOldSent") + linux("TCPDSACKOfoSent");
    eprintln!(
        "lost: {ours_lost} of our packets, {linux_lost} of Linux's; Linux: {recoveries} fast \
         recoveries, {duplicates} duplicates of ours reported (D-SACK)"
    );
    let least = if sack { 100 } else { 10 };
    assert!(
        ours_lost >= least && linux_lost >= least,
        "too few losses to tell: {ours_lost} and {linux_lost}"
    );
    assert!(recoveries > 0, "Linux never recovered fast:\n{netstat}");
    if !sack {
        assert_eq!(linux("TCPSackRecovery"), 0, "SACK was used:\n{netstat}");
    }
    assert!(
        duplicates * 4 <= ours_lost,
        "we resent {duplicates} segments Linux had, for {ours_lost} lost"
    );
}

/// Makes the forwarding namespace `ns` drop [`LOSS_PERCENT`] of the TCP
/// packets each way at random, counted (`nft_packets(ns, "mirage_loss",
/// "from_unikernel")`, `"to_unikernel"`).
fn lose_tcp(ns: &Netns) {
    let rules = format!(
        "table inet mirage_loss {{
           counter from_unikernel {{}}
           counter to_unikernel {{}}
           chain forward {{
             type filter hook forward priority 0;
             iifname \"tap0\" meta l4proto tcp numgen random mod 100 < {LOSS_PERCENT} \
               counter name \"from_unikernel\" drop
             oifname \"tap0\" meta l4proto tcp numgen random mod 100 < {LOSS_PERCENT} \
               counter name \"to_unikernel\" drop
           }}
         }}"
    );
    ns.exec(&["nft", &rules]);
}

/// [`recover_from_loss`]'s router, 5 % loss each way, with `tcp-echo` on
/// unix using the tap's segmentation offload: its segments of up to
/// 64 KiB cross the forwarding namespace whole (Linux forwards a
/// segmentation-offload packet as one), so one drop there loses up to 45
/// MSS of ours at once; both recover, and bulk both ways over both
/// families arrives intact.
#[test]
fn tcp_echo_and_linux_recover_from_loss_through_the_taps_offload_unix() {
    let what = "TCP with Linux under loss through the tap's offload (unix)";
    if !can_run(what) || !have_nft(what) {
        return;
    }
    let (mut ns, host) = routed("tcpoffl");
    lose_tcp(&ns);
    let mut lines = start_routed_with(&mut ns, "unix", &["--offload"]);
    let before = tap_counter(&ns, "rx_bytes") / tap_counter(&ns, "rx_packets").max(1);
    for (addr, size) in [("10.0.0.2", 16 * MB), ("fd00::2", 8 * MB)] {
        let (n, secs, _) = peer(&host, &["client", addr, "7", &size.to_string()], &mut lines);
        assert_eq!(n, size);
        eprintln!(
            "tcp-echo (unix, offload) via {addr}, {LOSS_PERCENT} % loss each way: {size} bytes \
             each way in {secs:.2} s"
        );
    }
    let (ours_lost, linux_lost) = (
        nft_packets(&ns, "mirage_loss", "from_unikernel"),
        nft_packets(&ns, "mirage_loss", "to_unikernel"),
    );
    let (rx_bytes, rx_packets) = (tap_counter(&ns, "rx_bytes"), tap_counter(&ns, "rx_packets"));
    eprintln!(
        "lost: {ours_lost} of our packets, {linux_lost} of Linux's; frames from the unikernel: \
         {rx_packets}, {} bytes each (before the transfers: {before})",
        rx_bytes / rx_packets.max(1)
    );
    assert!(
        rx_bytes / rx_packets.max(1) > 1514,
        "the offload went unused"
    );
    assert!(
        ours_lost >= 10 && linux_lost >= 100,
        "too few losses to tell: {ours_lost} and {linux_lost}"
    );
}

/// Connection churn through [`recover_from_loss`]'s router: 20 Linux
/// clients at once open 10 connections each to `tcp-echo`, one after the
/// other, each sending 1,000 bytes, closing its side and reading the echo
/// to its end, so that handshakes and closes lose SYNs, SYN-ACKs, FINs
/// and their ACKs too. All 200 come back intact, and `tcp-echo` finished
/// (and closed) each.
fn churn(host: &Netns, lines: &mut Lines, target: &str) {
    let script = r#"
import os, socket, threading, time
bad, done, lock = [], [0], threading.Lock()
def client(k):
    for i in range(10):
        data = os.urandom(1000)
        try:
            s = socket.create_connection(("10.0.0.2", 7), timeout=30)
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            got = bytearray()
            while True:
                b = s.recv(4096)
                if not b:
                    break
                got += b
            s.close()
            ok = bytes(got) == data
        except OSError as e:
            ok = str(e)
        with lock:
            if ok is True:
                done[0] += 1
            else:
                bad.append((k, i, ok))
start = time.monotonic()
threads = [threading.Thread(target=client, args=(k,)) for k in range(20)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("DONE", done[0], f"{time.monotonic() - start:.1f}", bad[:5])
"#;
    let out = host.try_exec(&["python3", "-c", script]);
    let text = common::text(&out.stdout);
    assert!(
        text.starts_with("DONE 200 "),
        "{text}{}\nunikernel:\n{}",
        common::text(&out.stderr),
        lines.dump()
    );
    eprintln!("tcp-echo ({target}): 200 connections through the lossy router: {text}");
    // (The echo logs once its close is done.)
    let echoed = lines.wait_for_count("echoed 1000 bytes", 200, BOOT);
    assert_eq!(echoed, 200, "{}", lines.dump());
}

/// A tap namespace named after `tag` and a Linux host one hop away
/// ([`Netns::routed_host`]) that sends one segment per packet
/// (`gso_max_segs 1`: otherwise the forwarding namespace sees whole
/// offload bursts, and a drop or a size check takes dozens of segments at
/// once).
fn routed(tag: &str) -> (Netns, Netns) {
    let ns = Netns::new(tag);
    let host = ns.routed_host(&format!("{tag}host"));
    host.exec(&["ip", "link", "set", "h0", "gso_max_segs", "1"]);
    (ns, host)
}

/// Starts `tcp-echo` for `target` in `ns`, with `ns`'s tap addresses as
/// its gateways (to reach a [`Netns::routed_host`]), once IPv6 is usable.
fn start_routed(ns: &mut Netns, target: &str) -> Lines {
    start_routed_with(ns, target, &[])
}

/// [`start_routed`] with `extra` arguments.
fn start_routed_with(ns: &mut Netns, target: &str, extra: &[&str]) -> Lines {
    let mut args = vec![
        "--ipv4-gateway=10.0.0.1",
        "--ipv6=fd00::2/64",
        "--ipv6-gateway=fd00::1",
    ];
    args.extend_from_slice(extra);
    start(ns, target, "tcp-echo", &args, "fd00::2 is usable")
}

/// The packets counted by the nftables counter `counter` of the `inet`
/// table `table` in `ns`.
fn nft_packets(ns: &Netns, table: &str, counter: &str) -> u64 {
    let out = ns.exec(&["nft", "list", "counter", "inet", table, counter]);
    let text = common::text(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no packet count in {text}"))
}

/// Whether `nft` runs here; if not, says `what` is SKIPPED.
fn have_nft(what: &str) -> bool {
    let found = Command::new("nft").arg("--version").output().is_ok();
    if !found {
        common::skipped(what, "nft is not installed (.ci/setup installs nftables)");
    }
    found
}

/// The counter `name` of `group` in the text of `/proc/net/netstat` (a
/// line of names, then a line of values, per group).
fn linux_counter(netstat: &str, group: &str, name: &str) -> u64 {
    let prefix = format!("{group}:");
    let mut rows = netstat.lines().filter(|l| l.starts_with(&prefix));
    let (names, values) = (rows.next().unwrap_or(""), rows.next().unwrap_or(""));
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no {group} {name} in:\n{netstat}"))
}

#[test]
fn tcp_echo_and_linux_recover_from_loss_both_ways_unix() {
    recover_from_loss("unix", true);
}

#[test]
fn tcp_echo_and_linux_recover_from_loss_both_ways_spt() {
    recover_from_loss("spt", true);
}

#[test]
fn tcp_echo_and_linux_recover_from_loss_without_sack_timestamps_or_scaling_unix() {
    recover_from_loss("unix", false);
}

#[test]
fn tcp_echo_and_linux_recover_from_loss_without_sack_timestamps_or_scaling_spt() {
    recover_from_loss("spt", false);
}

/// Path MTU discovery through a Linux router (RFC 1191, RFC 8201): the
/// namespace between the tap and a Linux host one hop away forwards at
/// most 1,280-byte packets either way (locked route MTUs), and answers
/// larger ones with its own ICMP fragmentation-needed and ICMPv6
/// packet-too-big reports. Linux's side advertises an MSS of 1,460, so
/// `tcp-echo` starts with full 1,500-byte packets; it must act on the
/// router's reports (black-hole detection is off by default) for 8 MB to
/// go each way over IPv4 and over IPv6. Asserted: both exchanges arrive
/// intact, the router reported at least once per family, and of the
/// roughly 7,000 data segments we sent per family only the first flights
/// were too big (at most 64 per family: the segment size fell for good).
fn path_mtu(target: &str) {
    let what = format!("path MTU discovery through a Linux router ({target})");
    if !can_run(&what) || !have_nft(&what) {
        return;
    }
    let (mut ns, host) = routed("tcppmtu");
    // (Forwarding ignores a route's MTU unless it is locked; the IPv6
    // routes replace the kernel's own, metric 256.)
    for (family, net, dev, metric) in [
        ("-4", "10.1.0.0/24", "r0", "0"),
        ("-4", "10.0.0.0/24", "tap0", "0"),
        ("-6", "fd01::/64", "r0", "256"),
        ("-6", "fd00::/64", "tap0", "256"),
    ] {
        ns.exec(&[
            "ip", family, "route", "replace", net, "dev", dev, "metric", metric, "mtu", "lock",
            "1280",
        ]);
    }
    ns.exec(&[
        "nft",
        "table inet mirage_pmtu {
           counter big_v4 {}
           counter big_v6 {}
           counter reports_v4 {}
           counter reports_v6 {}
           chain prerouting {
             type filter hook prerouting priority 0;
             iifname \"tap0\" meta nfproto ipv4 meta length > 1280 counter name \"big_v4\"
             iifname \"tap0\" meta nfproto ipv6 meta length > 1280 counter name \"big_v6\"
           }
           chain output {
             type filter hook output priority 0;
             oifname \"tap0\" icmp type destination-unreachable icmp code frag-needed \
               counter name \"reports_v4\"
             oifname \"tap0\" icmpv6 type packet-too-big counter name \"reports_v6\"
           }
         }",
    ]);
    let mut lines = start_routed(&mut ns, target);
    for (addr, family) in [("10.0.0.2", "v4"), ("fd00::2", "v6")] {
        let size = 8 * MB;
        let (n, _, _) = peer(&host, &["client", addr, "7", &size.to_string()], &mut lines);
        assert_eq!(n, size);
        let reports = nft_packets(&ns, "mirage_pmtu", &format!("reports_{family}"));
        let big = nft_packets(&ns, "mirage_pmtu", &format!("big_{family}"));
        eprintln!(
            "tcp-echo ({target}) via {addr} over a 1,280-byte hop: {size} bytes each way; \
             {reports} reports from the router, {big} of our packets too big"
        );
        assert!(reports >= 1, "the router sent no report ({family})");
        assert!(
            big <= 64,
            "{big} packets too big after the report ({family})"
        );
    }
}

#[test]
fn tcp_echo_follows_a_linux_router_s_path_mtu_reports_unix() {
    path_mtu("unix");
}

#[test]
fn tcp_echo_follows_a_linux_router_s_path_mtu_reports_spt() {
    path_mtu("spt");
}

/// Zero windows both ways, with Linux (RFC 9293 3.8.6.1, MUST-35/36): a
/// Linux client sends 8 MB to `tcp-echo` without reading for its first
/// three seconds. The echo's writes fill Linux's receive buffer, whose
/// window shuts (`TCPToZeroWindowAdv`); `tcp-echo` then stops reading, and
/// ours shuts too, and Linux probes it (`TCPWinProbe`). When the client
/// reads, both windows open again and everything comes back intact.
fn zero_windows(target: &str) {
    let what = format!("zero windows with Linux ({target})");
    if !can_run(&what) {
        return;
    }
    let mut ns = Netns::new("tcpzwin");
    let mut lines = start(&mut ns, target, "tcp-echo", &[], "echoing TCP on port 7");
    let script = r#"
import os, socket, threading, time
data = os.urandom(8 << 20)
s = socket.create_connection(("10.0.0.2", 7), timeout=60)
def write():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=write)
t.start()
time.sleep(3)
got = bytearray()
while True:
    b = s.recv(1 << 16)
    if not b:
        break
    got += b
t.join()
print("INTACT" if bytes(got) == data else f"BAD {len(got)}")
"#;
    let out = ns.try_exec(&["python3", "-c", script]);
    let text = common::text(&out.stdout);
    assert_eq!(
        text.trim(),
        "INTACT",
        "{}\nunikernel:\n{}",
        common::text(&out.stderr),
        lines.dump()
    );
    let netstat = common::text(&ns.exec(&["cat", "/proc/net/netstat"]).stdout);
    let linux = |name: &str| linux_counter(&netstat, "TcpExt", name);
    let (shut, probes) = (linux("TCPToZeroWindowAdv"), linux("TCPWinProbe"));
    eprintln!("tcp-echo ({target}): Linux's window shut {shut} times, Linux probed ours {probes}");
    assert!(shut > 0, "Linux's window never shut:\n{netstat}");
    assert!(probes > 0, "Linux never probed our window:\n{netstat}");
}

#[test]
fn a_linux_client_that_stops_reading_shuts_both_windows_unix() {
    zero_windows("unix");
}

#[test]
fn a_linux_client_that_stops_reading_shuts_both_windows_spt() {
    zero_windows("spt");
}
