//! The target's devices and entry glue: the one place that differs per
//! target, selected by the target feature.

#[cfg(feature = "target-unix")]
mod unix;
#[cfg(feature = "target-unix")]
pub use unix::*;
