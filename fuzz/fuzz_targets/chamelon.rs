//! chamelon: mount arbitrary bytes as a littlefs image (512-byte blocks),
//! read everything, change something. Any outcome but a panic, a hang or
//! an allocation beyond the image is fine.
#![no_main]

use std::future::Future;
use std::sync::Mutex;

use libfuzzer_sys::fuzz_target;
use mirage::Pclock;
use mirage::block::{Block, BlockError, BlockInfo, check_access};
use mirage::kv::chamelon::Chamelon;
use mirage::kv::{Key, Kind, KvRo, KvRw};

/// The image, in a static so that the store's `&'static` device needs no
/// leak per input.
struct Image(Mutex<Vec<u8>>);

static IMAGE: Image = Image(Mutex::new(Vec::new()));

impl Block for Image {
    fn info(&self) -> BlockInfo {
        BlockInfo {
            sector_size: 512,
            size_sectors: self.0.lock().unwrap().len() as u64 / 512,
            read_write: true,
        }
    }

    async fn read(&self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_access(&self.info(), sector, buf.len(), false)?;
        let at = sector as usize * 512;
        buf.copy_from_slice(&self.0.lock().unwrap()[at..at + buf.len()]);
        Ok(())
    }

    async fn write(&self, sector: u64, data: &[u8]) -> Result<(), BlockError> {
        check_access(&self.info(), sector, data.len(), true)?;
        let at = sector as usize * 512;
        self.0.lock().unwrap()[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }
}

struct Clock;
static CLOCK: Clock = Clock;
impl Pclock for Clock {
    fn now_d_ps(&self) -> (i64, u64) {
        (20_000, 0)
    }
}

/// Runs a future that never waits.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let blocks = data.len().div_ceil(512).clamp(4, 128);
    let mut image = data[..data.len().min(blocks * 512)].to_vec();
    image.resize(blocks * 512, 0xff);
    *IMAGE.0.lock().unwrap() = image;
    let Ok(kv) = now(Chamelon::mount(&IMAGE, &CLOCK, 16)) else {
        return;
    };
    let mut pending = vec![Key::root()];
    let mut seen = 0;
    while let Some(dir) = pending.pop() {
        let Ok(entries) = now(kv.list(&dir)) else {
            continue;
        };
        for (key, kind) in entries {
            seen += 1;
            if seen > 200 {
                break;
            }
            match kind {
                Kind::Dictionary => pending.push(key),
                Kind::Value => {
                    let _ = now(kv.get(&key));
                    let _ = now(kv.get_partial(&key, 300, 700));
                    let _ = now(kv.last_modified(&key));
                }
            }
        }
    }
    let _ = now(kv.digest(&Key::root()));
    let _ = now(kv.set(&Key::v("fuzz/new"), &[7u8; 1500]));
    let _ = now(kv.set_partial(&Key::v("fuzz/new"), 1400, b"tail"));
    let _ = now(kv.rename(&Key::v("fuzz"), &Key::v("moved")));
    let _ = now(kv.remove(&Key::root()));
});
