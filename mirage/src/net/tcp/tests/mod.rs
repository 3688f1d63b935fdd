//! Tests of the TCP: single transitions with crafted segments
//! (`transitions`), loss recovery with crafted ACKs (`recovery`), hostile
//! segments (`hostile`), and two `TcpEngine`s over a
//! simulated wire with loss, duplication, reordering and delay (`bulk`,
//! `churn`), all on virtual time; and `Flow::write_with`'s default
//! (`flow_default`).

mod black_hole;
mod bulk;
mod churn;
mod congestion_tests;
mod dscp;
mod ecn;
mod flow_default;
mod harness;
mod hostile;
mod icmp;
mod listen;
mod output;
mod receive;
mod recovery;
mod rfc9293;
mod slow_start;
mod soak;
mod timers;
mod transitions;
mod urgent;
mod user_timeout;
