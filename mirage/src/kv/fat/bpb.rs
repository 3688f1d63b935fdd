//! The boot sector: the BIOS parameter block, checked, and the volume's
//! geometry derived from it as the Microsoft FAT specification does.

use alloc::format;
use alloc::string::String;

/// The FAT variant, decided by the cluster count alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatType {
    /// 12-bit FAT entries (fewer than 4085 clusters).
    Fat12,
    /// 16-bit FAT entries (fewer than 65525 clusters).
    Fat16,
    /// 28-bit FAT entries in 32-bit slots.
    Fat32,
}

/// Where everything is, in FAT sectors (units of `bytes_per_sector`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub fat_type: FatType,
    pub bytes_per_sector: u32,
    pub sectors_per_cluster: u32,
    /// First sector of the FAT in use.
    pub fat_start: u64,
    /// Sectors of one FAT.
    pub fat_sectors: u64,
    /// First sector of the fixed root directory (FAT12/16).
    pub root_start: u64,
    /// Sectors of the fixed root directory (0 on FAT32).
    pub root_sectors: u64,
    /// First sector of cluster 2.
    pub data_start: u64,
    /// Number of data clusters (valid clusters are `2..=count + 1`).
    pub cluster_count: u32,
    /// The root directory's first cluster (FAT32).
    pub root_cluster: u32,
    /// Sectors the volume needs on the device (up to the last cluster).
    pub used_sectors: u64,
}

impl Geometry {
    /// Bytes per cluster.
    pub fn cluster_bytes(&self) -> u32 {
        self.bytes_per_sector * self.sectors_per_cluster
    }

    /// The highest valid cluster number.
    pub fn max_cluster(&self) -> u32 {
        self.cluster_count + 1
    }

    /// The first sector of data cluster `cluster` (which must be valid).
    pub fn cluster_sector(&self, cluster: u32) -> u64 {
        self.data_start + u64::from(cluster - 2) * u64::from(self.sectors_per_cluster)
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn bad(what: &str) -> String {
    format!("fat: bad boot sector: {what}")
}

/// Parses and checks the boot sector `boot` (at least 512 bytes) of a
/// device whose sectors are `device_sector` bytes.
pub(crate) fn parse(boot: &[u8], device_sector: u32) -> Result<Geometry, String> {
    if boot.len() < 512 {
        return Err(bad("shorter than 512 bytes"));
    }
    if boot[510] != 0x55 || boot[511] != 0xAA {
        return Err(bad("no 0x55AA signature"));
    }
    let bps = u32::from(u16_at(boot, 11));
    if !(512..=4096).contains(&bps) || !bps.is_power_of_two() {
        return Err(bad(&format!("{bps} bytes per sector")));
    }
    if device_sector == 0 || !bps.is_multiple_of(device_sector) {
        return Err(bad(&format!(
            "{bps} bytes per sector is not a multiple of the device's {device_sector}"
        )));
    }
    let spc = u32::from(boot[13]);
    if spc == 0 || !spc.is_power_of_two() {
        return Err(bad(&format!("{spc} sectors per cluster")));
    }
    let reserved = u64::from(u16_at(boot, 14));
    if reserved == 0 {
        return Err(bad("no reserved sectors"));
    }
    let fats = u64::from(boot[16]);
    if fats == 0 {
        return Err(bad("no FAT"));
    }
    let root_entries = u64::from(u16_at(boot, 17));
    let total16 = u64::from(u16_at(boot, 19));
    let total = if total16 != 0 {
        total16
    } else {
        u64::from(u32_at(boot, 32))
    };
    if total == 0 {
        return Err(bad("zero total sectors"));
    }
    let fat16 = u64::from(u16_at(boot, 22));
    let fat_sectors = if fat16 != 0 {
        fat16
    } else {
        u64::from(u32_at(boot, 36))
    };
    if fat_sectors == 0 {
        return Err(bad("zero FAT size"));
    }
    let root_sectors = (root_entries * 32).div_ceil(u64::from(bps));
    // All u64 products of values below 2^32 and 2^8: no overflow.
    let data_start = reserved + fats * fat_sectors + root_sectors;
    if data_start >= total {
        return Err(bad("no room for data after the FATs"));
    }
    let clusters = (total - data_start) / u64::from(spc);
    if clusters == 0 {
        return Err(bad("no data cluster"));
    }
    let fat_type = if clusters < 4085 {
        FatType::Fat12
    } else if clusters < 65525 {
        FatType::Fat16
    } else {
        FatType::Fat32
    };
    // Cluster numbers must stay below the bad-cluster marker.
    if clusters + 1 >= 0x0FFF_FFF7 {
        return Err(bad("too many clusters"));
    }
    let cluster_count = clusters as u32;
    let fat_bytes_needed = match fat_type {
        FatType::Fat12 => ((clusters + 2) * 3).div_ceil(2),
        FatType::Fat16 => (clusters + 2) * 2,
        FatType::Fat32 => (clusters + 2) * 4,
    };
    if fat_sectors * u64::from(bps) < fat_bytes_needed {
        return Err(bad("the FAT is too small for the clusters"));
    }
    let mut active_fat = 0;
    let mut root_cluster = 0;
    match fat_type {
        FatType::Fat32 => {
            if root_entries != 0 || fat16 != 0 {
                return Err(bad(
                    "FAT32 with a fixed root directory or a 16-bit FAT size",
                ));
            }
            let ext_flags = u16_at(boot, 40);
            if ext_flags & 0x80 != 0 {
                active_fat = u64::from(ext_flags & 0x0F);
                if active_fat >= fats {
                    return Err(bad("the active FAT does not exist"));
                }
            }
            root_cluster = u32_at(boot, 44);
            if root_cluster < 2 || root_cluster > cluster_count + 1 {
                return Err(bad(&format!("root cluster {root_cluster} out of range")));
            }
        }
        FatType::Fat12 | FatType::Fat16 => {
            if root_entries == 0 {
                return Err(bad("FAT12/16 without root directory entries"));
            }
        }
    }
    Ok(Geometry {
        fat_type,
        bytes_per_sector: bps,
        sectors_per_cluster: spc,
        fat_start: reserved + active_fat * fat_sectors,
        fat_sectors,
        root_start: reserved + fats * fat_sectors,
        root_sectors,
        data_start,
        cluster_count,
        root_cluster,
        used_sectors: data_start + clusters * u64::from(spc),
    })
}
