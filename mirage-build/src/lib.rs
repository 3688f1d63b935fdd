//! The device-graph DSL of mirage.
