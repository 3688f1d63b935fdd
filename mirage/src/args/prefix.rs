//! IP addresses with a prefix length (`10.0.0.2/24`), as OCaml ipaddr's
//! `Ipaddr.V4.Prefix.t` / `Ipaddr.V6.Prefix.t` since MirageOS 4.5: the host
//! address is kept, the network is derived.

use alloc::format;
use alloc::string::{String, ToString};
use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

use super::{FromArg, ParseError, ToArg};

/// Parses the prefix length after the `/`: decimal digits only, at most
/// `max`.
fn parse_len(text: &str, max: u8) -> Option<u8> {
    if text.is_empty() || text.len() > 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u8>().ok().filter(|&l| l <= max)
}

macro_rules! prefix_type {
    (
        $(#[$doc:meta])*
        $name:ident, $addr:ty, $bits:ty, $max:literal, $docv:literal, $what:literal
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name {
            address: $addr,
            len: u8,
        }

        impl $name {
            /// The longest prefix length.
            pub const MAX_LEN: u8 = $max;

            /// The address `address` in a network of prefix length `len`;
            /// an error if `len` is longer than the address.
            pub fn new(address: $addr, len: u8) -> Result<Self, ParseError> {
                if len > $max {
                    return Err(ParseError::new(format!(
                        "a prefix length between 0 and {}",
                        $max
                    )));
                }
                Ok($name { address, len })
            }

            /// The address, as given (host bits kept).
            pub fn address(&self) -> $addr {
                self.address
            }

            /// The prefix length (the number of network bits).
            #[allow(clippy::len_without_is_empty, reason = "a prefix length, not a collection")]
            pub fn len(&self) -> u8 {
                self.len
            }

            fn mask_bits(&self) -> $bits {
                <$bits>::MAX.checked_shl(u32::from($max - self.len)).unwrap_or(0)
            }

            /// The netmask: `len` one bits followed by zeros
            /// (`255.255.255.0` for `/24`).
            pub fn netmask(&self) -> $addr {
                <$addr>::from(self.mask_bits())
            }

            /// The network address: the address with the host bits cleared
            /// (`10.0.0.0` for `10.0.0.2/24`).
            pub fn network(&self) -> $addr {
                <$addr>::from(<$bits>::from(self.address) & self.mask_bits())
            }

            /// The prefix of the network alone: the network address with
            /// the same length (`10.0.0.0/24` for `10.0.0.2/24`).
            pub fn network_prefix(&self) -> Self {
                $name {
                    address: self.network(),
                    len: self.len,
                }
            }

            /// Whether `address` is in this network (its first `len` bits are
            /// the network's).
            pub fn contains(&self, address: $addr) -> bool {
                <$bits>::from(address) & self.mask_bits()
                    == <$bits>::from(self.address) & self.mask_bits()
            }
        }

        /// `ADDRESS/LENGTH`, e.g. `10.0.0.2/24`.
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}/{}", self.address, self.len)
            }
        }

        /// `ADDRESS/LENGTH`: the length is required, in decimal.
        impl FromStr for $name {
            type Err = ParseError;

            fn from_str(text: &str) -> Result<Self, ParseError> {
                let err = || ParseError::new($what);
                let (addr, len) = text.split_once('/').ok_or_else(err)?;
                let address: $addr = addr.parse().map_err(|_| err())?;
                let len = parse_len(len, $max).ok_or_else(err)?;
                $name::new(address, len)
            }
        }

        impl FromArg for $name {
            const DOCV: &'static str = $docv;

            fn from_arg(text: &str) -> Result<Self, ParseError> {
                text.parse()
            }
        }

        impl ToArg for $name {
            fn to_arg(&self) -> String {
                self.to_string()
            }
        }
    };
}

prefix_type!(
    /// An IPv4 address with the prefix length of its network, as
    /// `--ipv4=10.0.0.2/24`: the address is kept as given, and
    /// [`network`](Self::network) clears its host bits.
    Ipv4Prefix, Ipv4Addr, u32, 32, "IPV4/PREFIX",
    "an IPv4 address with a prefix length (a.b.c.d/0-32)"
);

