//! `udp-echo`: a unikernel that echoes UDP datagrams. The
//! entry point is generated from `build.rs` by `mirage-build`.
#![cfg_attr(not(mirage_target = "unix"), no_std)]
#![cfg_attr(not(mirage_target = "unix"), no_main)]

mod unikernel;

mirage::main!();
