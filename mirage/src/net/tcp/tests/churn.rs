//! Connection churn: thousands of short connections (request, response,
//! close), some aborted, over a lossy wire; afterwards nothing is left:
//! no connection, table entry, timer or TIME-WAIT record, and the slot
//! table stayed as small as the concurrency.

use super::harness::*;
use crate::net::tcp::{Config, ConnId, TcpError};
use alloc::vec::Vec;

#[derive(Debug)]
struct Client {
    id: ConnId,
    n: u32,
    got: Vec<u8>,
}

fn churn(total: u32, concurrency: usize, impair: Impair, server_closes_first: bool) {
    let cfg = Config {
        send_buffer: 4096,
        recv_buffer: 4096,
        ..Config::default()
    };
    let mut sim = Sim::new(cfg.clone(), cfg, impair, 99);
    let l = sim.b.listen(7, 64).unwrap();
    let mut clients: Vec<Client> = Vec::new();
    let mut servers: Vec<(ConnId, Vec<u8>, bool)> = Vec::new();
    let mut started = 0u32;
    let mut finished = 0u32;
    let mut buf = [0u8; 256];
    sim.run_until(3_600_000 * MS, |s| {
        while clients.len() < concurrency && started < total {
            let id = s.a.connect(s.now, (A, 0), (B, 7)).unwrap();
            let req = alloc::format!("request {started}");
            assert_eq!(s.a.send(id, req.as_bytes()), Ok(req.len()));
            if !server_closes_first {
                s.a.shutdown_write(id).unwrap();
            }
            clients.push(Client {
                id,
                n: started,
                got: Vec::new(),
            });
            started += 1;
        }
        while let Some(id) = s.b.accept(l).unwrap() {
            servers.push((id, Vec::new(), false));
        }
        // Servers: read the request, answer, close.
        servers.retain_mut(|(id, req, answered)| {
            loop {
                match s.b.recv(*id, &mut buf) {
                    Ok(0) if !server_closes_first || !*answered && req.is_empty() => return true,
                    Ok(0) => {}
                    Ok(n) => {
                        req.extend_from_slice(&buf[..n]);
                        if !server_closes_first {
                            continue;
                        }
                    }
                    Err(TcpError::Eof) => {}
                    Err(e) => panic!("server recv: {e}"),
                }
                if !*answered {
                    let mut resp = b"response to ".to_vec();
                    resp.extend_from_slice(req);
                    assert_eq!(s.b.send(*id, &resp), Ok(resp.len()));
                    *answered = true;
                }
                s.b.close(*id).unwrap();
                return false;
            }
        });
        // Clients: read the answer to the end, check it, close; every
        // tenth aborts instead once it has its answer.
        clients.retain_mut(|c| {
            loop {
                match s.a.recv(c.id, &mut buf) {
                    Ok(0) => return true,
                    Ok(n) => c.got.extend_from_slice(&buf[..n]),
                    Err(TcpError::Eof) => {
                        let want = alloc::format!("response to request {}", c.n);
                        assert_eq!(c.got, want.as_bytes());
                        if c.n % 10 == 0 {
                            s.a.abort(c.id).unwrap();
                        } else {
                            s.a.close(c.id).unwrap();
                        }
                        finished += 1;
                        return false;
                    }
                    Err(e) => panic!("client {} recv: {e}", c.n),
                }
            }
        });
        finished == total && servers.is_empty()
    });
    // Let TIME-WAIT and the closing handshakes run out.
    sim.advance(200_000 * MS);
    for t in [&sim.a, &sim.b] {
        assert_empty(t);
        let o = t.occupancy();
        assert!(o.slots <= 2 * concurrency + 8, "slots grew: {o:?}");
    }
    assert!(sim.b.stats().established >= u64::from(total));
    // The handles of reclaimed connections are refused.
    let first = clients.first().map(|c| c.id);
    assert!(first.is_none());
}

