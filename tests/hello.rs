//! End-to-end tests of `examples/hello` on the unix target: the binary is
//! built once (in a separate target directory, so that it does not contend
//! for the lock of the cargo running these tests) and run as a child process.
//!
//! Every child is waited for with a deadline and killed when it expires, so
//! that a hung unikernel fails its test instead of hanging the suite.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The deadline of a run that should finish by itself quickly: a hang guard,
/// not a speed target.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// The exit code of argument errors (`EX_USAGE`).
const EX_USAGE: i32 = 64;

/// The root of the workspace (the root package's manifest directory).
fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `hello` binary, built once per test process.
fn hello_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let root = workspace_root();
        let target_dir = root.join("target").join("nested");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let started = Instant::now();
        let output = Command::new(&cargo)
            .args(["build", "-p", "hello", "--quiet"])
            .env("CARGO_TARGET_DIR", &target_dir)
            .current_dir(root)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cargo:?}: {e}"));
        assert!(
            output.status.success(),
            "`cargo build -p hello` failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        let binary = target_dir.join("debug").join("hello");
        assert!(binary.is_file(), "{} was not built", binary.display());
        eprintln!("built {} in {:?}", binary.display(), started.elapsed());
        binary
    })
}

/// How a child ended, with its output and resource use.
#[derive(Debug)]
struct Outcome {
    /// The exit code, if it exited.
    code: Option<i32>,
    /// The signal that killed it, if one did.
    signal: Option<i32>,
    stdout: String,
    stderr: String,
    /// From spawning to reaping.
    wall: Duration,
    /// The child's own CPU time (user + system), from `wait4(2)`.
    cpu: Duration,
}

impl Outcome {
    fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Asserts that the child exited with `code`.
    fn assert_code(&self, code: i32) {
        assert_eq!(
            (self.code, self.signal),
            (Some(code), None),
            "expected exit code {code}; outcome: {self:#?}"
        );
    }
}

/// A running `hello`: its stdout is read line by line by a thread (each
/// line is sent on `lines` as it arrives), its stderr by another.
struct Running {
    child: Child,
    pid: libc::pid_t,
    started: Instant,
    lines: Receiver<String>,
    stdout_reader: Option<JoinHandle<()>>,
    stderr_reader: Option<JoinHandle<String>>,
    /// Lines already taken from `lines` (by `next_line`).
    seen: Vec<String>,
    /// Whether the child has been reaped (its pid is then no longer ours).
    reaped: bool,
}

fn spawn(args: &[&str]) -> Running {
    let binary = hello_binary();
    let started = Instant::now();
    let mut child = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let (sender, lines) = mpsc::channel();
    let stdout_reader = thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        loop {
            let mut line = String::new();
            match stdout.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let stderr_reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    Running {
        child,
        pid,
        started,
        lines,
        stdout_reader: Some(stdout_reader),
        stderr_reader: Some(stderr_reader),
        seen: Vec::new(),
        reaped: false,
    }
}

impl Running {
    /// The next line on stdout (with its newline), waiting at most
    /// `timeout`; kills the child and fails the test when none comes.
    fn next_line(&mut self, timeout: Duration) -> String {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(RecvTimeoutError::Timeout) => {
                self.kill();
                panic!("no line on stdout within {timeout:?}");
            }
            Err(RecvTimeoutError::Disconnected) => {
                let outcome = self.finish(HANG_GUARD);
                panic!("stdout closed before a line came: {outcome:#?}");
            }
        }
    }

    /// Kills and reaps the child unless it was reaped (a failing test's
    /// cleanup).
    fn kill(&mut self) {
        if self.reaped {
            return;
        }
        // The pid is still our unreaped child's, so this cannot hit another
        // process.
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        let _ = self.child.wait();
        self.reaped = true;
    }

    /// Waits for the child to exit, at most `timeout` (else kills it and
    /// fails the test), reaping it with `wait4(2)` to read its CPU time,
    /// then collects its output.
    fn finish(&mut self, timeout: Duration) -> Outcome {
        let deadline = Instant::now() + timeout;
        let mut status: libc::c_int = 0;
        // SAFETY: `rusage` is plain old data; all-zero is a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: `status` and `usage` are valid, writable and live for
            // the call; `pid` is our unreaped child.
            let reaped = unsafe { libc::wait4(self.pid, &mut status, libc::WNOHANG, &mut usage) };
            if reaped == self.pid {
                self.reaped = true;
                break;
            }
            assert_eq!(
                reaped,
                0,
                "wait4({}) failed: {}",
                self.pid,
                std::io::Error::last_os_error()
            );
            if Instant::now() >= deadline {
                self.kill();
                panic!("hello (pid {}) did not exit within {timeout:?}", self.pid);
            }
            thread::sleep(Duration::from_millis(2));
        }
        let wall = self.started.elapsed();
        let cpu = timeval(usage.ru_utime) + timeval(usage.ru_stime);
        let (code, signal) = if libc::WIFEXITED(status) {
            (Some(libc::WEXITSTATUS(status)), None)
        } else if libc::WIFSIGNALED(status) {
            (None, Some(libc::WTERMSIG(status)))
        } else {
            (None, None)
        };
        // The child is gone, so both pipes reach end of file (nothing else
        // holds their write ends).
        if let Some(reader) = self.stdout_reader.take() {
            reader.join().expect("stdout reader");
        }
        let stderr = match self.stderr_reader.take() {
            Some(reader) => reader.join().expect("stderr reader"),
            None => String::new(),
        };
        let mut stdout: String = self.seen.concat();
        stdout.extend(self.lines.try_iter());
        Outcome {
            code,
            signal,
            stdout,
            stderr,
            wall,
            cpu,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that failed half-way leaves no process behind.
        self.kill();
    }
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
}

