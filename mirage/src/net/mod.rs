//! The network stack, one module per layer: `wire` (the formats, parsed
//! and emitted zero-copy, never panicking on any input), the network
//! devices (`device`: the `network` device type and its backends), and the
//! protocol layers above them.

use core::fmt;

pub mod arp;
pub(crate) mod destination;
pub mod device;
pub mod dhcp;
pub mod ethernet;
pub mod frag;
pub mod icmpv4;
pub mod ip;
pub mod ipv4;
pub mod ipv4v6;
pub mod ipv6;
pub(crate) mod jitter;
pub mod ndp;
pub mod stack;
pub mod tcp;
pub mod udp;
pub mod wire;

/// A 32-bit seed from the random device, for the protocol choices that
/// must not be predictable (first identifiers, ephemeral ports, DHCP
/// transaction ids).
pub fn seed(random: &impl crate::Random) -> u32 {
    let mut b = [0u8; 4];
    random.fill(&mut b);
    u32::from_le_bytes(b)
}

/// An Ethernet (MAC) address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The broadcast address.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// Whether the group (multicast/broadcast) bit is set.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 != 0
    }

    /// Whether this is the broadcast address.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Whether this is a unicast address.
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// Whether the locally administered bit is set.
    pub fn is_local(&self) -> bool {
        self.0[0] & 2 != 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl core::str::FromStr for MacAddr {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts.next().ok_or(())?;
            if part.len() != 2 {
                return Err(());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| ())?;
        }
        if parts.next().is_some() {
            return Err(());
        }
        Ok(MacAddr(out))
    }
}
