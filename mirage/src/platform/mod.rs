//! The target's devices and entry glue: the one place that differs per
//! target, selected by the target feature.

#[cfg(feature = "target-unix")]
mod unix;
#[cfg(feature = "target-unix")]
pub use unix::*;

#[cfg(any(feature = "target-hvt", feature = "target-spt"))]
mod solo5;
#[cfg(any(feature = "target-hvt", feature = "target-spt"))]
pub use solo5::*;
