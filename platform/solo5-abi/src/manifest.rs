//! The application manifest (`struct mft`, version 1): the devices a
//! unikernel declares, carried in its `.note.solo5.manifest` ELF note and
//! copied, filled in, into guest memory by the tender.
//!
//! Layout (little endian): an 8-byte header `{u32 version; u32 entries}`
//! then `entries` entries of 104 bytes; entry 0 is reserved
//! (`MFT_RESERVED_FIRST`, empty name), so a manifest has at most 63 devices
//! and a device's handle is its index.

/// `MFT_VERSION`.
pub const MFT_VERSION: u32 = 1;
/// `MFT_MAX_ENTRIES`, the reserved entry included.
pub const MFT_MAX_ENTRIES: u32 = 64;
/// `MFT_NAME_SIZE`: a name's bytes, NUL included.
pub const MFT_NAME_SIZE: usize = 68;
/// `MFT_NAME_MAX`: a name's longest length.
pub const MFT_NAME_MAX: usize = 67;
/// `MFT_DEV_BLOCK_BASIC`.
pub const MFT_DEV_BLOCK_BASIC: u32 = 1;
/// `MFT_DEV_NET_BASIC`.
pub const MFT_DEV_NET_BASIC: u32 = 2;
/// `MFT_RESERVED_FIRST`: the type of entry 0; types from here on are
/// reserved and skipped when checking attachment.
pub const MFT_RESERVED_FIRST: u32 = 1 << 30;
/// Size of the manifest header.
pub const HEADER_SIZE: usize = 8;
/// Size of one entry.
pub const ENTRY_SIZE: usize = 104;

/// Byte offsets inside an entry.
pub mod entry {
    /// `char name[68]`.
    pub const NAME: usize = 0;
    /// `mft_type_t type` (u32).
    pub const TYPE: usize = 68;
    /// Block: `u64 capacity`.
    pub const BLOCK_CAPACITY: usize = 72;
    /// Block: `u16 block_size`.
    pub const BLOCK_SIZE: usize = 80;
    /// Net: `u8 mac[6]`.
    pub const NET_MAC: usize = 72;
    /// Net: `u16 mtu`.
    pub const NET_MTU: usize = 78;
    /// `union { int hostfd; void *data; } b` (8 bytes, private).
    pub const HOSTFD: usize = 88;
    /// `bool attached`.
    pub const ATTACHED: usize = 96;
}

/// `struct mft_entry` for guests that read the manifest in place.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MftEntry {
    /// NUL-terminated name.
    pub name: [u8; MFT_NAME_SIZE],
    /// Device type.
    pub typ: u32,
    /// The type's data (block: capacity, block size; net: MAC, MTU).
    pub u: [u64; 2],
    /// Private to tender and bindings (the host fd).
    pub b: u64,
    /// Whether the tender attached the device.
    pub attached: bool,
    _pad: [u8; 7],
}
const _: () = assert!(core::mem::size_of::<MftEntry>() == ENTRY_SIZE);
const _: () = assert!(core::mem::offset_of!(MftEntry, typ) == entry::TYPE);
const _: () = assert!(core::mem::offset_of!(MftEntry, u) == entry::BLOCK_CAPACITY);
const _: () = assert!(core::mem::offset_of!(MftEntry, b) == entry::HOSTFD);
const _: () = assert!(core::mem::offset_of!(MftEntry, attached) == entry::ATTACHED);

/// The kinds of device a manifest declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeviceKind {
    /// `MFT_DEV_BLOCK_BASIC`.
    Block,
    /// `MFT_DEV_NET_BASIC`.
    Net,
}

impl DeviceKind {
    /// The `mft_type_t` value.
    pub fn code(self) -> u32 {
        match self {
            DeviceKind::Block => MFT_DEV_BLOCK_BASIC,
            DeviceKind::Net => MFT_DEV_NET_BASIC,
        }
    }

    /// The kind of a `mft_type_t` value.
    pub fn of_code(code: u32) -> Option<Self> {
        match code {
            MFT_DEV_BLOCK_BASIC => Some(DeviceKind::Block),
            MFT_DEV_NET_BASIC => Some(DeviceKind::Net),
            _ => None,
        }
    }

    /// The name Solo5 prints (`BLOCK_BASIC`, `NET_BASIC`).
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Block => "BLOCK_BASIC",
            DeviceKind::Net => "NET_BASIC",
        }
    }
}

