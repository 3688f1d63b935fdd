//! Module types: the seed's `typ` and the functor arrow `@->`.
//!
//! A device type is a zero-sized marker implementing [`DeviceType`]
//! (`Time`, `Block`, `Job`, ...). [`Typ<T>`] is the value that stands for the
//! type at build time, and `a >> b` builds the functor type `a -> b` (the
//! seed's `@->`), right-associative like `@->`: `time() >> block() >> job()` is
//! `time -> (block -> job)`, the type of a `main` taking a time and a block
//! device. Applying an implementation of a functor type to an argument of the
//! wrong type, or too often, does not compile.

use core::marker::PhantomData;
use core::ops::Shr;

/// A device type: what the seed declares with `type t` and `val t : t typ`.
pub trait DeviceType: 'static {
    /// The type's name in descriptions and errors (`time`, `block`...).
    const NAME: &'static str;
}

/// A functor type `A -> B`. Built with `>>` on [`Typ`] values.
pub struct Arrow<A, B>(PhantomData<fn(A) -> B>);

/// Describes a module type in words (`time -> block -> job`).
pub trait TypeDesc: 'static {
    /// The type written out, arrows included.
    fn describe() -> String;
    /// How many arguments a functor of this type takes (0 for a device).
    fn arity() -> usize;
    /// The name of the type a functor of this type finally returns.
    fn result_name() -> &'static str;
}

impl<D: DeviceType> TypeDesc for D {
    fn describe() -> String {
        D::NAME.to_string()
    }
    fn arity() -> usize {
        0
    }
    fn result_name() -> &'static str {
        D::NAME
    }
}

impl<A: TypeDesc, B: TypeDesc> TypeDesc for Arrow<A, B> {
    fn describe() -> String {
        if A::arity() > 0 {
            format!("({}) -> {}", A::describe(), B::describe())
        } else {
            format!("{} -> {}", A::describe(), B::describe())
        }
    }
    fn arity() -> usize {
        1 + B::arity()
    }
    fn result_name() -> &'static str {
        B::result_name()
    }
}

/// The value standing for the module type `T` (the seed's `'a typ`).
pub struct Typ<T>(pub(crate) PhantomData<fn() -> T>);

impl<T> Clone for Typ<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Typ<T> {}

impl<T: TypeDesc> Typ<T> {
    /// The type written out (`time -> job`).
    pub fn describe(&self) -> String {
        T::describe()
    }
}

impl<T: TypeDesc> core::fmt::Debug for Typ<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&T::describe())
    }
}

/// The module type `T` (the seed's `typ`).
pub fn typ<T: DeviceType>() -> Typ<T> {
    Typ(PhantomData)
}

/// Appends a result type to the end of a (functor) type: how `>>` stays
/// right-associative although Rust's `>>` associates to the left.
pub trait Append<C> {
    /// `Self -> C`, with `C` placed after the last arrow of `Self`.
    type Output;
}

impl<D: DeviceType, C> Append<C> for D {
    type Output = Arrow<D, C>;
}

impl<A, R: Append<C>, C> Append<C> for Arrow<A, R> {
    type Output = Arrow<A, R::Output>;
}

impl<T: Append<C>, C> Shr<Typ<C>> for Typ<T> {
    type Output = Typ<T::Output>;

    fn shr(self, _result: Typ<C>) -> Self::Output {
        Typ(PhantomData)
    }
}

/// Declares device marker types with their seed names and the functions
/// returning their [`Typ`] values.
macro_rules! device_types {
    ($($(#[$doc:meta])* $ty:ident = $name:literal, $fun:ident;)*) => {
        $(
            $(#[$doc])*
            pub enum $ty {}
            impl DeviceType for $ty {
                const NAME: &'static str = $name;
            }
            #[doc = concat!("The module type `", $name, "`.")]
            pub fn $fun() -> Typ<$ty> {
                typ()
            }
        )*
    };
}

device_types! {
    /// Timers (`Mirage_time.S`).
    Time = "time", time;
    /// POSIX wall clocks (`Mirage_clock.PCLOCK`).
    Pclock = "pclock", pclock;
    /// Monotonic clocks (`Mirage_clock.MCLOCK`).
    Mclock = "mclock", mclock;
    /// Block devices (`Mirage_block.S`).
    Block = "block", block;
    /// Read-write key-value stores (`Mirage_kv.RW`).
    KvRw = "kv_rw", kv_rw;
    /// Network interfaces (`Mirage_net.S`).
    Network = "network", network;
    /// Read-only key-value stores (`Mirage_kv.RO`).
    KvRo = "kv_ro", kv_ro;
    /// Random sources (`Mirage_random.S`).
    Random = "random", random;
    /// The console.
    Console = "console", console;
    /// Log reporters.
    Reporter = "reporter", reporter;
    /// Command-line argument sources.
    Argv = "argv", argv;
    /// Jobs: what `register` runs.
    Job = "job", job;
    /// Ethernet layers (`Ethernet.S`).
    Ethernet = "ethernet", ethernet;
    /// ARP layers (`Arp.S`).
    Arpv4 = "arpv4", arpv4;
    /// IPv4 layers (`Tcpip.Ip.S` over `Ipaddr.V4`).
    Ipv4 = "ipv4", ipv4;
    /// IPv6 layers (`Tcpip.Ip.S` over `Ipaddr.V6`).
    Ipv6 = "ipv6", ipv6;
    /// Dual-stack IP layers (`Tcpip.Ip.S` over `Ipaddr.t`).
    Ipv4v6 = "ipv4v6", ipv4v6;
    /// UDP layers (`Tcpip.Udp.S`).
    Udp = "udp", udp;
    /// TCP layers (`Tcpip.Tcp.S`).
    Tcp = "tcp", tcp;
    /// Network stacks (`Tcpip.Stack.V4V6`).
    Stackv4v6 = "stackv4v6", stackv4v6;
}

/// The IP device types (`ipv4`, `ipv6`, `ipv4v6`: the seed's `'a ip`),
/// which UDP and TCP can be built over.
pub trait IpType: DeviceType {}
impl IpType for Ipv4 {}
impl IpType for Ipv6 {}
impl IpType for Ipv4v6 {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrows_are_right_associative() {
        let t = time() >> pclock() >> job();
        let _: Typ<Arrow<Time, Arrow<Pclock, Job>>> = t;
        assert_eq!(t.describe(), "time -> pclock -> job");
        assert_eq!(<Arrow<Time, Arrow<Pclock, Job>>>::arity(), 2);
        let higher = (time() >> job()) >> job();
        assert_eq!(higher.describe(), "time -> job -> job");
        assert_eq!(job().describe(), "job");
    }
}
