//! `random`: `default_random` and `rng`.

use crate::device::{Connect, Device, Impl};
use crate::typ::{Mclock, Random, random};

/// The default random device (the seed's `default_random`): a Fortuna
/// CSPRNG seeded from the platform's entropy (getrandom on unix).
#[track_caller]
pub fn default_random() -> Impl<Random> {
    Device::new("random", "default_random", random())
        .identity("default_random")
        .package(super::mirage_package())
        .rust_type(|_| "mirage::random::Rng".to_string())
        .connect(|_| Connect::expr("mirage::platform::default_random()").fallible())
        .build()
}

/// A Fortuna CSPRNG (the seed's `rng`, `Mirage_crypto_rng.Make`) whose
/// accumulator reseeds at most every 100 ms of `mclock` time.
#[track_caller]
pub fn rng(mclock: &Impl<Mclock>) -> Impl<Random> {
    let clock = mclock.clone();
    Device::new("rng", "rng", random())
        .identity("rng")
        .dep(mclock)
        .package(super::mirage_package())
        .rust_type(|_| "mirage::random::Rng".to_string())
        .connect(move |cx| {
            Connect::expr(format!("mirage::platform::rng({})", cx.var(&clock))).fallible()
        })
        .build()
}
