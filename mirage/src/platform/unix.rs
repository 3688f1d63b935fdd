//! The unix target: the devices of a unikernel running as a Linux process,
//! over the raw layer of `mirage-unix`, and the process's entry glue.

extern crate std;

use alloc::string::String;
use alloc::vec::Vec;
use core::future::Future;

use mirage_unix as sys;

#[path = "kv_unix.rs"]
mod kv_unix;
pub use kv_unix::*;

use crate::args::{self, ArgError, ArgSpec, Parsed};
use crate::reporter::{DefaultReporter, LogLevels, LogSink};
use crate::rt::{Executor, Interrupter, Platform, StartError, Stopped};

#[path = "net_unix.rs"]
mod net_unix;
pub use net_unix::Netif;

#[path = "socket_unix.rs"]
mod socket_unix;
pub use socket_unix::{
    SocketFlow, SocketListener, SocketReader, SocketStack, SocketTcp, SocketUdp, SocketUdpSocket,
    SocketWriter,
};

/// The timer: the executor's timer queue.
pub type Time = crate::time::RtTime;

/// The unix wall clock (`CLOCK_REALTIME`).
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
        crate::clock::d_ps_of_unix_ns(sys::wall_clock_ns())
    }

    fn period_d_ps(&self) -> Option<(i64, u64)> {
        Some((0, sys::monotonic_resolution_ns() * 1000))
    }
}

/// The unix monotonic clock (`CLOCK_MONOTONIC`).
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
        sys::monotonic_ns()
    }

    fn period_ns(&self) -> Option<u64> {
        Some(sys::monotonic_resolution_ns())
    }
}

/// The unix console: the process's standard output.
#[derive(Debug, Default, Clone, Copy)]
pub struct Console;

impl Console {
    /// The console.
    pub fn new() -> Self {
        Console
    }
}

impl crate::Console for Console {
    type Error = std::io::Error;

    async fn write(&self, data: &[u8]) -> Result<(), Self::Error> {
        sys::console_write(data)
    }
}

/// Where log lines go: standard output, one `write(2)` per line.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConsoleSink;

impl LogSink for ConsoleSink {
    fn write_str(&self, line: &str) {
        // Best effort, as a console is: a closed stdout loses the line.
        let _ = sys::console_write(line.as_bytes());
    }
}

/// The default reporter of this target.
pub type Reporter = DefaultReporter<Pclock, ConsoleSink>;

/// Makes the default reporter with `levels` and installs it as the `log`
/// crate's logger.
pub fn install_reporter(clock: &'static Pclock, levels: LogLevels) -> &'static Reporter {
    crate::reporter::install_default(clock, ConsoleSink, levels)
}

/// How many bytes of entropy seed the generator.
const SEED_BYTES: usize = 64;

/// The default random device: Fortuna seeded from `getrandom(2)`.
pub fn default_random() -> Result<crate::random::Rng, std::io::Error> {
    let mut seed = [0u8; SEED_BYTES];
    sys::fill_entropy(&mut seed)?;
    Ok(crate::random::Rng::from_seed_with_clock(
        &seed,
        sys::monotonic_ns,
    ))
}

/// The `rng` device: Fortuna seeded from `getrandom(2)`, its reseeds paced
/// by the monotonic clock.
pub fn rng(_mclock: &Mclock) -> Result<crate::random::Rng, std::io::Error> {
    default_random()
}

/// Where the runtime arguments come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Argv {
    /// The process's arguments.
    Default,
    /// None: every argument takes its default.
    None,
}

/// The executor's platform on unix: `CLOCK_MONOTONIC` and `ppoll(2)`.
#[derive(Debug, Default, Clone, Copy)]
pub struct UnixPlatform;

impl Platform for UnixPlatform {
    fn now_ns(&self) -> u64 {
        sys::monotonic_ns()
    }

    fn idle(&self, deadline_ns: Option<u64>) {
        sys::idle(deadline_ns)
    }

    fn stop_requested(&self) -> Option<i32> {
        sys::termination_requested()
    }

