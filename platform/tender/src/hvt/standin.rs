//! TEMPORARY stand-in for `crate::devices` (being written on wip-spt);
//! same names and shapes as the shared API. Deleted once merged.
#![allow(dead_code, missing_docs)]

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;

#[derive(Debug)]
pub struct Tap {
    pub fd: OwnedFd,
    pub mtu: u16,
    pub mac: [u8; 6],
}

#[derive(Debug)]
pub struct BlockDevice {
    pub file: File,
    pub capacity: u64,
    pub block_size: u64,
}

impl BlockDevice {
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
    pub fn write_at(&self, offset: u64, buf: &[u8]) -> std::io::Result<()> {
        self.file.write_all_at(buf, offset)
    }
}

#[derive(Debug, Default)]
pub struct Attached {
    pub manifest: Vec<u8>,
    pub nets: Vec<(usize, Tap)>,
    pub blocks: Vec<(usize, BlockDevice)>,
}
