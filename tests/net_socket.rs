//! The socket stack (`socket_stackv4v6`, the default of
//! `generic_stackv4v6` on unix): `examples/udp-echo` and
//! `examples/tcp-echo` built for unix without keys echo over the host's
//! sockets, to IPv4 and IPv6 clients on loopback, and `tcp-echo` connects
//! out to a host listener.

mod common;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn udp_echo_over_the_host_sockets() {
    let binary = common::build_example("udp-echo", "unix");
    // A port nobody uses: bind one, release it, hand it to the unikernel.
    let port = UdpSocket::bind("[::]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(&binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
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

#[test]
fn tcp_echo_over_the_host_sockets() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let binary = common::build_example("tcp-echo", "unix");
    let port = TcpListener::bind("[::]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The unikernel also connects out to a host listener of ours.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer_port = listener.local_addr().unwrap().port();
    let mut child = Command::new(&binary)
        .args([
            format!("--port={port}"),
            "--peer=127.0.0.1".to_string(),
            format!("--peer-port={peer_port}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
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