/// Runs `hello` with `args` to completion (under the hang guard).
fn run(args: &[&str]) -> Outcome {
    spawn(args).finish(HANG_GUARD)
}

/// Seconds since the epoch of a UTC civil date and time.
fn unix_seconds(year: i64, month: i64, day: i64, hour: i64, min: i64, sec: i64) -> i64 {
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hour * 3600 + min * 60 + sec
}

/// Parses an RFC 3339 timestamp of the exact form
/// `YYYY-MM-DDTHH:MM:SS-00:00` into seconds since the epoch.
fn parse_timestamp(ts: &str) -> Result<i64, String> {
    let b = ts.as_bytes();
    if b.len() != 25 {
        return Err(format!("timestamp {ts:?} is not 25 bytes long"));
    }
    for (i, &c) in b.iter().enumerate() {
        let ok = match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19..=24 => c == b"-00:00"[i - 19],
            _ => c.is_ascii_digit(),
        };
        if !ok {
            return Err(format!("timestamp {ts:?}: unexpected byte at {i}"));
        }
    }
    let num = |r: std::ops::Range<usize>| -> i64 { ts[r].parse().expect("digits") };
    let (year, month, day) = (num(0..4), num(5..7), num(8..10));
    let (hour, min, sec) = (num(11..13), num(14..16), num(17..19));
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => return Err(format!("timestamp {ts:?}: month out of range")),
    };
    if !(1..=days_in_month).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return Err(format!("timestamp {ts:?}: field out of range"));
    }
    Ok(unix_seconds(year, month, day, hour, min, sec))
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after the epoch")
        .as_secs() as i64
}

/// Asserts that `line` is exactly `<timestamp>: [INFO] [application]
/// <message>`, its timestamp between `from` and `to` (seconds since the
/// epoch, with one second of slack for truncation and rounding).
fn assert_log_line(line: &str, message: &str, from: i64, to: i64) {
    let (ts, rest) = line
        .split_once(": ")
        .unwrap_or_else(|| panic!("no ': ' in line {line:?}"));
    assert_eq!(
        rest,
        format!("[INFO] [application] {message}"),
        "line {line:?}"
    );
    let secs = parse_timestamp(ts).unwrap_or_else(|e| panic!("line {line:?}: {e}"));
    assert!(
        (from - 1..=to + 1).contains(&secs),
        "timestamp of {line:?} is not close to now ({secs} not in {from}..={to})"
    );
}

/// Runs `args` and asserts that it prints `message` exactly `count` times as
/// well-formed log lines, with nothing on stderr, and exits 0.
fn assert_prints(args: &[&str], message: &str, count: usize) -> Outcome {
    let from = now_unix();
    let outcome = run(args);
    let to = now_unix();
    outcome.assert_code(0);
    assert_eq!(outcome.stderr, "", "stderr of {args:?}");
    assert!(
        outcome.stdout.is_empty() || outcome.stdout.ends_with('\n'),
        "stdout of {args:?} does not end with a newline: {:?}",
        outcome.stdout
    );
    let lines = outcome.stdout_lines();
    assert_eq!(
        lines.len(),
        count,
        "stdout of {args:?}: {:?}",
        outcome.stdout
    );
    for line in lines {
        assert_log_line(line, message, from, to);
    }
    outcome
}

