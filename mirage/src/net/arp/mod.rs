//! ARP (the seed's `arpv4`, `arp`): answers requests for our addresses,
//! resolves others' through the cache (`cache`, the state machine without
//! I/O), queues IPv4 packets while resolving, announces our addresses with
//! gratuitous ARP. The lock on the state is never held across an await.

pub mod cache;

use alloc::vec::Vec;
use core::net::Ipv4Addr;

use spin::Mutex;

use crate::Mclock;
use crate::net::MacAddr;
use crate::net::device::{NetError, Network};
use crate::net::ethernet::Ethernet;
use crate::net::wire::arp::{self as wire, Operation, PACKET_LEN};
use crate::net::wire::ethernet::EtherType;

use cache::{Cache, Config, Lookup};

struct State {
    cache: Cache<Vec<u8>>,
    ips: Vec<Ipv4Addr>,
    malformed: u64,
}

/// The ARP layer over `Ethernet<N>`, timed by the monotonic clock `C`.
pub struct Arp<N: 'static, C: 'static> {
    eth: &'static Ethernet<N>,
    clock: &'static C,
    state: Mutex<State>,
}

impl<N: Network, C: Mclock> core::fmt::Debug for Arp<N, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Arp")
            .field("ips", &self.state.lock().ips)
            .finish_non_exhaustive()
    }
}

impl<N: Network, C: Mclock> Arp<N, C> {
    /// The layer over `eth`, with the cache limits of `config`.
    pub fn connect_with(eth: &'static Ethernet<N>, clock: &'static C, config: Config) -> Self {
        Arp {
            eth,
            clock,
            state: Mutex::new(State {
                cache: Cache::new(config),
                ips: Vec::new(),
                malformed: 0,
            }),
        }
    }

    /// The layer over `eth` with MirageOS's defaults.
    pub fn connect(eth: &'static Ethernet<N>, clock: &'static C) -> Self {
        Self::connect_with(eth, clock, Config::default())
    }

    /// Our addresses.
    pub fn ips(&self) -> Vec<Ipv4Addr> {
        self.state.lock().ips.clone()
    }

    /// Sets our addresses and announces each with a gratuitous ARP request.
    pub async fn set_ips(&self, ips: &[Ipv4Addr]) -> Result<(), NetError> {
        self.state.lock().ips = ips.to_vec();
        for &ip in ips {
            self.send(Operation::Request, ip, MacAddr::BROADCAST, ip)
                .await?;
        }
        Ok(())
    }

    /// The resolved address of `ip`, if cached.
    pub fn query(&self, ip: Ipv4Addr) -> Option<MacAddr> {
        self.state.lock().cache.get(ip, self.clock.elapsed_ns())
    }

    /// Packets dropped (queues full, unresolvable) and malformed ARP
    /// packets.
    pub fn dropped(&self) -> (u64, u64) {
        let state = self.state.lock();
        (state.cache.dropped, state.malformed)
    }

    /// The number of cache entries.
    pub fn cache_len(&self) -> usize {
        self.state.lock().cache.len()
    }

    async fn send(
        &self,
        op: Operation,
        target_ip: Ipv4Addr,
        target_mac: MacAddr,
        source_ip: Ipv4Addr,
    ) -> Result<(), NetError> {
        let repr = wire::Repr {
            operation: op,
            source_hardware_addr: self.eth.mac(),
            source_protocol_addr: source_ip,
            target_hardware_addr: if op == Operation::Request {
                MacAddr::default()
            } else {
                target_mac
            },
            target_protocol_addr: target_ip,
        };
        let dst = if op == Operation::Request {
            MacAddr::BROADCAST
        } else {
            target_mac
        };
        self.eth
            .write(dst, EtherType::Arp, PACKET_LEN, |buf| {
                repr.emit(&mut wire::Packet::new_unchecked(&mut buf[..PACKET_LEN]));
                PACKET_LEN
            })
            .await
    }

    async fn request(&self, ip: Ipv4Addr) -> Result<(), NetError> {
        let source = self
            .state
            .lock()
            .ips
            .first()
            .copied()
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        self.send(Operation::Request, ip, MacAddr::BROADCAST, source)
            .await
    }

    async fn send_ipv4_to(&self, mac: MacAddr, packet: &[u8]) -> Result<(), NetError> {
        self.eth
            .write(mac, EtherType::Ipv4, packet.len(), |buf| {
                buf[..packet.len()].copy_from_slice(packet);
                packet.len()
            })
            .await
    }

    /// Handles an ARP packet received from `src`: learns the sender (only
    /// creating an entry when the packet is for one of our addresses),
    /// sends the packets that waited for it, and answers requests for our
    /// addresses.
    pub async fn input(&self, payload: &[u8]) -> Result<(), NetError> {
        let now = self.clock.elapsed_ns();
        let repr = match wire::Packet::new_checked(payload).and_then(|p| wire::Repr::parse(&p)) {
            Ok(repr) => repr,
            Err(_) => {
                self.state.lock().malformed += 1;
                return Ok(());
            }
        };
        let (waiting, for_us) = {
            let mut state = self.state.lock();
            let for_us = state.ips.contains(&repr.target_protocol_addr);
            let ours = state.ips.contains(&repr.source_protocol_addr);
            let waiting = if ours {
                Vec::new() // someone claims our address: never learn it
            } else {
                state.cache.learn(
                    repr.source_protocol_addr,
                    repr.source_hardware_addr,
                    now,
                    for_us,
                )
            };
            (waiting, for_us)
        };
        for packet in waiting {
            self.send_ipv4_to(repr.source_hardware_addr, &packet)
                .await?;
        }
        if for_us && repr.operation == Operation::Request && repr.source_hardware_addr.is_unicast()
        {
            self.send(
                Operation::Reply,
                repr.source_protocol_addr,
                repr.source_hardware_addr,
                repr.target_protocol_addr,
            )
            .await?;
        }
        Ok(())
    }

    /// Sends the IPv4 `packet` to `ip` on the link: now if resolved (or
    /// broadcast), else after resolution (queued, bounded).
    pub async fn send_ipv4(&self, ip: Ipv4Addr, packet: Vec<u8>) -> Result<(), NetError> {
        if ip.is_broadcast() {
            return self.send_ipv4_to(MacAddr::BROADCAST, &packet).await;
        }
        let now = self.clock.elapsed_ns();
        let (lookup, packet) = self.state.lock().cache.resolve(ip, packet, now);
        match (lookup, packet) {
            (Lookup::Found(mac), Some(packet)) => self.send_ipv4_to(mac, &packet).await,
            (Lookup::SendRequest, _) => self.request(ip).await,
            _ => Ok(()),
        }
    }

    /// Runs the cache's timers: repeats requests, gives up, expires
    /// entries. Call when `next_deadline` comes.
    pub async fn tick(&self) -> Result<(), NetError> {
        let due = self.state.lock().cache.poll(self.clock.elapsed_ns());
        for ip in due.requests {
            self.request(ip).await?;
        }
        Ok(())
    }

    /// When `tick` next has work.
    pub fn next_deadline(&self) -> Option<u64> {
        self.state.lock().cache.next_deadline()
    }
}
