//! The log `reporter` device: a backend of the `log` crate that prints
//! MirageOS-style lines.
