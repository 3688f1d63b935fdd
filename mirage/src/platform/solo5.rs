//! The Solo5 targets (hvt and spt): the devices of a unikernel over the
//! Solo5 layer of `mirage-solo5`, and the entry glue its generated
//! `solo5_app_main` calls.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::future::Future;
use core::task::Waker;

use mirage_solo5 as solo5;

use crate::args::{self, ArgError, ArgSpec, Parsed};
use crate::block::{BlockError, BlockInfo, check_access};
use crate::reporter::{DefaultReporter, LogLevels, LogSink};
use crate::rt::{Executor, Platform, StartError};

pub use mirage_solo5::StartInfo;

#[path = "net_solo5.rs"]
mod net_solo5;
pub use net_solo5::Netif;

/// An ELF note's bytes, 8-aligned: the generated manifest note is one.
#[repr(C, align(8))]
pub struct Note<const N: usize>(pub [u8; N]);

/// The timer: the executor's timer queue.
pub type Time = crate::time::RtTime;

/// The Solo5 wall clock (`solo5_clock_wall`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Pclock;

impl Pclock {
    /// The clock.
    pub fn new() -> Self {
        Pclock
    }
}

impl crate::Pclock for Pclock {
    fn now_d_ps(&self) -> (i64, u64) {
        crate::clock::d_ps_of_unix_ns(i128::from(solo5::clock_wall()))
    }
}

/// The Solo5 monotonic clock (`solo5_clock_monotonic`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Mclock;

impl Mclock {
    /// The clock.
    pub fn new() -> Self {
        Mclock
    }
}

impl crate::Mclock for Mclock {
    fn elapsed_ns(&self) -> u64 {
        solo5::clock_monotonic()
    }
}

/// The Solo5 console.
#[derive(Debug, Default, Clone, Copy)]
pub struct Console;

impl Console {
    /// The console.
    pub fn new() -> Self {
        Console
    }
}

impl crate::Console for Console {
    type Error = core::convert::Infallible;

    async fn write(&self, data: &[u8]) -> Result<(), Self::Error> {
        solo5::console_write(data);
        Ok(())
    }
}

/// Where log lines go: the Solo5 console, one write per line.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConsoleSink;

impl LogSink for ConsoleSink {
    fn write_str(&self, line: &str) {
        solo5::console_write(line.as_bytes());
    }
}

/// The default reporter of this target.
pub type Reporter = DefaultReporter<Pclock, ConsoleSink>;

