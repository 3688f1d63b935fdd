//! What the TCP derives from its secret: initial sequence numbers (RFC 6528:
//! `ISN = M + F(localip, localport, remoteip, remoteport, secretkey)`, with
//! `M` a 4-microsecond clock and `F` SipHash-2-4), SYN cookies, per-connection
//! timestamp offsets (RFC 7323 section 5.4), ephemeral port offsets (RFC
//! 6056 algorithm 3) and the keyed hasher of the connection table (the peer
//! chooses the keys, so an unkeyed hash would let it flood one bucket).

use core::hash::{BuildHasher, Hash, Hasher};
use core::net::IpAddr;
use siphasher::sip::{SipHasher13, SipHasher24};

/// A connection's addresses: ours, then the peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FourTuple {
    pub(crate) local: IpAddr,
    pub(crate) local_port: u16,
    pub(crate) remote: IpAddr,
    pub(crate) remote_port: u16,
}

impl Hash for FourTuple {
    /// Whole 64-bit words (two for IPv4): SipHash takes them in one step
    /// each, where the derived field-by-field hash fed it a dozen short
    /// writes (table look-ups, initial sequence numbers and timestamp
    /// offsets hash a tuple several times per connection).
    fn hash<H: Hasher>(&self, h: &mut H) {
        let ports = (u64::from(self.local_port) << 16) | u64::from(self.remote_port);
        match (self.local, self.remote) {
            (IpAddr::V4(l), IpAddr::V4(r)) => {
                h.write_u64((u64::from(u32::from(l)) << 32) | u64::from(u32::from(r)));
                h.write_u64(ports | (4 << 32));
            }
            (l, r) => {
                for a in [l, r] {
                    let v = match a {
                        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
                        IpAddr::V6(a) => u128::from(a),
                    };
                    h.write_u64((v >> 64) as u64);
                    h.write_u64(v as u64);
                }
                h.write_u64(ports | (6 << 32));
            }
        }
    }
}

/// The keys, from the 32 secret bytes given to [`super::TcpEngine::new`].
#[derive(Debug, Clone)]
pub(crate) struct Secrets {
    isn: (u64, u64),
    cookie: (u64, u64),
    other: (u64, u64),
}

/// A `BuildHasher` keyed with part of the secret (SipHash-1-3).
#[derive(Debug, Clone)]
pub(crate) struct KeyedHasher(u64, u64);

impl BuildHasher for KeyedHasher {
    type Hasher = SipHasher13;
    fn build_hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_keys(self.0, self.1)
    }
}

/// MSS values a SYN cookie can encode (3 bits).
pub(crate) const COOKIE_MSS: [u16; 8] = [536, 1024, 1220, 1300, 1360, 1440, 1460, 8960];

/// A SYN cookie's time counter advances every 64 seconds.
const COOKIE_PERIOD_NS: u64 = 64_000_000_000;

