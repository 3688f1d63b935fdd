//! The DHCPv4 client state machine (RFC 2131, section 4.4).
//!
//! `Init` → DISCOVER → `Selecting` → OFFER → REQUEST → `Requesting` → ACK
//! → `Checking` (ARP probes for the address, section 4.4.1) → `Bound` (the
//! lease is usable) → at T1 REQUEST unicast → `Renewing` → at T2 REQUEST
//! broadcast → `Rebinding` → at expiry back to `Init`. A NAK restarts from
//! `Init`; another station answering for the address while it is checked
//! ([`Client::conflict`]) makes the client DECLINE it and start over ten
//! seconds later (`Declined`). Requests are retransmitted with exponential
//! backoff (4, 8, 16, 32, 64 s, as section 4.1 suggests); messages whose
//! transaction id, hardware address or kind do not fit the state are
//! ignored (counted).

use alloc::vec::Vec;
use core::net::Ipv4Addr;

use crate::net::MacAddr;

const SEC: u64 = 1_000_000_000;

/// ARP probes sent for an acknowledged address before it is used.
pub const PROBES: u8 = 2;
/// Between two probes, and from the last to the use of the address.
pub const PROBE_INTERVAL_NS: u64 = SEC;
/// How long a client that declined an address waits before it starts
/// over (RFC 2131 section 3.1: at least ten seconds).
pub const DECLINE_WAIT_NS: u64 = 10 * SEC;

/// A message received from a server, as the client needs it (the stack
/// converts the parsed wire format into this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// OFFER, ACK or NAK.
    pub kind: ReplyKind,
    /// The transaction id.
    pub xid: u32,
    /// The client hardware address it is for.
    pub chaddr: MacAddr,
    /// The address offered or acknowledged (`yiaddr`).
    pub your_addr: Ipv4Addr,
    /// The server identifier option.
    pub server_id: Option<Ipv4Addr>,
    /// Lease time in seconds.
    pub lease_secs: Option<u32>,
    /// T1 (renewal) in seconds.
    pub renewal_secs: Option<u32>,
    /// T2 (rebinding) in seconds.
    pub rebinding_secs: Option<u32>,
    /// Subnet mask.
    pub subnet_mask: Option<Ipv4Addr>,
    /// Routers, first preferred.
    pub routers: Vec<Ipv4Addr>,
    /// DNS servers.
    pub dns_servers: Vec<Ipv4Addr>,
}

/// The kinds of reply the client acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// DHCPOFFER.
    Offer,
    /// DHCPACK.
    Ack,
    /// DHCPNAK.
    Nak,
}

/// A message the client wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Send {
    /// DHCPDISCOVER, broadcast.
    Discover {
        /// Transaction id.
        xid: u32,
    },
    /// DHCPREQUEST for an offer (SELECTING), broadcast.
    RequestSelected {
        /// Transaction id.
        xid: u32,
        /// The requested address option.
        requested: Ipv4Addr,
        /// The chosen server's identifier.
        server_id: Ipv4Addr,
    },
    /// An ARP probe for `address` (who has it? from 0.0.0.0: RFC 5227
    /// section 2.1.1), which the IPv4 layer sends through ARP.
    Probe {
        /// The acknowledged address being checked.
        address: Ipv4Addr,
    },
    /// DHCPDECLINE: the acknowledged address is in use; broadcast.
    Decline {
        /// Transaction id.
        xid: u32,
        /// The declined address (requested address option).
        requested: Ipv4Addr,
        /// The server that offered it.
        server_id: Ipv4Addr,
    },
    /// DHCPREQUEST to extend the lease: unicast to `server` when renewing,
    /// broadcast (`server` = None) when rebinding; `ciaddr` is the leased
    /// address.
    RequestExtend {
        /// Transaction id.
        xid: u32,
        /// The leased address.
        ciaddr: Ipv4Addr,
        /// The server to unicast to (renewing), or None (rebinding).
        server: Option<Ipv4Addr>,
    },
}

