//! The target's devices and entry glue, selected by the target feature.
