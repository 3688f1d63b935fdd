//! The CRC-32 of littlefs: the reflected polynomial `0x04c11db7`
//! (`0xedb88320`), seeded with `0xffffffff` by the caller and, unlike
//! zlib's, never inverted at the end: the value stored on disk is the
//! running register itself.

/// The byte-at-a-time table of the reflected polynomial.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// Runs the register `crc` over `data`.
pub(super) fn crc32(mut crc: u32, data: &[u8]) -> u32 {
    for &byte in data {
        crc = (crc >> 8) ^ TABLE[((crc ^ u32::from(byte)) & 0xff) as usize];
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::crc32;

    #[test]
    fn matches_the_standard_crc_without_the_final_inversion() {
        // The check value of CRC-32/ISO-HDLC is 0xcbf43926 after inversion.
        assert_eq!(crc32(0xffff_ffff, b"123456789"), !0xcbf4_3926);
        // Running in pieces gives the same register.
        let whole = crc32(0xffff_ffff, b"littlefs metadata");
        let split = crc32(crc32(0xffff_ffff, b"littlefs "), b"metadata");
        assert_eq!(whole, split);
    }
}
