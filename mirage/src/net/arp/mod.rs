//! ARP (the seed's `arpv4`): the cache state machine (`cache`); the
//! protocol layer over Ethernet joins it with the wire format.

pub mod cache;
