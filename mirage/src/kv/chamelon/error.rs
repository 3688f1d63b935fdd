//! What can go wrong in the store, and how it shows as a `KvError`.

use alloc::format;
use alloc::string::String;
use core::fmt;

use crate::block::BlockError;
use crate::kv::KvError;

/// Why a chamelon operation, mount or format failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The block device failed.
    Io(BlockError),
    /// The device holds no littlefs file system (blocks 0 and 1 hold no
    /// valid metadata and no littlefs magic).
    NotFormatted,
    /// The image is damaged or hostile: what is wrong with it.
    Corrupt(String),
    /// A valid image this implementation or configuration cannot use
    /// (another block size or version, a bad program size...).
    Unsupported(String),
    /// No free block left.
    NoSpace,
    /// A key-level failure (not found, wrong kind...).
    Kv(KvError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "chamelon: {e}"),
            Error::NotFormatted => f.write_str(
                "chamelon: the block device holds no littlefs file system (not formatted): \
                 format it first (mirage::kv::chamelon::format, Chamelon::format, or littlefs tools)",
            ),
            Error::Corrupt(what) => write!(f, "chamelon: corrupt littlefs image: {what}"),
            Error::Unsupported(what) => write!(f, "chamelon: {what}"),
            Error::NoSpace => f.write_str("chamelon: no space left on the block device"),
            Error::Kv(e) => write!(f, "{e}"),
        }
    }
}

impl From<BlockError> for Error {
    fn from(e: BlockError) -> Self {
        Error::Io(e)
    }
}

impl From<KvError> for Error {
    fn from(e: KvError) -> Self {
        Error::Kv(e)
    }
}

impl From<Error> for KvError {
    fn from(e: Error) -> Self {
        match e {
            Error::Kv(e) => e,
            Error::NoSpace => KvError::NoSpace,
            other => KvError::Store(format!("{other}")),
        }
    }
}

/// A corruption error.
pub(super) fn corrupt(what: impl Into<String>) -> Error {
    Error::Corrupt(what.into())
}
