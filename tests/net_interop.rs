//! The stack against the Linux kernel's, over a tap in a network namespace
//! each test creates and removes: `ping` and `ping -6` to `examples/ping`,
//! UDP echo with `socat` to `examples/udp-echo`, on unix and under the
//! project's spt tender, DHCP from `dnsmasq` giving the unikernel its
//! address, and MLDv2 through a Linux bridge that snoops it. Needs root;
//! otherwise each test says SKIPPED.

mod common;
#[path = "common/netns.rs"]
mod netns;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use netns::{Lines, Netns};

const BOOT: Duration = Duration::from_secs(20);

/// Whether the tests can run; says SKIPPED with the reason if not.
fn can_run(what: &str) -> bool {
    match netns::unavailable() {
        Some(why) => {
            common::skipped(what, &why);
            false
        }
        None => true,
    }
}

/// Starts `binary` (built for `target`) in `ns` with `args`: directly on
/// unix, under the project's spt tender with the tap as `service`
/// elsewhere.
fn start(ns: &mut Netns, target: &str, binary: PathBuf, args: &[&str]) -> Lines {
    let cmd = if target == "unix" {
        let mut cmd = ns.command(binary.to_str().unwrap());
        cmd.arg("--interface=tap0").args(args);
        cmd
    } else {
        let mut cmd = ns.command(common::tender("mirage-spt").to_str().unwrap());
        cmd.arg("--net:service=tap0").arg(&binary).args(args);
        cmd
    };
    ns.spawn(cmd)
}

/// Waits until the unikernel's IPv6 address `fd00::2` passed DAD.
fn wait_ready(lines: &mut Lines) {
    assert!(
        lines.wait_for("fd00::2 is usable", BOOT).is_some(),
        "the unikernel did not come up:\n{}",
        lines.dump()
    );
}

fn ping(ns: &Netns, family: &str, addr: &str, lines: &mut Lines) {
    let out = ns.try_exec(&["ping", family, "-c", "3", "-i", "0.2", "-W", "2", addr]);
    assert!(
        out.status.success(),
        "ping {family} {addr} failed:\n{}\n{}\nunikernel:\n{}",
        common::text(&out.stdout),
        common::text(&out.stderr),
        lines.dump()
    );
    assert!(common::text(&out.stdout).contains("3 received"));
}

fn ping_over_a_tap(target: &str) {
    if !can_run(&format!("ping over a tap ({target})")) {
        return;
    }
    let binary = common::build_example("ping", target);
    let mut ns = Netns::new("ping");
    let mut lines = start(&mut ns, target, binary, &["--ipv6=fd00::2/64"]);
    wait_ready(&mut lines);
    ping(&ns, "-4", "10.0.0.2", &mut lines);
    ping(&ns, "-6", "fd00::2", &mut lines);
    // The link-local address answers too.
    let out = ns.exec(&["ip", "-6", "neigh", "show", "dev", "tap0"]);
    assert!(common::text(&out.stdout).contains("fd00::2"));
    // A large echo is fragmented by Linux and reassembled by the stack,
    // and the reply fragmented by the stack.
    let out = ns.try_exec(&["ping", "-4", "-c", "1", "-W", "2", "-s", "4000", "10.0.0.2"]);
    assert!(out.status.success(), "fragmented ping: {}", lines.dump());
    let out = ns.try_exec(&["ping", "-6", "-c", "1", "-W", "2", "-s", "4000", "fd00::2"]);
    assert!(out.status.success(), "fragmented ping -6: {}", lines.dump());
}

#[test]
fn ping_over_a_tap_unix() {
    ping_over_a_tap("unix");
}

#[test]
fn ping_over_a_tap_spt() {
    ping_over_a_tap("spt");
}

