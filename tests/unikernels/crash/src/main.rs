//! `crash`: a test unikernel that ends as its `--how` argument says.
#![cfg_attr(not(mirage_target = "unix"), no_std)]
#![cfg_attr(not(mirage_target = "unix"), no_main)]

mod unikernel;

mirage::main!();