/// Why a manifest is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MftError {
    /// Smaller than its header.
    TooSmall(usize),
    /// `version != 1`.
    Version(u32),
    /// More than 64 entries.
    TooManyEntries(u32),
    /// The size is not `8 + entries * 104`.
    SizeMismatch {
        /// The size found.
        size: usize,
        /// The entry count declared.
        entries: u32,
    },
    /// Entry 0 is missing, not `MFT_RESERVED_FIRST`, or named.
    BadReservedEntry,
    /// An entry's name is not NUL-terminated.
    NameNotTerminated(usize),
    /// An entry is already marked attached.
    Attached(usize),
    /// (building) a name is empty, too long or not alphanumeric.
    BadName(usize),
    /// (building) more than 63 devices.
    TooManyDevices(usize),
    /// (building) two devices share a name.
    DuplicateName(usize),
    /// (building) the output buffer is too small.
    BufferTooSmall,
}

impl core::fmt::Display for MftError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MftError::TooSmall(size) => {
                write!(f, "manifest of {size} bytes is smaller than its header")
            }
            MftError::Version(v) => write!(f, "manifest version {v}, expected {MFT_VERSION}"),
            MftError::TooManyEntries(n) => {
                write!(f, "manifest has {n} entries, at most {MFT_MAX_ENTRIES}")
            }
            MftError::SizeMismatch { size, entries } => {
                write!(
                    f,
                    "manifest of {size} bytes does not hold exactly {entries} entries"
                )
            }
            MftError::BadReservedEntry => f.write_str("manifest entry 0 is not the reserved entry"),
            MftError::NameNotTerminated(i) => {
                write!(f, "manifest entry {i} has an unterminated name")
            }
            MftError::Attached(i) => write!(f, "manifest entry {i} is already attached"),
            MftError::BadName(i) => write!(
                f,
                "device {i}: a name is 1 to {MFT_NAME_MAX} letters and digits"
            ),
            MftError::TooManyDevices(n) => {
                write!(f, "{n} devices, at most {}", MFT_MAX_ENTRIES - 1)
            }
            MftError::DuplicateName(i) => write!(f, "device {i}: its name is used twice"),
            MftError::BufferTooSmall => f.write_str("buffer too small for the manifest"),
        }
    }
}

/// A validated manifest, read from bytes.
#[derive(Debug, Clone, Copy)]
pub struct Manifest<'a> {
    bytes: &'a [u8],
    entries: usize,
}

/// One entry of a manifest.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The entry's index (the device's handle).
    pub index: usize,
    bytes: &'a [u8],
}

impl<'a> Entry<'a> {
    /// The name (bytes before the NUL).
    pub fn name_bytes(&self) -> &'a [u8] {
        let name = &self.bytes[entry::NAME..entry::NAME + MFT_NAME_SIZE];
        let len = name.iter().position(|&b| b == 0).unwrap_or(MFT_NAME_SIZE);
        &name[..len]
    }

    /// The name, if UTF-8.
    pub fn name(&self) -> &'a str {
        core::str::from_utf8(self.name_bytes()).unwrap_or("")
    }

    /// The `mft_type_t` value.
    pub fn type_code(&self) -> u32 {
        crate::read_u32(self.bytes, entry::TYPE).unwrap_or(0)
    }

    /// The kind, if a device kind.
    pub fn kind(&self) -> Option<DeviceKind> {
        DeviceKind::of_code(self.type_code())
    }

    /// Whether the tender attached it.
    pub fn attached(&self) -> bool {
        self.bytes[entry::ATTACHED] != 0
    }

    /// Block devices: capacity in bytes.
    pub fn block_capacity(&self) -> u64 {
        crate::read_u64(self.bytes, entry::BLOCK_CAPACITY).unwrap_or(0)
    }

    /// Block devices: block size in bytes.
    pub fn block_size(&self) -> u16 {
        u16::from_le_bytes([
            self.bytes[entry::BLOCK_SIZE],
            self.bytes[entry::BLOCK_SIZE + 1],
        ])
    }

    /// Net devices: the MAC address.
    pub fn net_mac(&self) -> [u8; 6] {
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&self.bytes[entry::NET_MAC..entry::NET_MAC + 6]);
        mac
    }

    /// Net devices: the MTU.
    pub fn net_mtu(&self) -> u16 {
        u16::from_le_bytes([self.bytes[entry::NET_MTU], self.bytes[entry::NET_MTU + 1]])
    }

    /// The host file descriptor the tender recorded.
    pub fn hostfd(&self) -> i32 {
        crate::read_u32(self.bytes, entry::HOSTFD).unwrap_or(u32::MAX) as i32
    }
}

