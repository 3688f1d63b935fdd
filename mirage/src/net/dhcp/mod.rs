//! The DHCPv4 client (the seed's `ipv4_of_dhcp`): the state machine of RFC
//! 2131 (`client`), without I/O; the stack feeds it parsed messages and the
//! time, and sends what it says.

pub mod client;
