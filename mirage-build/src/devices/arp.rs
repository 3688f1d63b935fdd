//! `arpv4`: `arp`.

use crate::device::{Connect, Device, Impl};
use crate::typ::{Arpv4, Ethernet, arpv4};

/// ARP over `eth` (the seed's `arp`), timed by the default monotonic
/// clock (MirageOS's `?time`).
#[track_caller]
pub fn arp(eth: &Impl<Ethernet>) -> Impl<Arpv4> {
    let clock = super::default_monotonic_clock();
    let (e, t, c, ct) = (eth.clone(), eth.clone(), clock.clone(), clock.clone());
    Device::new("arp", "arp", arpv4())
        .dep(eth)
        .dep(&clock)
        .package(super::mirage_package())
        .rust_type(move |cx| format!("mirage::net::arp::Arp<{}, {}>", cx.ty(&t), cx.ty(&ct)))
        .connect(move |cx| {
            Connect::expr(format!(
                "mirage::net::arp::Arp::connect({}, {})",
                cx.var(&e),
                cx.var(&c)
            ))
        })
        .build()
}
