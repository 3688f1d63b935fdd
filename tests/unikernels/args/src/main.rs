//! `args`: a test unikernel with a runtime argument of every type.
#![cfg_attr(not(mirage_target = "unix"), no_std)]
#![cfg_attr(not(mirage_target = "unix"), no_main)]

mod unikernel;

mirage::main!();