impl<'a> Manifest<'a> {
    /// Validates `bytes` as Solo5's `mft_validate` does (the tender's
    /// copy is then filled in; a fresh note must have nothing attached).
    pub fn validate(bytes: &'a [u8]) -> Result<Self, MftError> {
        Self::check(bytes, true)
    }

    /// Reads a manifest a tender has filled in (entries may be attached).
    pub fn read_attached(bytes: &'a [u8]) -> Result<Self, MftError> {
        Self::check(bytes, false)
    }

    fn check(bytes: &'a [u8], fresh: bool) -> Result<Self, MftError> {
        if bytes.len() < HEADER_SIZE {
            return Err(MftError::TooSmall(bytes.len()));
        }
        let version = crate::read_u32(bytes, 0).unwrap_or(0);
        let entries = crate::read_u32(bytes, 4).unwrap_or(0);
        if version != MFT_VERSION {
            return Err(MftError::Version(version));
        }
        if entries > MFT_MAX_ENTRIES {
            return Err(MftError::TooManyEntries(entries));
        }
        if bytes.len() != HEADER_SIZE + entries as usize * ENTRY_SIZE {
            return Err(MftError::SizeMismatch {
                size: bytes.len(),
                entries,
            });
        }
        let manifest = Manifest {
            bytes,
            entries: entries as usize,
        };
        let first = manifest.entry(0).ok_or(MftError::BadReservedEntry)?;
        if first.type_code() != MFT_RESERVED_FIRST || !first.name_bytes().is_empty() {
            return Err(MftError::BadReservedEntry);
        }
        for e in manifest.iter() {
            if e.bytes[entry::NAME + MFT_NAME_MAX] != 0 {
                return Err(MftError::NameNotTerminated(e.index));
            }
            if fresh && e.attached() {
                return Err(MftError::Attached(e.index));
            }
        }
        Ok(manifest)
    }

    /// The number of entries, the reserved one included.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether only the reserved entry is there.
    pub fn is_empty(&self) -> bool {
        self.entries <= 1
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Entry `index`.
    pub fn entry(&self, index: usize) -> Option<Entry<'a>> {
        if index >= self.entries {
            return None;
        }
        let start = HEADER_SIZE + index * ENTRY_SIZE;
        Some(Entry {
            index,
            bytes: &self.bytes[start..start + ENTRY_SIZE],
        })
    }

    /// Every entry, the reserved one included.
    pub fn iter(&self) -> impl Iterator<Item = Entry<'a>> + '_ {
        (0..self.entries).filter_map(|i| self.entry(i))
    }

    /// The device of this kind named `name` (Solo5's `mft_get_by_name`).
    pub fn find(&self, name: &str, kind: DeviceKind) -> Option<Entry<'a>> {
        self.iter()
            .skip(1)
            .find(|e| e.name_bytes() == name.as_bytes() && e.type_code() == kind.code())
    }
}

/// The size of a manifest declaring `devices` devices.
pub const fn manifest_size(devices: usize) -> usize {
    HEADER_SIZE + (devices + 1) * ENTRY_SIZE
}

