//! `ccm_block` against an independent AES-CCM implementation (Python's
//! `cryptography`, driven by tests/ccm_peer.py) on mirage-block-ccm's
//! on-disk layout, so images move between this device and MirageOS's:
//! what `CcmBlock` writes the peer decrypts, what the peer encrypts
//! `CcmBlock` reads, for every key size and several nonce lengths; a
//! wrong key or a changed byte is a read error, never wrong data.

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use mirage::block::ccm::CcmBlock;
use mirage::block::ramdisk::Ramdisk;
use mirage::block::{Block, BlockError};
use mirage::random::Rng;
use mirage::rt::leak;

fn run<F: std::future::Future>(f: F) -> F::Output {
    mirage::rt::now_or_never(f).expect("the device waited")
}

/// Runs the peer with `args` (and `input`); its output lines, or `None`
/// (reported as skipped) where python3 or `cryptography` is missing.
fn peer(args: &[&str], input: &str) -> Option<Vec<String>> {
    let script = common::workspace().join("tests/ccm_peer.py");
    let mut child = match Command::new("python3")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            common::skipped(
                "ccm_block against cryptography",
                &format!("no python3: {e}"),
            );
            return None;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ccm_peer.py {args:?}: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    if let Some(reason) = text.strip_prefix("SKIPPED: ") {
        common::skipped("ccm_block against cryptography", reason.trim());
        return None;
    }
    Some(text.lines().map(str::to_string).collect())
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sector `s`'s test contents.
fn sector(s: u64, size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u64 * 7 + s * 131) as u8 ^ (i >> 8) as u8)
        .collect()
}

const KEYS: [&str; 3] = [
    "0x10786d3a9c920d0b3ec80dfaaac557a7",
    "000102030405060708090a0b0c0d0e0f1011121314151617",
    "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100",
];

#[test]
fn images_move_between_ccm_block_and_an_independent_aes_ccm() {
    for (key, nonce_len, size) in [
        (KEYS[0], 8, 512u32),
        (KEYS[1], 7, 512),
        (KEYS[2], 13, 512),
        (KEYS[0], 12, 4096),
    ] {
        let what = format!(
            "key of {} digits, nonce {nonce_len}, sectors of {size}",
            key.len()
        );
        let sectors = 6u64;
        let len = size as usize;
        let args = |op: &'static str, path: &str| {
            [op, path, &size.to_string(), key, &nonce_len.to_string()].map(str::to_string)
        };

        // Written here, decrypted by the peer; the never-written sector
        // does not authenticate.
        let raw = leak(Ramdisk::new(2 * sectors, size));
        let rng = leak(Rng::from_seed(&[nonce_len as u8; 32]));
        let dev = CcmBlock::connect(raw, rng, Some(key), nonce_len).unwrap();
        assert_eq!(dev.info().size_sectors, sectors);
        for s in 0..sectors - 1 {
            run(dev.write(s, &sector(s, len))).unwrap();
        }
        let image = common::ScratchFile::new("ccm", 0);
        std::fs::write(&image.0, raw.contents()).unwrap();
        let path = image.0.to_str().unwrap();
        let a = args("decrypt", path);
        let Some(lines) = peer(&a.each_ref().map(String::as_str), "") else {
            return;
        };
        let mut expected: Vec<String> = (0..sectors - 1).map(|s| hex(&sector(s, len))).collect();
        expected.push("!".into());
        assert_eq!(
            lines, expected,
            "{what}: the peer reads what ccm_block wrote"
        );

        // Encrypted by the peer, read here.
        let plain: Vec<String> = (0..sectors).map(|s| hex(&sector(s + 100, len))).collect();
        let a = args("encrypt", path);
        peer(&a.each_ref().map(String::as_str), &plain.join("\n")).unwrap();
        let theirs = leak(Ramdisk::from_image(&std::fs::read(&image.0).unwrap(), size));
        let dev = CcmBlock::connect(theirs, rng, Some(key), nonce_len).unwrap();
        let mut all = vec![0u8; len * sectors as usize];
        run(dev.read(0, &mut all)).unwrap();
        for s in 0..sectors {
            let got = &all[s as usize * len..(s as usize + 1) * len];
            assert_eq!(
                got,
                sector(s + 100, len),
                "{what}: sector {s} of the peer's image"
            );
        }

        // A changed byte anywhere in a pair (ciphertext, tag, nonce or
        // additional data), or another key, is a read error.
        let image = theirs.contents();
        for at in [
            0,
            len - 1,
            len,
            len + 15,
            len + 16,
            len + 16 + nonce_len,
            2 * len - 1,
        ] {
            let mut bad = image.clone();
            bad[2 * len + at] ^= 0x20;
            let disk = leak(Ramdisk::from_image(&bad, size));
            let dev = CcmBlock::connect(disk, rng, Some(key), nonce_len).unwrap();
            let mut out = vec![0u8; len];
            assert!(
                matches!(run(dev.read(1, &mut out)), Err(BlockError::Device(_))),
                "{what}: byte {at} of the pair changed"
            );
            run(dev.read(0, &mut out)).unwrap();
        }
        let other = if key == KEYS[0] { KEYS[2] } else { KEYS[0] };
        let dev = CcmBlock::connect(theirs, rng, Some(other), nonce_len).unwrap();
        let mut out = vec![0u8; len];
        assert!(run(dev.read(0, &mut out)).is_err(), "{what}: another key");
    }
}
