//! The socket stack (`socket_stackv4v6`, the default of
//! `generic_stackv4v6` on unix): `examples/udp-echo` and
//! `examples/tcp-echo` built for unix without keys echo over the host's
//! sockets, to IPv4 and IPv6 clients on loopback, and `tcp-echo` connects
//! out to a host listener.

mod common;

use std::io::{BufRead, BufReader, Lines};
use std::net::UdpSocket;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `example`, built for unix without keys, with `args`: the child
/// and the lines of its standard output.
fn start(example: &str, args: &[String]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let binary = common::build_example(example, "unix");
    let mut child = Command::new(&binary)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    (child, BufReader::new(stdout).lines())
}

#[test]
fn udp_echo_over_the_host_sockets() {
    // A port nobody uses: bind one, release it, hand it to the unikernel.
    let port = UdpSocket::bind("[::]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (mut child, mut lines) = start("udp-echo", &[format!("--port={port}")]);
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("echoing UDP"));
    assert!(ready.is_some(), "udp-echo did not start");
    let deadline = Instant::now() + Duration::from_secs(10);
    for (client, server) in [("127.0.0.1:0", "127.0.0.1"), ("[::1]:0", "[::1]")] {
        let socket = UdpSocket::bind(client).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        for size in [1usize, 512, 1472, 9000, 60_000] {
            let msg: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let mut buf = vec![0u8; 65536];
            let mut answered = None;
            // UDP on loopback does not lose, but be patient at start.
            while answered.is_none() && Instant::now() < deadline {
                socket.send_to(&msg, format!("{server}:{port}")).unwrap();
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    assert_eq!(from.port(), port);
                    answered = Some(buf[..n].to_vec());
                }
            }
            assert_eq!(
                answered.as_deref(),
                Some(&msg[..]),
                "{size} bytes via {server}"
            );
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `udp-echo --port=0` echoes on an ephemeral port and says which one
/// (it said "port 0", which nobody can send to).
#[test]
fn udp_echo_on_port_zero_tells_its_port() {
    let (mut child, mut lines) = start("udp-echo", &["--port=0".to_string()]);
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("echoing UDP"))
        .expect("udp-echo did not start");
    let port: u16 = ready
        .split("on port ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {ready:?}"));
    assert_ne!(port, 0, "{ready}");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    socket.send_to(b"ping", ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 8];
    let (n, from) = socket.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from.port()), (&b"ping"[..], port));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn tcp_echo_over_the_host_sockets() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let port = TcpListener::bind("[::]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The unikernel also connects out to a host listener of ours.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer_port = listener.local_addr().unwrap().port();
    let (mut child, mut lines) = start(
        "tcp-echo",
        &[
            format!("--port={port}"),
            "--peer=127.0.0.1".to_string(),
            format!("--peer-port={peer_port}"),
        ],
    );
    assert!(
        lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("echoing TCP"))
    );
    let message: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let exchange = |mut stream: TcpStream| {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let data = message.clone();
        let t = std::thread::spawn(move || {
            writer.write_all(&data).unwrap();
            writer.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let mut back = Vec::new();
        stream.read_to_end(&mut back).unwrap();
        t.join().unwrap();
        assert_eq!(back.len(), message.len());
        assert!(back == message);
    };
    // Outbound: the unikernel connected to our listener and echoes.
    let (stream, _) = listener.accept().unwrap();
    exchange(stream);
    // Inbound, both families.
    for addr in [format!("127.0.0.1:{port}"), format!("[::1]:{port}")] {
        exchange(TcpStream::connect(&addr).unwrap());
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `examples/tcp-sink` on the socket stack digests in place
/// (`Flow::read_with` peeks into the flow's buffer and takes what was
/// consumed off the socket without a copy): the count and the SHA-256 it prints are those of what a
/// host client sent, over several connections in turn.
#[test]
fn tcp_sink_digests_in_place_over_the_host_sockets() {
    use sha2::{Digest, Sha256};
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (mut child, lines) = start("tcp-sink", &[format!("--port={port}")]);
    let mut lines = lines.map_while(Result::ok);
    assert!(lines.by_ref().any(|l| l.contains("receiving TCP")));
    for (i, size) in [5_000_000usize, 1, 200_003].into_iter().enumerate() {
        let data: Vec<u8> = (0..size).map(|j| ((j * 31 + i) % 251) as u8).collect();
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        // In pieces, so that reads see partial runs.
        for piece in data.chunks(65_537) {
            stream.write_all(piece).unwrap();
        }
        drop(stream);
        let hex: String = Sha256::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let line = lines
            .by_ref()
            .find(|l| l.contains("received"))
            .expect("the sink reports each connection");
        assert!(
            line.contains(&format!("received {size} bytes")) && line.contains(&hex),
            "{line}"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