/// A lease: what configures the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The address.
    pub address: Ipv4Addr,
    /// The prefix length (from the subnet mask; 24 if none was given).
    pub prefix_len: u8,
    /// The default gateway.
    pub gateway: Option<Ipv4Addr>,
    /// DNS servers.
    pub dns_servers: Vec<Ipv4Addr>,
    /// The server that granted it.
    pub server: Ipv4Addr,
    /// When it was granted (monotonic ns).
    pub granted_at: u64,
    /// Lease duration in seconds.
    pub lease_secs: u32,
    /// T1 in seconds.
    pub renewal_secs: u32,
    /// T2 in seconds.
    pub rebinding_secs: u32,
}

impl Lease {
    fn at(&self, secs: u32) -> u64 {
        self.granted_at.saturating_add(u64::from(secs) * SEC)
    }
}

/// The client's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Nothing sent yet (or starting over).
    Init,
    /// DISCOVER sent; waiting for offers.
    Selecting,
    /// REQUEST sent for an offer; waiting for the ACK.
    Requesting {
        /// The offered address.
        requested: Ipv4Addr,
        /// The offering server.
        server_id: Ipv4Addr,
    },
    /// ACK received: the address is being checked with ARP probes (the
    /// number sent so far) before it is used.
    Checking {
        /// Probes sent.
        probes: u8,
    },
    /// The acknowledged address was in use: declined; starts over when
    /// the wait is over.
    Declined,
    /// The lease is valid.
    Bound,
    /// Past T1: extending with the granting server.
    Renewing,
    /// Past T2: extending with any server.
    Rebinding,
}

/// What happened, for the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A lease was acquired or extended (configure or keep the address).
    Bound(Lease),
    /// The lease was lost (expired or NAKed): deconfigure the address.
    Lost,
}

/// The DHCP client.
#[derive(Debug)]
pub struct Client {
    mac: MacAddr,
    state: State,
    lease: Option<Lease>,
    /// The acknowledged lease while its address is checked.
    pending: Option<Lease>,
    xid: u32,
    next_xid: u32,
    /// When to send (or resend) next, and the current backoff.
    resend_at: u64,
    backoff: u64,
    /// Replies ignored as not fitting (wrong xid, address or state).
    pub ignored: u64,
}

impl Client {
    /// A client for the interface `mac`; `seed` picks transaction ids
    /// (from the random device).
    pub fn new(mac: MacAddr, seed: u32) -> Self {
        Client {
            mac,
            state: State::Init,
            lease: None,
            pending: None,
            xid: 0,
            next_xid: seed | 1,
            resend_at: 0,
            backoff: 4 * SEC,
            ignored: 0,
        }
    }

    /// The state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The current lease, if bound (or renewing/rebinding).
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    fn new_xid(&mut self) -> u32 {
        // xorshift32: distinct, unpredictable enough ids from the seed.
        let mut x = self.next_xid;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.next_xid = x;
        self.xid = x;
        x
    }

    fn arm(&mut self, now: u64, restart: bool) {
        if restart {
            self.backoff = 4 * SEC;
        }
        self.resend_at = now.saturating_add(self.backoff);
        self.backoff = (self.backoff * 2).min(64 * SEC);
    }

    /// Advances to `now`: starts, retransmits, renews, rebinds or expires.
    /// Returns what to send and what changed.
    pub fn poll(&mut self, now: u64) -> (Option<Send>, Option<Event>) {
        if let Some(lease) = &self.lease
            && now >= lease.at(lease.lease_secs)
        {
            self.lease = None;
            self.state = State::Init;
            return (self.start(now), Some(Event::Lost));
        }
        match self.state.clone() {
            State::Init => (self.start(now), None),
            State::Selecting if now >= self.resend_at => {
                self.arm(now, false);
                (Some(Send::Discover { xid: self.xid }), None)
            }
            State::Requesting {
                requested,
                server_id,
            } if now >= self.resend_at => {
                if self.backoff >= 64 * SEC {
                    // No ACK after the retransmissions: start over.
                    self.state = State::Init;
                    return (self.start(now), None);
                }
                self.arm(now, false);
                (
                    Some(Send::RequestSelected {
                        xid: self.xid,
                        requested,
                        server_id,
                    }),
                    None,
                )
            }
            State::Checking { probes } if now >= self.resend_at => {
                let Some(pending) = self.pending.take() else {
                    return (self.start(now), None);
                };
                if probes < PROBES {
                    self.state = State::Checking { probes: probes + 1 };
                    self.resend_at = now.saturating_add(PROBE_INTERVAL_NS);
                    let address = pending.address;
                    self.pending = Some(pending);
                    return (Some(Send::Probe { address }), None);
                }
                // Nobody answered for it: the address is ours.
                self.lease = Some(pending.clone());
                self.state = State::Bound;
                (None, Some(Event::Bound(pending)))
            }
            State::Declined if now >= self.resend_at => (self.start(now), None),
            State::Bound | State::Renewing | State::Rebinding => self.extend(now),
            _ => (None, None),
        }
    }

