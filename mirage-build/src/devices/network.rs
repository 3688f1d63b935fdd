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
/// for `tap0`, `--NAME-interface` for others), default `name`, with the
/// kernel's TCP segmentation offload when `--offload` (`--NAME-offload`)
/// is given.
fn tap_netif(name: &str) -> Impl<Network> {
    let arg_name = |what: &str| {
        if name == "tap0" {
            what.to_string()
        } else {
            format!("{}-{what}", stem(name))
        }
    };
    let interface = runtime_arg::<String>(&arg_name("interface"))
        .default(name.to_string())
        .doc("The host's tap interface the unikernel uses.");
    let offload = runtime_arg::<bool>(&arg_name("offload"))
        .default(false)
        .doc(
            "Use the kernel's TCP segmentation offload on the tap: TCP segments of up to 64 KiB \
             cross it both ways.",
        );
    let arg = interface.clone();
    let offload_arg = offload.clone();
    Device::new(
        &format!("net_{}", stem(name).replace('-', "_")),
        "netif",
        network(),
    )
    .identity(&format!("netif:{name}"))
    .runtime_arg(&interface)
    .runtime_arg(&offload)
    .package(super::mirage_package())
    .rust_type(|_| "mirage::platform::Netif".to_string())
    .connect(move |cx| {
        Connect::expr(format!(
            "mirage::platform::Netif::connect_with_offload(&{}, {})",
            cx.arg(&arg),
            cx.arg(&offload_arg)
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
