//! The catalogue: a constructor for each device of the seed that this
//! version ships, one file per device type.

mod argv;
mod block;
mod chamelon;
mod clock;
mod console;
mod fat;
mod kv;
mod kv_rw;
mod network;
mod random;
mod reporter;
mod time;

pub use argv::{ArgvMode, default_argv, no_argv};
pub use block::{block_of_file, block_of_xenstore_id, ccm_block, generic_block, ramdisk};
pub use chamelon::chamelon;
pub use clock::{default_monotonic_clock, default_posix_clock};
pub use console::default_console;
pub use fat::fat_ro;
pub use kv::*;
pub use kv_rw::{direct_kv_rw, kv_rw_mem};
pub use network::{default_network, netif};
pub use random::{default_random, rng};
pub use reporter::{LogLevel, default_reporter, no_reporter};
pub use time::default_time;

use crate::package::{Package, package};

/// The package every catalogue device of the runtime needs.
pub(crate) fn mirage_package() -> Package {
    package("mirage")
}