/// Runs `args`, which must be rejected: exit 64, nothing on stdout, and on
/// stderr `hello: <message>` (containing every one of `needles`) then the
/// `--help` hint.
fn assert_usage_error(args: &[&str], needles: &[&str]) {
    let outcome = run(args);
    outcome.assert_code(EX_USAGE);
    assert_eq!(outcome.stdout, "", "stdout of {args:?}");
    let mut lines = outcome.stderr.lines();
    let first = lines.next().unwrap_or("");
    assert!(
        first.starts_with("hello: "),
        "stderr of {args:?}: {:?}",
        outcome.stderr
    );
    for needle in needles {
        assert!(
            first.contains(needle),
            "stderr of {args:?} lacks {needle:?}: {:?}",
            outcome.stderr
        );
    }
    assert_eq!(
        lines.collect::<Vec<_>>(),
        ["Try 'hello --help' for more information."],
        "stderr of {args:?}: {:?}",
        outcome.stderr
    );
}

#[test]
fn default_message_three_times() {
    assert_prints(&["--count=3", "--interval-ms=50"], "Hello World!", 3);
}

#[test]
fn custom_message_with_equals() {
    assert_prints(
        &["--hello=Bonjour, monde", "--count=2", "--interval-ms=0"],
        "Bonjour, monde",
        2,
    );
}

#[test]
fn custom_message_as_next_word() {
    assert_prints(
        &["--hello", "Bonjour", "--count", "2", "--interval-ms", "0"],
        "Bonjour",
        2,
    );
}

#[test]
fn messages_are_spaced_by_the_interval() {
    let outcome = assert_prints(&["--count=3", "--interval-ms=200"], "Hello World!", 3);
    // Two intervals separate three messages: a lower bound on behaviour.
    assert!(
        outcome.wall >= Duration::from_millis(400),
        "3 messages 200 ms apart took only {:?}",
        outcome.wall
    );
}

#[test]
fn count_zero_prints_nothing() {
    assert_prints(&["--count=0"], "Hello World!", 0);
}

#[test]
fn logs_quiet_suppresses_the_messages() {
    assert_prints(
        &["--logs=quiet", "--count=2", "--interval-ms=0"],
        "Hello World!",
        0,
    );
}

#[test]
fn logs_application_error_suppresses_the_messages() {
    assert_prints(
        &["--logs=application:error", "--count=2", "--interval-ms=0"],
        "Hello World!",
        0,
    );
}

#[test]
fn logs_all_info_keeps_the_messages() {
    assert_prints(
        &["--logs=*:info", "--count=2", "--interval-ms=0"],
        "Hello World!",
        2,
    );
}

#[test]
fn logs_levels_are_per_source() {
    // The example, and a source-specific level that overrides `*`
    // either way.
    assert_prints(
        &["--logs=*:info,netif:debug", "--count=2", "--interval-ms=0"],
        "Hello World!",
        2,
    );
    assert_prints(
        &[
            "--logs=*:error,application:info",
            "--count=2",
            "--interval-ms=0",
        ],
        "Hello World!",
        2,
    );
    assert_prints(
        &[
            "--logs=*:debug,application:warning",
            "--count=2",
            "--interval-ms=0",
        ],
        "Hello World!",
        0,
    );
    assert_usage_error(&["--logs=netif:loud"], &["--logs", "netif:loud"]);
}

#[test]
fn help_lists_every_argument() {
    let outcome = run(&["--help"]);
    outcome.assert_code(0);
    assert_eq!(outcome.stderr, "", "stderr of --help");
    let help = &outcome.stdout;
    assert!(help.starts_with("Usage: hello [OPTIONS]\n"), "help: {help}");
    let row = |prefix: &str| -> &str {
        help.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} row in help:\n{help}"))
    };
    let logs = row("--logs=");
    assert!(logs.contains("[default: "), "logs row: {logs:?}");
    for (prefix, doc, default) in [
        (
            "--hello=STRING",
            "The message to print.",
            "[default: Hello World!]",
        ),
        ("--count=INT", "How many times to print it.", "[default: 4]"),
        (
            "--interval-ms=INT",
            "Milliseconds between two messages.",
            "[default: 1000]",
        ),
        ("--help", "Print this help and exit.", ""),
    ] {
        let line = row(prefix);
        assert!(
            line.contains(doc) && line.contains(default),
            "row {line:?} lacks {doc:?} or {default:?}"
        );
    }
    // `--help` wins over any other argument, even a bad one.
    let outcome = run(&["--count=abc", "--help"]);
    outcome.assert_code(0);
    assert!(outcome.stdout.starts_with("Usage: hello"), "{outcome:#?}");
}