/// Whether `name` is a valid device name: 1 to 67 ASCII letters or digits.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MFT_NAME_MAX
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Writes the manifest declaring `devices` (in this order, after the
/// reserved entry) into `out`, as `solo5-elftool gen-manifest` does;
/// returns its size.
pub fn write_manifest(devices: &[(&str, DeviceKind)], out: &mut [u8]) -> Result<usize, MftError> {
    if devices.len() > MFT_MAX_ENTRIES as usize - 1 {
        return Err(MftError::TooManyDevices(devices.len()));
    }
    for (i, (name, _)) in devices.iter().enumerate() {
        if !valid_name(name) {
            return Err(MftError::BadName(i));
        }
        if devices[..i].iter().any(|(other, _)| other == name) {
            return Err(MftError::DuplicateName(i));
        }
    }
    let size = manifest_size(devices.len());
    let out = out.get_mut(..size).ok_or(MftError::BufferTooSmall)?;
    out.fill(0);
    crate::write_u32(out, 0, MFT_VERSION);
    crate::write_u32(out, 4, devices.len() as u32 + 1);
    crate::write_u32(out, HEADER_SIZE + entry::TYPE, MFT_RESERVED_FIRST);
    for (i, (name, kind)) in devices.iter().enumerate() {
        let start = HEADER_SIZE + (i + 1) * ENTRY_SIZE;
        out[start..start + name.len()].copy_from_slice(name.as_bytes());
        crate::write_u32(out, start + entry::TYPE, kind.code());
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(devices: &[(&str, DeviceKind)]) -> ([u8; 1024], usize) {
        let mut buf = [0u8; 1024];
        let n = write_manifest(devices, &mut buf).unwrap();
        (buf, n)
    }

    #[test]
    fn an_empty_manifest_matches_solo5s_bytes() {
        let (buf, n) = build(&[]);
        assert_eq!(n, 112);
        assert_eq!(&buf[..8], &[1, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(&buf[8 + 68..8 + 72], &[0, 0, 0, 0x40]);
        assert!(buf[8..8 + 68].iter().all(|&b| b == 0));
        let m = Manifest::validate(&buf[..n]).unwrap();
        assert!(m.is_empty());
    }

    #[test]
    fn devices_are_found_by_name_and_kind() {
        let (buf, n) = build(&[("service", DeviceKind::Net), ("storage", DeviceKind::Block)]);
        let m = Manifest::validate(&buf[..n]).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m.find("storage", DeviceKind::Block).unwrap().index, 2);
        assert_eq!(
            m.find("service", DeviceKind::Net).unwrap().name(),
            "service"
        );
        assert!(m.find("storage", DeviceKind::Net).is_none());
        assert!(m.find("", DeviceKind::Net).is_none());
    }

    #[test]
    fn validation_rejects_every_malformation() {
        let (buf, n) = build(&[("service", DeviceKind::Net)]);
        let good = &buf[..n];
        assert_eq!(
            Manifest::validate(&good[..4]).unwrap_err(),
            MftError::TooSmall(4)
        );
        let mut bad = [0u8; 1024];
        bad[..n].copy_from_slice(good);
        bad[0] = 2;
        assert_eq!(
            Manifest::validate(&bad[..n]).unwrap_err(),
            MftError::Version(2)
        );
        bad[..n].copy_from_slice(good);
        bad[4] = 65;
        assert_eq!(
            Manifest::validate(&bad[..n]).unwrap_err(),
            MftError::TooManyEntries(65)
        );
        assert!(matches!(
            Manifest::validate(&good[..n - 1]).unwrap_err(),
            MftError::SizeMismatch { .. }
        ));
        bad[..n].copy_from_slice(good);
        bad[8] = b'x';
        assert_eq!(
            Manifest::validate(&bad[..n]).unwrap_err(),
            MftError::BadReservedEntry
        );
        bad[..n].copy_from_slice(good);
        bad[8 + ENTRY_SIZE + MFT_NAME_MAX] = b'x';
        assert_eq!(
            Manifest::validate(&bad[..n]).unwrap_err(),
            MftError::NameNotTerminated(1)
        );
        bad[..n].copy_from_slice(good);
        bad[8 + ENTRY_SIZE + entry::ATTACHED] = 1;
        assert_eq!(
            Manifest::validate(&bad[..n]).unwrap_err(),
            MftError::Attached(1)
        );
        assert!(Manifest::read_attached(&bad[..n]).is_ok());
        let mut zero = [0u8; 8];
        zero[0] = 1;
        assert_eq!(
            Manifest::validate(&zero).unwrap_err(),
            MftError::BadReservedEntry
        );
    }

    #[test]
    fn building_checks_names() {
        let mut buf = [0u8; 8192];
        assert_eq!(
            write_manifest(&[("a-b", DeviceKind::Net)], &mut buf),
            Err(MftError::BadName(0))
        );
        assert_eq!(
            write_manifest(&[("", DeviceKind::Net)], &mut buf),
            Err(MftError::BadName(0))
        );
        let long = "a".repeat(68);
        assert!(write_manifest(&[(&long[..67], DeviceKind::Net)], &mut buf).is_ok());
        assert_eq!(
            write_manifest(&[(&long, DeviceKind::Net)], &mut buf),
            Err(MftError::BadName(0))
        );
        assert_eq!(
            write_manifest(
                &[("a", DeviceKind::Net), ("a", DeviceKind::Block)],
                &mut buf
            ),
            Err(MftError::DuplicateName(1))
        );
        let names: [&str; 64] = ["d"; 64];
        let many: [(&str, DeviceKind); 64] = core::array::from_fn(|i| (names[i], DeviceKind::Net));
        assert_eq!(
            write_manifest(&many, &mut buf),
            Err(MftError::TooManyDevices(64))
        );
        let mut small = [0u8; 100];
        assert_eq!(
            write_manifest(&[], &mut small),
            Err(MftError::BufferTooSmall)
        );
    }
}