#[test]
fn thousands_of_short_connections_leave_nothing() {
    churn(2000, 20, Impair::default(), false);
}

#[test]
fn churn_over_a_lossy_wire_server_closing_first() {
    let impair = Impair {
        loss_per_mille: 20,
        dup_per_mille: 10,
        reorder_per_mille: 20,
        reorder_ns: 2 * MS,
        delay_ns: MS,
    };
    churn(500, 16, impair, true);
}

/// Churn through a backlog far smaller than the concurrency (so that SYN
/// cookies open many of the connections), with a listener that is closed
/// and opened again now and then (resetting what it had not accepted),
/// and servers that accept, close or abort: every connection ends one way
/// or another, and nothing is left on either side.
#[test]
fn churn_through_cookies_and_listener_restarts_leaves_nothing() {
    let cfg = Config {
        send_buffer: 4096,
        recv_buffer: 4096,
        max_backlog: 2,
        ..Config::default()
    };
    let impair = Impair {
        loss_per_mille: 10,
        reorder_per_mille: 10,
        reorder_ns: 2 * MS,
        delay_ns: MS,
        ..Impair::default()
    };
    // (A client whose peer's abort was lost waits in FIN-WAIT-2 for ever,
    // as a held connection does: keep-alive finds the peer gone.)
    let client = Config {
        keepalive: Some(crate::net::tcp::KeepAlive {
            idle_ns: 10_000 * MS,
            interval_ns: 1_000 * MS,
            count: 3,
        }),
        ..cfg.clone()
    };
    let mut sim = Sim::new(client, cfg, impair, 7);
    let mut l = Some(sim.b.listen(7, 2).unwrap());
    let mut clients: Vec<ConnId> = Vec::new();
    let mut servers: Vec<ConnId> = Vec::new();
    let (total, concurrency) = (600u32, 24usize);
    let (mut started, mut ended, mut accepted) = (0u32, 0u32, 0u32);
    let mut buf = [0u8; 64];
    sim.run_until(3_600_000 * MS, |s| {
        while clients.len() < concurrency && started < total {
            let id = s.a.connect(s.now, (A, 0), (B, 7)).unwrap();
            s.a.send(id, b"hello").unwrap();
            s.a.shutdown_write(id).unwrap();
            clients.push(id);
            started += 1;
        }
        match l {
            Some(li) => {
                while let Some(id) = s.b.accept(li).unwrap() {
                    accepted += 1;
                    servers.push(id);
                    if accepted % 50 == 0 {
                        s.b.close_listener(li).unwrap();
                        l = None;
                        break;
                    }
                }
            }
            // (Closed for a moment: SYNs and cookie ACKs meanwhile draw RSTs.)
            None => l = Some(s.b.listen(7, 2).unwrap()),
        }
        servers.retain(|&id| match s.b.recv(id, &mut buf) {
            Ok(0) => true,
            Ok(_) | Err(_) => {
                if id.index % 3 == 0 {
                    s.b.abort(id).unwrap();
                } else {
                    let _ = s.b.send(id, b"bye");
                    s.b.close(id).unwrap();
                }
                false
            }
        });
        clients.retain(|&id| {
            loop {
                match s.a.recv(id, &mut buf) {
                    Ok(0) => return true,
                    Ok(_) => continue,
                    Err(_) => {
                        s.a.close(id).unwrap();
                        ended += 1;
                        return false;
                    }
                }
            }
        });
        ended == total && servers.is_empty()
    });
    if let Some(li) = l {
        sim.b.close_listener(li).unwrap();
    }
    sim.advance(300_000 * MS);
    for t in [&sim.a, &sim.b] {
        assert_empty(t);
        assert_eq!(t.occupancy().listeners, 0);
    }
    assert!(
        sim.b.stats().syn_cookies_accepted > 0,
        "{:?}",
        sim.b.stats()
    );
}