#[test]
fn unknown_argument_is_rejected_with_a_suggestion() {
    assert_usage_error(
        &["--cuont=3"],
        &["unknown argument '--cuont'", "did you mean '--count'"],
    );
}

#[test]
fn malformed_value_is_rejected() {
    assert_usage_error(&["--count=abc"], &["'abc'", "--count"]);
}

#[test]
fn out_of_range_value_is_rejected() {
    assert_usage_error(&["--count=-1"], &["'-1'", "--count"]);
    assert_usage_error(&["--count=4294967296"], &["'4294967296'", "--count"]);
}

#[test]
fn missing_value_is_rejected() {
    assert_usage_error(&["--count"], &["missing value for --count"]);
    assert_usage_error(
        &["--count", "--interval-ms=0"],
        &["missing value for --count"],
    );
}

#[test]
fn duplicate_argument_is_rejected() {
    assert_usage_error(
        &["--count=1", "--count=2"],
        &["--count given more than once"],
    );
}

#[test]
fn positional_argument_is_rejected() {
    assert_usage_error(&["extra"], &["positional", "'extra'"]);
}

#[test]
fn argument_that_is_not_utf8_is_rejected() {
    use std::os::unix::ffi::OsStringExt;
    let output = Command::new(hello_binary())
        .arg(std::ffi::OsString::from_vec(b"--hello=caf\xe9".to_vec()))
        .stdin(Stdio::null())
        .output()
        .expect("run hello");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(EX_USAGE), "stderr: {stderr}");
    assert!(output.stdout.is_empty());
    assert_eq!(
        stderr,
        "hello: argument '--hello=caf\u{fffd}' is not valid UTF-8\n\
         Try 'hello --help' for more information.\n"
    );
}

#[test]
fn sleeping_does_not_burn_cpu() {
    let outcome = assert_prints(&["--count=3", "--interval-ms=500"], "Hello World!", 3);
    assert!(
        outcome.wall >= Duration::from_millis(1000),
        "slept only {:?}",
        outcome.wall
    );
    // A busy-waiting executor would use about as much CPU as wall time.
    let ratio = outcome.cpu.as_secs_f64() / outcome.wall.as_secs_f64();
    eprintln!(
        "hello: cpu {:?} over wall {:?} ({:.2}%)",
        outcome.cpu,
        outcome.wall,
        ratio * 100.0
    );
    assert!(
        ratio < 0.15,
        "hello used {:?} of CPU in {:?} ({:.1}%)",
        outcome.cpu,
        outcome.wall,
        ratio * 100.0
    );
}

/// Starts a long run, waits for its first message, sends `signal` and
/// checks that it stops cleanly, saying so.
fn assert_stops_on(signal: libc::c_int, name: &str) {
    let mut running = spawn(&["--count=1000", "--interval-ms=1000"]);
    let from = now_unix();
    let first = running.next_line(Duration::from_secs(10));
    assert_log_line(
        first.trim_end_matches('\n'),
        "Hello World!",
        from - 10,
        now_unix(),
    );
    let sent = Instant::now();
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our
    // live, unreaped child.
    let rc = unsafe { libc::kill(running.pid, signal) };
    assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    let outcome = running.finish(Duration::from_secs(5));
    let stopped_in = sent.elapsed();
    outcome.assert_code(0);
    assert!(
        outcome.stderr.contains(&format!("stopping on {name}")),
        "stderr after {name}: {:?}",
        outcome.stderr
    );
    // Stopped long before the thousand messages (at most one more may have
    // been printed between the first and the signal).
    let lines = outcome.stdout_lines();
    assert!(
        (1..=2).contains(&lines.len()),
        "stdout after {name}: {:?}",
        outcome.stdout
    );
    eprintln!("hello stopped {stopped_in:?} after {name}");
}

#[test]
fn stops_cleanly_on_sigterm() {
    assert_stops_on(libc::SIGTERM, "SIGTERM");
}

#[test]
fn stops_cleanly_on_sigint() {
    assert_stops_on(libc::SIGINT, "SIGINT");
}
