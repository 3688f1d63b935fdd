//! The unix target of mirage: clocks, console, entropy, signals and the
//! `poll(2)` reactor that forms the executor's idle step.
