//! Tests of the TCP.
