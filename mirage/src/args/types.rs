//! [`FromArg`] and [`ToArg`] for the standard argument types.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{FromArg, ParseError, ToArg, escape_list_element, split_list};

impl FromArg for String {
    const DOCV: &'static str = "STRING";

    fn from_arg(text: &str) -> Result<Self, ParseError> {
        Ok(text.to_string())
    }
}

impl ToArg for String {
    fn to_arg(&self) -> String {
        self.clone()
    }
}

impl ToArg for str {
    fn to_arg(&self) -> String {
        self.to_string()
    }
}

/// `true`, `yes`, `1` are true; `false`, `no`, `0` are false (ASCII
/// case-insensitive).
impl FromArg for bool {
    const DOCV: &'static str = "BOOL";

    fn from_arg(text: &str) -> Result<Self, ParseError> {
        const TRUE: [&str; 3] = ["true", "yes", "1"];
        const FALSE: [&str; 3] = ["false", "no", "0"];
        if TRUE.iter().any(|t| t.eq_ignore_ascii_case(text)) {
            Ok(true)
        } else if FALSE.iter().any(|t| t.eq_ignore_ascii_case(text)) {
            Ok(false)
        } else {
            Err(ParseError::new("a boolean (true or false)"))
        }
    }
}

impl ToArg for bool {
    fn to_arg(&self) -> String {
        self.to_string()
    }
}

