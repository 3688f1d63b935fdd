//! IPv6 neighbour discovery (RFC 4861): the neighbour cache with its
//! reachability states (`cache`), without I/O.

pub mod cache;