    /// The calling thread's `eventfd(2)`, which its `ppoll(2)` also waits
    /// on. Without a descriptor to spare (`EMFILE`), none: wakes from other
    /// threads then wait for the idle step to end for its own reasons.
    fn interrupter(&self) -> Option<Interrupter> {
        match sys::IdleInterrupter::for_current_thread() {
            Ok(event) => Some(Interrupter::new(move || event.interrupt())),
            Err(e) => {
                log::warn!(target: "rt", "no interrupter of the idle step ({e}): wakes from other threads may wait");
                None
            }
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        2 => "SIGINT",
        15 => "SIGTERM",
        _ => "a signal",
    }
}

fn exit(code: i32) -> ! {
    std::process::exit(code)
}

/// Runs the unikernel `name`: parses its runtime arguments from the
/// process's command line (printing `--help`, or an error and exiting 64,
/// also for an argument that is not UTF-8),
/// then runs `start` on the executor and exits with its result: 0 on
/// success, 1 if a device failed to connect or a job failed, 0 after a
/// clean stop on SIGINT or SIGTERM.
pub fn run<F, Fut>(name: &str, argv: Argv, specs: &'static [ArgSpec], start: F) -> !
where
    F: FnOnce(Parsed) -> Fut,
    Fut: Future<Output = Result<(), StartError>> + 'static,
{
    let words: Result<Vec<String>, ArgError> = match argv {
        Argv::Default => std::env::args_os()
            .skip(1)
            .map(|word| {
                word.into_string().map_err(|word| {
                    use std::os::unix::ffi::OsStrExt;
                    ArgError::not_utf8(word.as_bytes())
                })
            })
            .collect(),
        Argv::None => Ok(Vec::new()),
    };
    let parsed = match words.and_then(|words| args::parse(specs, words.iter().map(String::as_str)))
    {
        Ok(parsed) => parsed,
        Err(ArgError::Help) => {
            let _ = sys::console_write(args::help(name, specs).as_bytes());
            exit(0)
        }
        Err(error) => {
            let message =
                alloc::format!("{name}: {error}\nTry '{name} --help' for more information.\n");
            let _ = sys::console_write_stderr(message.as_bytes());
            exit(error.exit_code())
        }
    };
    if let Err(error) = sys::install_termination_handlers() {
        let message = alloc::format!("{name}: cannot install signal handlers: {error}\n");
        let _ = sys::console_write_stderr(message.as_bytes());
        exit(1)
    }
    let executor = Executor::new(UnixPlatform);
    match executor.block_on(start(parsed)) {
        Ok(Ok(())) => exit(0),
        Ok(Err(error)) => {
            let message = alloc::format!("{name}: {error}\n");
            let _ = sys::console_write_stderr(message.as_bytes());
            exit(1)
        }
        Err(Stopped { signal }) => {
            let message = alloc::format!("{name}: stopping on {}\n", signal_name(signal));
            let _ = sys::console_write_stderr(message.as_bytes());
            exit(0)
        }
    }
}

/// A block device backed by a host file (`block_of_file` on unix), of
/// 512-byte sectors; a trailing partial sector is not addressable.
#[derive(Debug)]
pub struct BlockFile {
    file: std::fs::File,
    info: crate::block::BlockInfo,
}

impl BlockFile {
    /// Sector size of file-backed devices.
    pub const SECTOR_SIZE: u32 = 512;

    /// Opens the file at `path` read-write (read-only if it is not
    /// writable).
    pub fn connect(path: &str) -> Result<Self, std::io::Error> {
        let (file, read_write) = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
        {
            Ok(file) => (file, true),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                (std::fs::File::open(path)?, false)
            }
            Err(e) => return Err(std::io::Error::new(e.kind(), alloc::format!("{path}: {e}"))),
        };
        Self::of_file(path, file, read_write)
    }

    /// Opens the file at `path` read-only: writes fail with
    /// [`BlockError::ReadOnly`](crate::block::BlockError::ReadOnly) (for
    /// images that must not change, such as docteur's).
    pub fn connect_read_only(path: &str) -> Result<Self, std::io::Error> {
        let file = std::fs::File::open(path)
            .map_err(|e| std::io::Error::new(e.kind(), alloc::format!("{path}: {e}")))?;
        Self::of_file(path, file, false)
    }

    fn of_file(path: &str, file: std::fs::File, read_write: bool) -> Result<Self, std::io::Error> {
        let len = file.metadata()?.len();
        if len < u64::from(Self::SECTOR_SIZE) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                alloc::format!("{path}: {len} bytes is less than one sector"),
            ));
        }
        Ok(BlockFile {
            file,
            info: crate::block::BlockInfo {
                sector_size: Self::SECTOR_SIZE,
                size_sectors: len / u64::from(Self::SECTOR_SIZE),
                read_write,
            },
        })
    }
}