    /// Whether ARP should report another station using `address` now:
    /// the address acknowledged and being checked.
    pub fn checking(&self) -> Option<Ipv4Addr> {
        match self.state {
            State::Checking { .. } => self.pending.as_ref().map(|l| l.address),
            _ => None,
        }
    }

    /// Another station answered for (or probes) `address` while it is
    /// checked: it is in use. The client declines it (RFC 2131 section
    /// 4.4.1: a MUST once the check found it in use) and starts over after
    /// [`DECLINE_WAIT_NS`]. Nothing to send when not checking `address`.
    pub fn conflict(&mut self, address: Ipv4Addr, now: u64) -> Option<Send> {
        if self.checking() != Some(address) {
            return None;
        }
        let pending = self.pending.take()?;
        self.state = State::Declined;
        self.resend_at = now.saturating_add(DECLINE_WAIT_NS);
        Some(Send::Decline {
            xid: self.xid,
            requested: address,
            server_id: pending.server,
        })
    }

    fn start(&mut self, now: u64) -> Option<Send> {
        let xid = self.new_xid();
        self.state = State::Selecting;
        self.arm(now, true);
        Some(Send::Discover { xid })
    }

    fn extend(&mut self, now: u64) -> (Option<Send>, Option<Event>) {
        let Some(lease) = self.lease.clone() else {
            return (None, None);
        };
        let (t1, t2) = (lease.at(lease.renewal_secs), lease.at(lease.rebinding_secs));
        let wanted = if now >= t2 {
            State::Rebinding
        } else if now >= t1 {
            State::Renewing
        } else {
            return (None, None);
        };
        if self.state != wanted {
            self.state = wanted;
            self.new_xid();
            self.resend_at = now;
        }
        if now < self.resend_at {
            return (None, None);
        }
        // Retransmit at half the remaining time (RFC 2131 4.4.5), at least 60 s.
        let until = if self.state == State::Renewing {
            t2
        } else {
            lease.at(lease.lease_secs)
        };
        self.resend_at = now.saturating_add((until.saturating_sub(now) / 2).max(60 * SEC));
        let server = (self.state == State::Renewing).then_some(lease.server);
        (
            Some(Send::RequestExtend {
                xid: self.xid,
                ciaddr: lease.address,
                server,
            }),
            None,
        )
    }

    /// When `poll` next has something to do.
    pub fn next_deadline(&self) -> u64 {
        match (&self.state, &self.lease) {
            (State::Bound, Some(lease)) => lease.at(lease.renewal_secs),
            (State::Renewing, Some(lease)) => self.resend_at.min(lease.at(lease.rebinding_secs)),
            (State::Rebinding, Some(lease)) => self.resend_at.min(lease.at(lease.lease_secs)),
            _ => self.resend_at,
        }
    }