/// Sends `message` to `addr` port 7 with socat and returns the answer.
fn socat_echo(ns: &Netns, proto: &str, addr: &str, message: &str) -> String {
    let mut cmd = ns.command("socat");
    cmd.args(["-t", "2", "-T", "3", "-", &format!("{proto}:{addr}:7")]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("socat runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(message.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    common::text(&out.stdout)
}

fn udp_echo_over_a_tap(target: &str) {
    if !can_run(&format!("UDP echo over a tap ({target})")) {
        return;
    }
    if Command::new("socat").arg("-V").output().is_err() {
        common::skipped("UDP echo", "socat is not installed (.ci/setup installs it)");
        return;
    }
    let binary = common::build_example_with("udp-echo", target, &[("MIRAGE_NET", "direct")]);
    let mut ns = Netns::new("udpecho");
    let mut lines = start(&mut ns, target, binary, &["--ipv6=fd00::2/64"]);
    wait_ready(&mut lines);
    assert_eq!(
        socat_echo(&ns, "UDP4", "10.0.0.2", "hello v4"),
        "hello v4",
        "{}",
        lines.dump()
    );
    assert_eq!(
        socat_echo(&ns, "UDP6", "[fd00::2]", "hello v6"),
        "hello v6",
        "{}",
        lines.dump()
    );
    // A datagram larger than the MTU, both ways fragmented.
    let big: String = (0..6000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    assert_eq!(socat_echo(&ns, "UDP4", "10.0.0.2", &big), big);
    assert_eq!(socat_echo(&ns, "UDP6", "[fd00::2]", &big), big);
}

#[test]
fn udp_echo_over_a_tap_unix() {
    udp_echo_over_a_tap("unix");
}

#[test]
fn udp_echo_over_a_tap_spt() {
    udp_echo_over_a_tap("spt");
}

fn dhcp_from_dnsmasq(target: &str) {
    if !can_run(&format!("DHCP from dnsmasq ({target})")) {
        return;
    }
    let dnsmasq = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(dnsmasq) = dnsmasq else {
        common::skipped(
            "DHCP",
            "dnsmasq is not installed (.ci/setup installs dnsmasq-base)",
        );
        return;
    };
    let binary = common::build_example_with("ping", target, &[("MIRAGE_DHCP", "true")]);
    let mut ns = Netns::new("dhcp");
    let mut server = ns.command(dnsmasq);
    server.args([
        "--no-daemon",
        "--port=0",
        "--interface=tap0",
        "--bind-interfaces",
        "--dhcp-range=10.0.0.50,10.0.0.60,255.255.255.0,2m",
        "--dhcp-option=option:router,10.0.0.1",
        "--dhcp-option=option:dns-server,10.0.0.53",
        "--dhcp-leasefile=/dev/null",
        "--pid-file=",
        "--log-dhcp",
    ]);
    let mut server = ns.spawn(server);
    let mut lines = start(&mut ns, target, binary, &["--ipv4-only"]);
    let Some(line) = lines.wait_for("configured by DHCP: ", BOOT) else {
        panic!(
            "no lease:\nunikernel:\n{}\ndnsmasq:\n{}",
            lines.dump(),
            server.dump()
        );
    };
    let leased = line
        .split("configured by DHCP: ")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap()
        .trim()
        .to_string();
    let octet: u8 = leased.rsplit('.').next().unwrap().parse().unwrap();
    assert!((50..=60).contains(&octet), "leased {leased}");
    assert!(line.contains("/24"), "{line}");
    // dnsmasq saw the whole exchange.
    assert!(
        server.wait_for("DHCPACK", BOOT).is_some(),
        "{}",
        server.dump()
    );
    ping(&ns, "-4", &leased, &mut lines);
}

#[test]
fn dhcp_from_dnsmasq_unix() {
    dhcp_from_dnsmasq("unix");
}

#[test]
fn dhcp_from_dnsmasq_spt() {
    dhcp_from_dnsmasq("spt");
}

/// MLD against Linux's bridge: the tap joins a bridge that snoops MLD
/// and acts as querier (so that it forwards a multicast group's traffic
/// only to the ports that reported it). The unikernel's reports of its
/// solicited-node groups reach the bridge's multicast database, and
/// Linux's neighbour solicitations to those groups reach the unikernel:
/// `ping -6` to its address works through the snooping bridge.
///
/// With `mld_version` 1 the bridge's querier speaks MLDv1 (every 2 s, 1 s
/// response delay): once the group was learnt, the test deletes it from
/// the bridge's database, and only the unikernel's answer to the next
/// MLDv1 query, in MLDv1 (RFC 9777 section 8.2.1), can bring it back.
fn mld_through_a_snooping_bridge(target: &str, mld_version: u8) {
    let what = format!("MLDv{mld_version} through a snooping bridge ({target})");
    if !can_run(&what) {
        return;
    }
    let binary = common::build_example("ping", target);
    let mut ns = Netns::new("mld");
    ns.exec(&["ip", "addr", "flush", "dev", "tap0"]);
    let version = mld_version.to_string();
    ns.exec(&[
        "ip",
        "link",
        "add",
        "br0",
        "type",
        "bridge",
        "mcast_snooping",
        "1",
        "mcast_querier",
        "1",
        "mcast_mld_version",
        &version,
        // (In hundredths of a second.)
        "mcast_query_interval",
        "200",
        "mcast_startup_query_interval",
        "200",
        "mcast_query_response_interval",
        "100",
    ]);
    ns.exec(&["ip", "link", "set", "tap0", "master", "br0"]);
    ns.host_addresses("br0");
    ns.exec(&["ip", "link", "set", "br0", "up"]);
    let mut lines = start(&mut ns, target, binary, &["--ipv6=fd00::2/64"]);
    wait_ready(&mut lines);
    // The group of fd00::2 (and of the link-local address) learnt on tap0.
    let group = "ff02::1:ff00:2";
    let learnt = |ns: &Netns| {
        let out = ns.exec(&["bridge", "mdb", "show", "dev", "br0"]);
        let text = common::text(&out.stdout);
        text.lines()
            .any(|l| l.contains("port tap0") && l.contains(group))
    };
    let wait_learnt = |ns: &Netns, lines: &mut Lines, why: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while !learnt(ns) {
            assert!(
                std::time::Instant::now() < deadline,
                "the bridge learnt no group on tap0 ({why}):\n{}\nunikernel:\n{}",
                common::text(&ns.exec(&["bridge", "mdb", "show"]).stdout),
                lines.dump()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_learnt(&ns, &mut lines, "after the joins");
    if mld_version == 1 {
        // (After the unsolicited reports: the joins' repeats, and the joins
        // told again from the link-local address once its DAD is done.)
        std::thread::sleep(Duration::from_secs(4));
        ns.exec(&[
            "bridge", "mdb", "del", "dev", "br0", "port", "tap0", "grp", group,
        ]);
        assert!(!learnt(&ns), "the group stays in the bridge's database");
        wait_learnt(&ns, &mut lines, "from an answer to an MLDv1 query");
    }
    ping(&ns, "-6", "fd00::2", &mut lines);
    ping(&ns, "-4", "10.0.0.2", &mut lines);
}

#[test]
fn mld_through_a_snooping_bridge_unix() {
    mld_through_a_snooping_bridge("unix", 2);
}

#[test]
fn mldv1_through_a_snooping_bridge_unix() {
    mld_through_a_snooping_bridge("unix", 1);
}
