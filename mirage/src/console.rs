//! The console device: the unikernel's text output.

/// A console: best-effort text output (the tender's or the process's standard
/// output).
pub trait Console {
    /// Why a write failed.
    type Error: core::fmt::Debug + core::fmt::Display;

    /// Writes all of `data` to the console.
    async fn write(&self, data: &[u8]) -> Result<(), Self::Error>;
}