prefix_type!(
    /// An IPv6 address with the prefix length of its network, as
    /// `--ipv6=fe80::1/64`: the address is kept as given, and
    /// [`network`](Self::network) clears its host bits.
    Ipv6Prefix, Ipv6Addr, u128, 128, "IPV6/PREFIX",
    "an IPv6 address with a prefix length (ADDRESS/0-128)"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn v4_prefix() {
        let p = Ipv4Prefix::from_arg("10.0.0.2/24").unwrap();
        assert_eq!(p.address(), v4("10.0.0.2"));
        assert_eq!(p.len(), 24);
        assert_eq!(p.network(), v4("10.0.0.0"));
        assert_eq!(p.netmask(), v4("255.255.255.0"));
        assert_eq!(p.network_prefix().to_string(), "10.0.0.0/24");
        assert!(p.contains(v4("10.0.0.1")));
        assert!(p.contains(v4("10.0.0.255")));
        assert!(p.contains(v4("10.0.0.2")));
        assert!(!p.contains(v4("10.0.1.1")));
        assert!(!p.contains(v4("192.168.0.2")));
        assert_eq!(p.to_string(), "10.0.0.2/24");
        assert_eq!(p.to_arg(), "10.0.0.2/24");

        let all = Ipv4Prefix::from_arg("1.2.3.4/0").unwrap();
        assert_eq!(all.netmask(), v4("0.0.0.0"));
        assert_eq!(all.network(), v4("0.0.0.0"));
        assert!(all.contains(v4("255.255.255.255")));
        let host = Ipv4Prefix::from_arg("1.2.3.4/32").unwrap();
        assert_eq!(host.netmask(), v4("255.255.255.255"));
        assert!(host.contains(v4("1.2.3.4")));
        assert!(!host.contains(v4("1.2.3.5")));
        let odd = Ipv4Prefix::new(v4("172.31.255.1"), 12).unwrap();
        assert_eq!(odd.network(), v4("172.16.0.0"));
        assert_eq!(odd.netmask(), v4("255.240.0.0"));

        let expected = "an IPv4 address with a prefix length (a.b.c.d/0-32)";
        for t in [
            "10.0.0.2/33",
            "10.0.0.2",
            "10.0.0.2/",
            "/24",
            "10.0.0.2/-1",
            "10.0.0.2/+24",
            "10.0.0.2/24/1",
            "10.0.0/24",
            "::1/64",
            "10.0.0.2/ 24",
            "10.0.0.2/0x18",
            "10.0.0.2/0024",
        ] {
            assert_eq!(
                Ipv4Prefix::from_arg(t).unwrap_err().expected,
                expected,
                "{t}"
            );
        }
        assert_eq!(
            Ipv4Prefix::new(v4("10.0.0.2"), 33).unwrap_err().expected,
            "a prefix length between 0 and 32"
        );
        assert_eq!("10.0.0.2/024".parse::<Ipv4Prefix>().unwrap().len(), 24);
        for p in [p, all, host, odd] {
            assert_eq!(Ipv4Prefix::from_arg(&p.to_arg()), Ok(p));
        }
    }

    #[test]
    fn v6_prefix() {
        let p = Ipv6Prefix::from_arg("2001:db8::5/64").unwrap();
        assert_eq!(p.address(), v6("2001:db8::5"));
        assert_eq!(p.len(), 64);
        assert_eq!(p.network(), v6("2001:db8::"));
        assert_eq!(p.netmask(), v6("ffff:ffff:ffff:ffff::"));
        assert!(p.contains(v6("2001:db8::ffff:1")));
        assert!(!p.contains(v6("2001:db9::1")));
        assert_eq!(p.to_string(), "2001:db8::5/64");
        let full = Ipv6Prefix::from_arg("2001:DB8:0:0:0:0:0:5/128").unwrap();
        assert_eq!(full.to_string(), "2001:db8::5/128");
        assert_eq!(
            full.netmask(),
            v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        );
        let zero = Ipv6Prefix::from_arg("::/0").unwrap();
        assert!(zero.contains(v6("fe80::1")));
        assert_eq!(zero.netmask(), Ipv6Addr::UNSPECIFIED);
        let odd = Ipv6Prefix::from_arg("fe80::1234:5678/100").unwrap();
        assert_eq!(odd.network(), v6("fe80::1000:0"));
        let mapped = Ipv6Prefix::from_arg("::ffff:10.0.0.1/120").unwrap();
        assert_eq!(mapped.network(), v6("::ffff:10.0.0.0"));
        for t in [
            "::1/129",
            "::1",
            "10.0.0.1/8",
            "::1/",
            "[::1]/64",
            "::1/300",
        ] {
            assert!(Ipv6Prefix::from_arg(t).is_err(), "{t}");
        }
        assert!(Ipv6Prefix::new(Ipv6Addr::LOCALHOST, 129).is_err());
        for p in [p, full, zero, odd, mapped] {
            assert_eq!(Ipv6Prefix::from_arg(&p.to_arg()), Ok(p));
        }
    }
}