fn u64_at(b: &[u8; 32], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

impl Secrets {
    pub(crate) fn new(seed: &[u8; 32]) -> Secrets {
        let isn = (u64_at(seed, 0), u64_at(seed, 8));
        let cookie = (u64_at(seed, 16), u64_at(seed, 24));
        // A third key, derived, so that no output of one use reveals
        // another's key.
        let mut h = SipHasher24::new_with_keys(isn.0 ^ cookie.1, isn.1 ^ cookie.0);
        h.write(b"mirage-tcp-other-key");
        let a = h.finish();
        h.write_u64(a);
        let other = (a, h.finish());
        Secrets { isn, cookie, other }
    }

    fn hash24(key: (u64, u64), t: &FourTuple, extra: &[u64]) -> u64 {
        let mut h = SipHasher24::new_with_keys(key.0, key.1);
        t.hash(&mut h);
        for e in extra {
            h.write_u64(*e);
        }
        h.finish()
    }

    /// RFC 6528's initial sequence number at `now_ns`, and the
    /// connection's timestamp clock offset (RFC 7323 section 5.4): the low
    /// and high halves of one keyed hash of the 4-tuple (independent bits
    /// of a pseudo-random function: neither tells anything of the other),
    /// so a connection costs one SipHash rather than two.
    pub(crate) fn isn_and_ts_offset(&self, t: &FourTuple, now_ns: u64) -> (u32, u32) {
        let f = Self::hash24(self.isn, t, &[]);
        let m = (now_ns / 4000) as u32;
        (m.wrapping_add(f as u32), (f >> 32) as u32)
    }

    /// RFC 6528's initial sequence number at `now_ns`.
    #[cfg(test)]
    pub(crate) fn isn(&self, t: &FourTuple, now_ns: u64) -> u32 {
        self.isn_and_ts_offset(t, now_ns).0
    }

    /// The offset added to the timestamp clock for this connection.
    pub(crate) fn ts_offset(&self, t: &FourTuple) -> u32 {
        self.isn_and_ts_offset(t, 0).1
    }

    /// RFC 6056 algorithm 3's per-destination offset.
    pub(crate) fn port_offset(&self, local: IpAddr, remote: IpAddr, remote_port: u16) -> u32 {
        let t = FourTuple {
            local,
            local_port: 0,
            remote,
            remote_port,
        };
        Self::hash24(self.other, &t, &[2]) as u32
    }

    /// The hasher of the connection table.
    pub(crate) fn table_hasher(&self) -> KeyedHasher {
        KeyedHasher(self.other.1, self.other.0 ^ 0x5bd1_e995)
    }

    /// A SYN cookie (RFC 4987 section 3.6): 5 bits of a 64-second counter,
    /// 3 bits of MSS index, and 24 bits of keyed hash over the 4-tuple, the
    /// peer's ISN, the counter and the index.
    pub(crate) fn cookie(&self, t: &FourTuple, peer_isn: u32, now_ns: u64, mss_idx: u8) -> u32 {
        let count = now_ns / COOKIE_PERIOD_NS;
        let idx = u32::from(mss_idx & 7);
        let mac = Self::hash24(
            self.cookie,
            t,
            &[u64::from(peer_isn), count, u64::from(idx)],
        );
        (((count as u32) & 31) << 27) | (idx << 24) | (mac as u32 & 0x00ff_ffff)
    }

    /// Check a cookie (our ISN, from an ACK's acknowledgment number minus
    /// one) made within the last two periods; gives the MSS index.
    pub(crate) fn check_cookie(
        &self,
        t: &FourTuple,
        peer_isn: u32,
        cookie: u32,
        now_ns: u64,
    ) -> Option<u8> {
        let count = now_ns / COOKIE_PERIOD_NS;
        let idx = ((cookie >> 24) & 7) as u8;
        // (No period before the clock's first: the counter does not wrap.)
        for c in [Some(count), count.checked_sub(1)].into_iter().flatten() {
            if ((c as u32) & 31) != cookie >> 27 {
                continue;
            }
            let when = c * COOKIE_PERIOD_NS;
            if self.cookie(t, peer_isn, when, idx) == cookie {
                return Some(idx);
            }
        }
        None
    }
}

/// The largest cookie MSS index whose MSS is at most `mss`.
pub(crate) fn cookie_mss_index(mss: u16) -> u8 {
    COOKIE_MSS
        .iter()
        .rposition(|&m| m <= mss)
        .map(|i| i as u8)
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    /// 10.0.0.1:80 to 10.0.0.2:`port` (also used by the TIME-WAIT
    /// table's tests).
    pub(crate) fn tuple(port: u16) -> FourTuple {
        FourTuple {
            local: Ipv4Addr::new(10, 0, 0, 1).into(),
            local_port: 80,
            remote: Ipv4Addr::new(10, 0, 0, 2).into(),
            remote_port: port,
        }
    }

    #[test]
    fn isn_depends_on_tuple_secret_and_clock() {
        let s = Secrets::new(&[7; 32]);
        let a = s.isn(&tuple(1000), 0);
        assert_ne!(a, s.isn(&tuple(1001), 0));
        assert_ne!(a, Secrets::new(&[8; 32]).isn(&tuple(1000), 0));
        // M advances one per 4 us.
        assert_eq!(s.isn(&tuple(1000), 4000 * 10), a.wrapping_add(10));
    }

    #[test]
    fn cookies_verify_only_for_their_connection_and_period() {
        let s = Secrets::new(&[3; 32]);
        let now = 1_000_000_000_000;
        let c = s.cookie(&tuple(5), 1234, now, 6);
        assert_eq!(s.check_cookie(&tuple(5), 1234, c, now), Some(6));
        assert_eq!(
            s.check_cookie(&tuple(5), 1234, c, now + 64_000_000_000),
            Some(6)
        );
        assert_eq!(
            s.check_cookie(&tuple(5), 1234, c, now + 130_000_000_000),
            None
        );
        assert_eq!(s.check_cookie(&tuple(6), 1234, c, now), None);
        assert_eq!(s.check_cookie(&tuple(5), 1235, c, now), None);
        assert_eq!(s.check_cookie(&tuple(5), 1234, c ^ 1, now), None);
        assert_eq!(s.check_cookie(&tuple(5), 1234, c ^ (1 << 25), now), None);
        assert_eq!(cookie_mss_index(1460), 6);
        assert_eq!(cookie_mss_index(1400), 4);
        assert_eq!(cookie_mss_index(100), 0);
        assert_eq!(cookie_mss_index(65535), 7);
    }
}