/// Splits an integer's text into (negative, radix, digits); the digits carry
/// no sign.
fn int_parts(text: &str) -> Option<(bool, u32, &str)> {
    let (neg, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = match rest.get(..2) {
        Some("0x" | "0X") => (16, &rest[2..]),
        Some("0o" | "0O") => (8, &rest[2..]),
        Some("0b" | "0B") => (2, &rest[2..]),
        _ => (10, rest),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some((neg, radix, digits))
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        /// Decimal with an optional `+` or `-` sign, or `0x` (hex), `0o`
        /// (octal), `0b` (binary) after the sign. Out of range is an error.
        impl FromArg for $t {
            const DOCV: &'static str = "INT";

            fn from_arg(text: &str) -> Result<Self, ParseError> {
                let (neg, radix, digits) =
                    int_parts(text).ok_or_else(|| ParseError::new("an integer"))?;
                // `-0` is zero, also for the unsigned types.
                let neg = neg && digits.bytes().any(|b| b != b'0');
                let signed = if neg {
                    format!("-{digits}")
                } else {
                    digits.to_string()
                };
                <$t>::from_str_radix(&signed, radix).map_err(|_| {
                    ParseError::new(format!(
                        "an integer in the range {}..={}",
                        <$t>::MIN,
                        <$t>::MAX
                    ))
                })
            }
        }

        impl ToArg for $t {
            fn to_arg(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

int_arg!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);

macro_rules! fromstr_arg {
    ($t:ty, $docv:literal, $expected:literal) => {
        impl FromArg for $t {
            const DOCV: &'static str = $docv;

            fn from_arg(text: &str) -> Result<Self, ParseError> {
                text.parse().map_err(|_| ParseError::new($expected))
            }
        }

        impl ToArg for $t {
            fn to_arg(&self) -> String {
                self.to_string()
            }
        }
    };
}

fromstr_arg!(Ipv4Addr, "IPV4", "an IPv4 address");
fromstr_arg!(Ipv6Addr, "IPV6", "an IPv6 address");
fromstr_arg!(IpAddr, "IP", "an IPv4 or IPv6 address");

/// Comma-separated elements; empty text is the empty list. Inside an element
/// `\,` is a comma and `\\` a backslash (any other backslash is literal).
impl<T: FromArg> FromArg for Vec<T> {
    const DOCV: &'static str = T::DOCV;

    fn from_arg(text: &str) -> Result<Self, ParseError> {
        split_list(text)
            .iter()
            .map(|e| T::from_arg(e))
            .collect::<Result<Vec<T>, ParseError>>()
            .map_err(|e| ParseError::new(format!("a comma-separated list of {}", e.expected)))
    }

    fn docv() -> String {
        format!("{},...", T::docv())
    }
}

/// Joins the elements with `,`, escaping `,` and `\` inside an element. The
/// one list that does not round-trip is a single empty element (`[""]`),
/// which renders as the empty text, the empty list.
impl<T: ToArg> ToArg for Vec<T> {
    fn to_arg(&self) -> String {
        self.as_slice().to_arg()
    }
}

impl<T: ToArg> ToArg for [T] {
    fn to_arg(&self) -> String {
        let mut out = String::new();
        for (i, e) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            escape_list_element(&e.to_arg(), &mut out);
        }
        out
    }
}

/// Given text parses as `Some`; an absent argument without default is `None`.
impl<T: FromArg> FromArg for Option<T> {
    const DOCV: &'static str = T::DOCV;

    fn from_arg(text: &str) -> Result<Self, ParseError> {
        T::from_arg(text).map(Some)
    }

    fn absent() -> Option<Self> {
        Some(None)
    }

    fn docv() -> String {
        T::docv()
    }
}

impl<T: ToArg> ToArg for Option<T> {
    fn to_arg(&self) -> String {
        match self {
            Some(v) => v.to_arg(),
            None => String::new(),
        }
    }

    fn to_default(&self) -> Option<String> {
        self.as_ref().map(ToArg::to_arg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Ipv4Prefix, Ipv6Prefix, check, render};
    use alloc::vec;
    use core::fmt::Debug;

    fn round_trip<T: FromArg + ToArg + PartialEq + Debug>(v: T) {
        let text = render(&v);
        assert_eq!(T::from_arg(&text), Ok(v), "text {text:?}");
    }

    fn err<T: FromArg + Debug>(text: &str) -> String {
        T::from_arg(text).unwrap_err().expected
    }

    #[test]
    fn strings() {
        assert_eq!(String::from_arg(""), Ok(String::new()));
        assert_eq!(String::from_arg("a b,c"), Ok("a b,c".into()));
        round_trip(String::from("héllo, world"));
        round_trip(String::new());
        assert_eq!(<String as FromArg>::DOCV, "STRING");
    }

    #[test]
    fn bools() {
        for t in ["true", "TRUE", "yes", "Yes", "1"] {
            assert_eq!(bool::from_arg(t), Ok(true), "{t}");
        }
        for t in ["false", "False", "no", "NO", "0"] {
            assert_eq!(bool::from_arg(t), Ok(false), "{t}");
        }
        for t in ["", "2", "y", "truee", "on"] {
            assert_eq!(err::<bool>(t), "a boolean (true or false)", "{t}");
        }
        round_trip(true);
        round_trip(false);
    }

    #[test]
    fn integers() {
        assert_eq!(u8::from_arg("0"), Ok(0));
        assert_eq!(u8::from_arg("255"), Ok(255));
        assert_eq!(u8::from_arg("+7"), Ok(7));
        assert_eq!(err::<u8>("256"), "an integer in the range 0..=255");
        assert_eq!(err::<u8>("-1"), "an integer in the range 0..=255");
        assert_eq!(u8::from_arg("-0"), Ok(0));
        assert_eq!(i8::from_arg("-128"), Ok(-128));
        assert_eq!(err::<i8>("128"), "an integer in the range -128..=127");
        assert_eq!(err::<i8>("-129"), "an integer in the range -128..=127");
        assert_eq!(u16::from_arg("0xffff"), Ok(0xffff));
        assert_eq!(u16::from_arg("0XFF"), Ok(0xff));
        assert_eq!(i32::from_arg("-0x10"), Ok(-16));
        assert_eq!(u32::from_arg("0o17"), Ok(15));
        assert_eq!(u32::from_arg("0b101"), Ok(5));
        assert_eq!(u32::from_arg("007"), Ok(7));
        for t in [
            "", "abc", "1.5", "0x", "-", "+", "1 ", " 1", "0x-5", "--1", "+-1", "1_000", "0b2",
        ] {
            assert_eq!(err::<i32>(t), "an integer", "{t:?}");
        }
        assert_eq!(u64::from_arg("18446744073709551615"), Ok(u64::MAX));
        assert!(u64::from_arg("18446744073709551616").is_err());
        assert_eq!(i128::from_arg(&i128::MIN.to_string()), Ok(i128::MIN));
        round_trip(u8::MAX);
        round_trip(i8::MIN);
        round_trip(u16::MAX);
        round_trip(i32::MIN);
        round_trip(u64::MAX);
        round_trip(i64::MIN);
        round_trip(u128::MAX);
        round_trip(i128::MIN);
        round_trip(usize::MAX);
        round_trip(isize::MIN);
        assert_eq!(<u16 as FromArg>::DOCV, "INT");
    }

    #[test]
    fn addresses() {
        assert_eq!(
            Ipv4Addr::from_arg("10.0.0.2"),
            Ok(Ipv4Addr::new(10, 0, 0, 2))
        );
        for t in ["", "10.0.0", "10.0.0.256", "10.0.0.2/24", "::1", "a.b.c.d"] {
            assert_eq!(err::<Ipv4Addr>(t), "an IPv4 address", "{t}");
        }
        assert_eq!(Ipv6Addr::from_arg("::"), Ok(Ipv6Addr::UNSPECIFIED));
        assert_eq!(Ipv6Addr::from_arg("::1"), Ok(Ipv6Addr::LOCALHOST));
        assert_eq!(
            Ipv6Addr::from_arg("fe80::1:2"),
            Ok(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 1, 2))
        );
        assert_eq!(
            Ipv6Addr::from_arg("2001:DB8:0:0:0:0:0:1"),
            Ok(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))
        );
        assert_eq!(
            Ipv6Addr::from_arg("::ffff:1.2.3.4"),
            Ok(Ipv4Addr::new(1, 2, 3, 4).to_ipv6_mapped())
        );
        for t in [
            "",
            ":::",
            "1::2::3",
            "10.0.0.1",
            "[::1]",
            "fe80::1%eth0",
            "12345::",
        ] {
            assert_eq!(err::<Ipv6Addr>(t), "an IPv6 address", "{t}");
        }
        assert_eq!(
            IpAddr::from_arg("10.0.0.1"),
            Ok(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
        );
        assert_eq!(IpAddr::from_arg("::1"), Ok(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(err::<IpAddr>("x"), "an IPv4 or IPv6 address");
        round_trip(Ipv4Addr::new(192, 168, 1, 255));
        round_trip(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1));
        round_trip(Ipv4Addr::new(1, 2, 3, 4).to_ipv6_mapped());
        round_trip(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        round_trip(IpAddr::V4(Ipv4Addr::BROADCAST));
    }

    #[test]
    fn lists() {
        assert_eq!(Vec::<u8>::from_arg(""), Ok(vec![]));
        assert_eq!(Vec::<u8>::from_arg("7"), Ok(vec![7]));
        assert_eq!(Vec::<u8>::from_arg("1,2,3"), Ok(vec![1, 2, 3]));
        assert_eq!(
            err::<Vec<u8>>("1,,3"),
            "a comma-separated list of an integer"
        );
        assert_eq!(
            err::<Vec<u8>>("1,256"),
            "a comma-separated list of an integer in the range 0..=255"
        );
        assert_eq!(
            Vec::<String>::from_arg("a,,b"),
            Ok(vec!["a".into(), String::new(), "b".into()])
        );
        assert_eq!(
            Vec::<String>::from_arg(r"a\,b,c\\,d\e"),
            Ok(vec!["a,b".into(), "c\\".into(), r"d\e".into()])
        );
        assert_eq!(
            Vec::<Ipv4Addr>::from_arg("10.0.0.1,10.0.0.2"),
            Ok(vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)])
        );
        assert_eq!(render(&vec![1u8, 2, 3]), "1,2,3");
        assert_eq!(render(&Vec::<u8>::new()), "");
        round_trip(Vec::<u8>::new());
        round_trip(vec![42u16]);
        round_trip(vec![1i32, -2, 3]);
        round_trip(vec![
            String::from("a,b"),
            String::from(r"c\"),
            String::new(),
        ]);
        round_trip(vec![Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED]);
        round_trip(vec![
            Ipv4Prefix::from_arg("10.0.0.2/24").unwrap(),
            Ipv4Prefix::from_arg("0.0.0.0/0").unwrap(),
        ]);
        round_trip(vec![vec![1u8, 2], vec![3]]);
        assert_eq!(<Vec<u8> as FromArg>::docv(), "INT,...");
        assert_eq!(<Vec<Vec<u8>> as FromArg>::docv(), "INT,...,...");
    }

    #[test]
    fn options() {
        assert_eq!(Option::<u16>::from_arg("80"), Ok(Some(80)));
        assert_eq!(err::<Option<u16>>("x"), "an integer");
        assert_eq!(Option::<u16>::absent(), Some(None));
        assert_eq!(u16::absent(), None);
        assert_eq!(Option::<String>::from_arg(""), Ok(Some(String::new())));
        round_trip(Some(8080u16));
        round_trip(Some(Ipv6Prefix::from_arg("fe80::1/64").unwrap()));
        assert_eq!(Some(3u8).to_default(), Some("3".into()));
        assert_eq!(None::<u8>.to_default(), None);
        assert_eq!(None::<u8>.to_arg(), "");
        assert_eq!(5u8.to_default(), Some("5".into()));
        assert_eq!(<Option<Vec<u8>> as FromArg>::docv(), "INT,...");
        assert_eq!(<Option<u8> as FromArg>::DOCV, "INT");
    }

    #[test]
    fn check_discards_value() {
        assert_eq!(check::<u8>("3"), Ok(()));
        assert_eq!(
            check::<u8>("300").unwrap_err().expected,
            "an integer in the range 0..=255"
        );
        let f: fn(&str) -> Result<(), ParseError> = check::<Vec<Ipv4Addr>>;
        assert!(f("1.2.3.4,5.6.7.8").is_ok());
        assert!(f("1.2.3.4,x").is_err());
    }
}
