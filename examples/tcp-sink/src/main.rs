//! `tcp-sink`: a unikernel that counts what TCP connections send it. The
//! entry point is generated from `build.rs` by `mirage-build`.
#![cfg_attr(not(mirage_target = "unix"), no_std)]
#![cfg_attr(not(mirage_target = "unix"), no_main)]

mod unikernel;

mirage::main!();
