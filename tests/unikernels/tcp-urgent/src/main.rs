//! `tcp-urgent`: a test unikernel that sends urgent data to a peer. The
//! entry point is generated from `build.rs` by `mirage-build`.
#![cfg_attr(not(mirage_target = "unix"), no_std)]
#![cfg_attr(not(mirage_target = "unix"), no_main)]

mod unikernel;

mirage::main!();