    /// Handles a reply from a server at `now`.
    pub fn handle(&mut self, reply: &Reply, now: u64) -> (Option<Send>, Option<Event>) {
        if reply.xid != self.xid || reply.chaddr != self.mac {
            self.ignored += 1;
            return (None, None);
        }
        match (&self.state, reply.kind) {
            (State::Selecting, ReplyKind::Offer) => {
                let Some(server_id) = reply.server_id else {
                    self.ignored += 1;
                    return (None, None);
                };
                if reply.your_addr.is_unspecified() || reply.your_addr.is_broadcast() {
                    self.ignored += 1;
                    return (None, None);
                }
                self.state = State::Requesting {
                    requested: reply.your_addr,
                    server_id,
                };
                self.arm(now, true);
                (
                    Some(Send::RequestSelected {
                        xid: self.xid,
                        requested: reply.your_addr,
                        server_id,
                    }),
                    None,
                )
            }
            (State::Requesting { .. } | State::Renewing | State::Rebinding, ReplyKind::Ack) => {
                let server = reply
                    .server_id
                    .or(self.lease.as_ref().map(|l| l.server))
                    .unwrap_or(Ipv4Addr::UNSPECIFIED);
                let lease_secs = reply.lease_secs.unwrap_or(3600).max(1);
                let renewal = reply.renewal_secs.unwrap_or(lease_secs / 2).min(lease_secs);
                let rebinding = reply
                    .rebinding_secs
                    .unwrap_or(((u64::from(lease_secs) * 7) / 8) as u32)
                    .clamp(renewal, lease_secs);
                let prefix_len = reply
                    .subnet_mask
                    .map(|m| u32::from(m).leading_ones() as u8)
                    .filter(|&l| l > 0 && l <= 32)
                    .unwrap_or(24);
                let lease = Lease {
                    address: reply.your_addr,
                    prefix_len,
                    gateway: reply.routers.first().copied(),
                    dns_servers: reply.dns_servers.clone(),
                    server,
                    granted_at: now,
                    lease_secs,
                    renewal_secs: renewal,
                    rebinding_secs: rebinding,
                };
                if matches!(self.state, State::Requesting { .. }) {
                    // A new address: checked with ARP before it is used
                    // (section 4.4.1's SHOULD). (An extended lease's
                    // address is ours already.)
                    let address = lease.address;
                    self.pending = Some(lease);
                    self.state = State::Checking { probes: 1 };
                    self.resend_at = now.saturating_add(PROBE_INTERVAL_NS);
                    return (Some(Send::Probe { address }), None);
                }
                self.lease = Some(lease.clone());
                self.state = State::Bound;
                (None, Some(Event::Bound(lease)))
            }
            (State::Requesting { .. } | State::Renewing | State::Rebinding, ReplyKind::Nak) => {
                let had = self.lease.take().is_some();
                self.state = State::Init;
                let send = self.start(now);
                (send, had.then_some(Event::Lost))
            }
            _ => {
                self.ignored += 1;
                (None, None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 9]);
    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);

    fn reply(kind: ReplyKind, xid: u32) -> Reply {
        Reply {
            kind,
            xid,
            chaddr: MAC,
            your_addr: ME,
            server_id: Some(SERVER),
            lease_secs: Some(1000),
            renewal_secs: None,
            rebinding_secs: None,
            subnet_mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
            routers: vec![SERVER],
            dns_servers: vec![Ipv4Addr::new(10, 0, 0, 2)],
        }
    }

    fn xid_of(send: &Option<Send>) -> u32 {
        match send {
            Some(Send::Discover { xid })
            | Some(Send::RequestSelected { xid, .. })
            | Some(Send::RequestExtend { xid, .. })
            | Some(Send::Decline { xid, .. }) => *xid,
            Some(Send::Probe { .. }) => panic!("a probe has no transaction"),
            None => panic!("nothing sent"),
        }
    }

    fn bind(c: &mut Client) -> Lease {
        let (send, _) = c.poll(0);
        let xid = xid_of(&send);
        let (send, _) = c.handle(&reply(ReplyKind::Offer, xid), 1);
        assert_eq!(
            send,
            Some(Send::RequestSelected {
                xid,
                requested: ME,
                server_id: SERVER
            })
        );
        // The ACK: the address is probed twice, a second apart, then
        // used a second after the last probe.
        let probe = Some(Send::Probe { address: ME });
        assert_eq!(
            c.handle(&reply(ReplyKind::Ack, xid), 2),
            (probe.clone(), None)
        );
        assert_eq!(c.checking(), Some(ME));
        assert!(c.lease().is_none(), "not used while checked");
        assert_eq!(c.poll(1 + SEC), (None, None));
        assert_eq!(c.poll(2 + SEC), (probe, None));
        match c.poll(2 + 2 * SEC) {
            (None, Some(Event::Bound(lease))) => lease,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn discover_offer_request_ack() {
        let mut c = Client::new(MAC, 42);
        let lease = bind(&mut c);
        assert_eq!(
            (lease.address, lease.prefix_len, lease.gateway),
            (ME, 24, Some(SERVER))
        );
        assert_eq!((lease.renewal_secs, lease.rebinding_secs), (500, 875));
        assert_eq!(c.state(), &State::Bound);
        assert_eq!(c.next_deadline(), 2 + 500 * SEC);
    }

    #[test]
    fn renew_at_t1_unicast_rebind_at_t2_broadcast_expire_at_the_end() {
        let mut c = Client::new(MAC, 7);
        bind(&mut c);
        assert_eq!(c.poll(100 * SEC), (None, None));
        let (send, _) = c.poll(2 + 500 * SEC);
        assert!(
            matches!(
                send,
                Some(Send::RequestExtend {
                    ciaddr: ME,
                    server: Some(SERVER),
                    ..
                })
            ),
            "{send:?}"
        );
        assert_eq!(c.state(), &State::Renewing);
        let (send, _) = c.poll(2 + 875 * SEC);
        assert!(
            matches!(send, Some(Send::RequestExtend { server: None, .. })),
            "{send:?}"
        );
        assert_eq!(c.state(), &State::Rebinding);
        let (send, event) = c.poll(2 + 1000 * SEC);
        assert_eq!(event, Some(Event::Lost));
        assert!(matches!(send, Some(Send::Discover { .. })));
        assert!(c.lease().is_none());
    }

    #[test]
    fn an_ack_while_renewing_extends_the_lease() {
        let mut c = Client::new(MAC, 9);
        bind(&mut c);
        let send = c.poll(600 * SEC).0;
        let xid = xid_of(&send);
        let (_, event) = c.handle(&reply(ReplyKind::Ack, xid), 601 * SEC);
        assert!(matches!(event, Some(Event::Bound(l)) if l.granted_at == 601 * SEC));
        assert_eq!(c.state(), &State::Bound);
    }

    #[test]
    fn retransmissions_back_off_and_stray_replies_are_ignored() {
        let mut c = Client::new(MAC, 3);
        let xid = xid_of(&c.poll(0).0);
        assert_eq!(c.poll(3 * SEC), (None, None));
        let mut times = vec![];
        let mut t = 0;
        while times.len() < 5 {
            t += SEC;
            if c.poll(t).0.is_some() {
                times.push(t / SEC);
            }
        }
        assert_eq!(times, [4, 12, 28, 60, 124]);
        // Wrong xid, wrong MAC, an ACK while selecting: ignored.
        assert_eq!(c.handle(&reply(ReplyKind::Offer, xid ^ 1), t), (None, None));
        let mut other = reply(ReplyKind::Offer, xid);
        other.chaddr = MacAddr([2, 0, 0, 0, 0, 8]);
        assert_eq!(c.handle(&other, t), (None, None));
        assert_eq!(c.handle(&reply(ReplyKind::Ack, xid), t), (None, None));
        assert_eq!(c.ignored, 3);
    }

    #[test]
    fn a_nak_starts_over() {
        let mut c = Client::new(MAC, 5);
        bind(&mut c);
        let xid = xid_of(&c.poll(600 * SEC).0);
        let (send, event) = c.handle(&reply(ReplyKind::Nak, xid), 600 * SEC);
        assert_eq!(event, Some(Event::Lost));
        assert!(matches!(send, Some(Send::Discover { .. })));
        assert_eq!(c.state(), &State::Selecting);
    }

    #[test]
    fn an_address_in_use_is_declined_and_the_client_starts_over_later() {
        let mut c = Client::new(MAC, 11);
        let xid = xid_of(&c.poll(0).0);
        c.handle(&reply(ReplyKind::Offer, xid), 1);
        let (send, _) = c.handle(&reply(ReplyKind::Ack, xid), 2);
        assert_eq!(send, Some(Send::Probe { address: ME }));
        // Another address's conflict is none of the client's business.
        assert_eq!(c.conflict(Ipv4Addr::new(10, 0, 0, 51), 3), None);
        // Someone answers for ME.
        assert_eq!(
            c.conflict(ME, 3),
            Some(Send::Decline {
                xid,
                requested: ME,
                server_id: SERVER
            })
        );
        assert_eq!(c.state(), &State::Declined);
        assert_eq!(c.checking(), None);
        assert!(c.lease().is_none());
        assert_eq!(c.conflict(ME, 4), None, "declined once");
        // Ten seconds later: a new DISCOVER.
        assert_eq!(c.poll(2 + 9 * SEC), (None, None));
        let (send, event) = c.poll(3 + DECLINE_WAIT_NS);
        assert!(
            matches!(send, Some(Send::Discover { xid: new }) if new != xid),
            "{send:?}"
        );
        assert_eq!(event, None);
    }
}
