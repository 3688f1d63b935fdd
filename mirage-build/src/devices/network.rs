//! `network`: `default_network` and `netif`.

use crate::device::{Connect, Device, Impl, Solo5Device, match_impl};
use crate::key::{Target, target};
use crate::runtime_arg::runtime_arg;
use crate::typ::{Network, network};

fn stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// On unix: the tap interface named by a runtime argument (`--interface`
/// for `tap0`, `--NAME-interface` for others), default `name`.
fn tap_netif(name: &str) -> Impl<Network> {
    let arg_name = if name == "tap0" {
        "interface".to_string()
    } else {
        format!("{}-interface", stem(name))
    };
    let interface = runtime_arg::<String>(&arg_name)
        .default(name.to_string())
        .doc("The host's tap interface the unikernel uses.");
    let arg = interface.clone();
    Device::new(
        &format!("net_{}", stem(name).replace('-', "_")),
        "netif",
        network(),
    )
    .identity(&format!("netif:{name}"))
    .runtime_arg(&interface)
    .package(super::mirage_package())
    .rust_type(|_| "mirage::platform::Netif".to_string())
    .connect(move |cx| {
        Connect::expr(format!(
            "mirage::platform::Netif::connect(&{})",
            cx.arg(&arg)
        ))
        .fallible()
    })
    .build()
}

/// On Solo5 targets: the manifest's net device `name`.
fn solo5_netif(name: &str) -> Impl<Network> {
    let device = name.to_string();
    Device::new(
        &format!("net_{}", stem(name).replace('-', "_")),
        "netif",
        network(),
    )
    .identity(&format!("netif:{name}"))
    .solo5_device(Solo5Device::Net(name.to_string()))
    .package(super::mirage_package())
    .rust_type(|_| "mirage::platform::Netif".to_string())
    .connect(move |_| {
        Connect::expr(format!("mirage::platform::Netif::connect({device:?})")).fallible()
    })
    .build()
}

/// The network interface `name` (the seed's `netif`): on unix a tap
/// interface, `name` unless the runtime argument `--interface` (for `tap0`)
/// or `--NAME-interface` says otherwise; on Solo5 targets the net device
/// `name` of the manifest, attached by the tender (`--net:NAME=TAP`).
#[track_caller]
pub fn netif(name: &str) -> Impl<Network> {
    match_impl(
        target(),
        [(Target::Unix, tap_netif(name))],
        &solo5_netif(name),
    )
}

/// The default network interface (the seed's `default_network`): the tap
/// `tap0` on unix, the Solo5 net device `service` on hvt and spt, as in
/// MirageOS.
#[track_caller]
pub fn default_network() -> Impl<Network> {
    match_impl(
        target(),
        [(Target::Unix, tap_netif("tap0"))],
        &solo5_netif("service"),
    )
}
