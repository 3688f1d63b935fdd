//! `ethernet`: `etif`.

use crate::device::{Connect, Device, Impl};
use crate::typ::{Ethernet, Network, ethernet};

/// The Ethernet layer over `net` (the seed's `etif`).
#[track_caller]
pub fn etif(net: &Impl<Network>) -> Impl<Ethernet> {
    let (n, t) = (net.clone(), net.clone());
    Device::new("ethif", "etif", ethernet())
        .dep(net)
        .package(super::mirage_package())
        .rust_type(move |cx| format!("mirage::net::ethernet::Ethif<{}>", cx.ty(&t)))
        .connect(move |cx| {
            Connect::expr(format!(
                "mirage::net::ethernet::Ethif::connect({})",
                cx.var(&n)
            ))
        })
        .build()
}
