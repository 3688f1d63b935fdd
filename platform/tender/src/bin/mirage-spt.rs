//! The spt tender (being written).
fn main() {}