impl crate::Block for BlockFile {
    fn info(&self) -> crate::block::BlockInfo {
        self.info
    }

    async fn read(&self, sector: u64, buf: &mut [u8]) -> Result<(), crate::block::BlockError> {
        use std::os::unix::fs::FileExt;
        crate::block::check_access(&self.info, sector, buf.len(), false)?;
        self.file
            .read_exact_at(buf, sector * u64::from(self.info.sector_size))
            .map_err(|e| crate::block::BlockError::Device(alloc::format!("read: {e}")))
    }

    async fn write(&self, sector: u64, data: &[u8]) -> Result<(), crate::block::BlockError> {
        use std::os::unix::fs::FileExt;
        crate::block::check_access(&self.info, sector, data.len(), true)?;
        self.file
            .write_all_at(data, sector * u64::from(self.info.sector_size))
            .map_err(|e| crate::block::BlockError::Device(alloc::format!("write: {e}")))
    }
}

#[cfg(test)]
mod block_tests {
    use super::*;
    use crate::block::{Block, BlockError};

    fn run<F: core::future::Future>(f: F) -> F::Output {
        crate::rt::now_or_never(f).expect("the device waited")
    }

    #[test]
    fn a_file_device_checks_bounds_alignment_and_writability() {
        let path =
            std::env::temp_dir().join(alloc::format!("mirage-blockfile-{}", std::process::id()));
        // Four sectors and a partial one, which is not addressable.
        std::fs::write(&path, alloc::vec![7u8; 4 * 512 + 100]).unwrap();
        let name = path.to_str().unwrap();
        let rw = BlockFile::connect(name).unwrap();
        assert_eq!(rw.info().size_sectors, 4);
        assert!(rw.info().read_write);
        run(async {
            let mut buf = alloc::vec![0u8; 1024];
            rw.write(2, &[1u8; 1024]).await.unwrap();
            rw.read(2, &mut buf).await.unwrap();
            assert_eq!(buf, [1u8; 1024]);
            assert!(matches!(
                rw.read(3, &mut buf).await,
                Err(BlockError::OutOfBounds { .. })
            ));
            assert!(matches!(
                rw.write(4, &buf[..512]).await,
                Err(BlockError::OutOfBounds { .. })
            ));
            assert!(matches!(
                rw.read(u64::MAX, &mut buf).await,
                Err(BlockError::OutOfBounds { .. })
            ));
            assert!(matches!(
                rw.read(0, &mut buf[..100]).await,
                Err(BlockError::Misaligned { .. })
            ));
            assert!(matches!(
                rw.write(0, &buf[..513]).await,
                Err(BlockError::Misaligned { .. })
            ));
        });
        let ro = BlockFile::connect_read_only(name).unwrap();
        assert!(!ro.info().read_write);
        run(async {
            let mut buf = alloc::vec![0u8; 512];
            ro.read(0, &mut buf).await.unwrap();
            assert_eq!(buf, [7u8; 512]);
            assert_eq!(ro.write(0, &buf).await, Err(BlockError::ReadOnly));
        });
        // The refused accesses changed nothing.
        let data = std::fs::read(&path).unwrap();
        assert_eq!(&data[..1024], &[7u8; 1024][..]);
        assert_eq!(data.len(), 4 * 512 + 100);
        std::fs::write(&path, [0u8; 100]).unwrap();
        assert!(BlockFile::connect(name).is_err(), "less than a sector");
        std::fs::remove_file(&path).unwrap();
        assert!(BlockFile::connect(name).is_err(), "missing");
    }
}

#[cfg(test)]
mod idle_tests {
    use super::*;
    use core::time::Duration;

    #[test]
    fn a_wake_from_another_thread_ends_the_unix_idle_step() {
        // No descriptor is registered and the only timer is 10 s away: only
        // the interrupter's eventfd can end the `ppoll` early.
        let ex = Executor::new(UnixPlatform);
        let took = crate::rt::tests::wait_for_a_remote_wake(&ex, Duration::from_millis(30))
            .expect("the 10 s timer ended the wait: the wake was not seen");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
}