/// Makes the default reporter with `levels` and installs it as the `log`
/// crate's logger.
pub fn install_reporter(clock: &'static Pclock, levels: LogLevels) -> &'static Reporter {
    crate::reporter::install_default(clock, ConsoleSink, levels)
}

/// Entropy for the generator's seed: RDRAND where the CPU has it, mixed
/// with the jitter of the cycle counter and the wall clock (which is all
/// a CPU without RDRAND offers; Fortuna's accumulator hashes it all).
fn gather_entropy() -> [u8; 64] {
    let mut seed = [0u8; 64];
    for (i, chunk) in seed.chunks_mut(8).enumerate() {
        let hw = solo5::hardware_random().unwrap_or(0);
        let mut jitter = solo5::cycle_counter();
        for _ in 0..(i + 1) * 16 {
            jitter = jitter.rotate_left(7) ^ solo5::cycle_counter();
        }
        let word = hw ^ jitter ^ solo5::clock_wall().rotate_left(i as u32 * 8);
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    seed
}

/// The default random device: Fortuna seeded from RDRAND and RDTSC.
pub fn default_random() -> Result<crate::random::Rng, core::convert::Infallible> {
    Ok(crate::random::Rng::from_seed_with_clock(
        &gather_entropy(),
        solo5::clock_monotonic,
    ))
}

/// The `rng` device: as [`default_random`], reseeds paced by `mclock`.
pub fn rng(_mclock: &Mclock) -> Result<crate::random::Rng, core::convert::Infallible> {
    default_random()
}

/// A Solo5 block device, by its manifest name.
#[derive(Debug)]
pub struct BlockFile {
    device: solo5::BlockDevice,
    info: BlockInfo,
}

impl BlockFile {
    /// Acquires the block device `name`, declared in the manifest.
    pub fn connect(name: &str) -> Result<Self, BlockError> {
        let device = solo5::block_acquire(name)
            .map_err(|e| BlockError::Device(format!("block device {name}: {e}")))?;
        let sector_size = u32::try_from(device.info.block_size)
            .map_err(|_| BlockError::Device(format!("block device {name}: huge block size")))?;
        Ok(BlockFile {
            info: BlockInfo {
                sector_size,
                size_sectors: device.info.capacity / device.info.block_size.max(1),
                read_write: true,
            },
            device,
        })
    }
}

impl crate::Block for BlockFile {
    fn info(&self) -> BlockInfo {
        self.info
    }

    async fn read(&self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_access(&self.info, sector, buf.len(), false)?;
        let size = self.info.sector_size as usize;
        for (i, chunk) in buf.chunks_mut(size).enumerate() {
            let offset = (sector + i as u64) * size as u64;
            self.device
                .read(offset, chunk)
                .map_err(|e| BlockError::Device(format!("read at {offset}: {e}")))?;
        }
        Ok(())
    }

    async fn write(&self, sector: u64, data: &[u8]) -> Result<(), BlockError> {
        check_access(&self.info, sector, data.len(), true)?;
        let size = self.info.sector_size as usize;
        for (i, chunk) in data.chunks(size).enumerate() {
            let offset = (sector + i as u64) * size as u64;
            self.device
                .write(offset, chunk)
                .map_err(|e| BlockError::Device(format!("write at {offset}: {e}")))?;
        }
        Ok(())
    }
}

/// Where the runtime arguments come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Argv {
    /// The tender's command line.
    Default,
    /// None: every argument takes its default.
    None,
}

/// Wakers of the tasks waiting for a network device, by handle.
static NET_WAITERS: spin::Mutex<[Option<Waker>; 64]> = spin::Mutex::new([const { None }; 64]);

/// Registers `waker` to be woken when the device of `handle` is readable.
pub fn wait_readable(handle: u64, waker: &Waker) {
    if let Some(slot) = NET_WAITERS.lock().get_mut(handle as usize) {
        *slot = Some(waker.clone());
    }
}

/// The executor's platform on Solo5: the monotonic clock and `solo5_yield`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Solo5Platform;

impl Platform for Solo5Platform {
    fn now_ns(&self) -> u64 {
        solo5::clock_monotonic()
    }

    fn idle(&self, deadline_ns: Option<u64>) {
        let ready = solo5::yield_until(deadline_ns.unwrap_or(u64::MAX));
        if ready != 0 {
            let mut waiters = NET_WAITERS.lock();
            for (handle, slot) in waiters.iter_mut().enumerate() {
                if ready & (1 << handle) != 0
                    && let Some(waker) = slot.take()
                {
                    waker.wake();
                }
            }
        }
    }
}

/// Runs the unikernel `name`: parses its runtime arguments from the Solo5
/// command line (printing `--help` and returning 0, or an error and 64,
/// also for a command line that is not UTF-8),
/// then runs `start` on the executor: 0 on success, 1 on failure.
pub fn run<F, Fut>(name: &str, argv: Argv, specs: &'static [ArgSpec], start: F) -> i32
where
    F: FnOnce(Parsed) -> Fut,
    Fut: Future<Output = Result<(), StartError>> + 'static,
{
    let words: Result<Vec<String>, ArgError> = match argv {
        Argv::Default => args::split_cmdline_bytes(solo5::cmdline()),
        Argv::None => Ok(Vec::new()),
    };
    let parsed = match words.and_then(|words| args::parse(specs, words.iter().map(String::as_str)))
    {
        Ok(parsed) => parsed,
        Err(ArgError::Help) => {
            solo5::console_write(args::help(name, specs).as_bytes());
            return 0;
        }
        Err(error) => {
            let message = format!("{name}: {error}\nTry '{name} --help' for more information.\n");
            solo5::console_write(message.as_bytes());
            return error.exit_code();
        }
    };
    let executor = Executor::new(Solo5Platform);
    match executor.block_on(start(parsed)) {
        Ok(Ok(())) => 0,
        Ok(Err(error)) => {
            solo5::console_write(format!("{name}: {error}\n").as_bytes());
            1
        }
        Err(stopped) => {
            solo5::console_write(
                format!("{name}: stopped by signal {}\n", stopped.signal).as_bytes(),
            );
            1
        }
    }
}
