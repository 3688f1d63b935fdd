//! Network namespaces with a tap interface, for tests that talk to a
//! unikernel through the Linux kernel's stack: each namespace has a unique
//! name and is removed, with every process started in it, when dropped
//! (also when the test fails).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// Why namespaced tests cannot run here, if they cannot.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (network namespaces and tap devices)".into());
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing".into());
    }
    for tool in ["ip", "ping"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !found {
            return Some(format!("`{tool}` is not installed (.ci/setup installs it)"));
        }
    }
    None
}

/// A namespace holding the tap `tap0`, with the host's side addressed
/// `10.0.0.1/24` and `fd00::1/64`.
pub struct Netns {
    /// The namespace's name.
    pub name: String,
    children: Vec<Child>,
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Netns {
    /// A new namespace named after `tag` (unique per process and call),
    /// holding `tap0`.
    pub fn new(tag: &str) -> Netns {
        let ns = Netns::bare(tag);
        ns.exec(&["ip", "tuntap", "add", "dev", "tap0", "mode", "tap"]);
        ns.host_addresses("tap0");
        ns.exec(&["ip", "link", "set", "tap0", "up"]);
        ns
    }

    /// A new namespace named after `tag` with only its loopback (up).
    fn bare(tag: &str) -> Netns {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "mirage-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        run(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns {
            name,
            children: Vec::new(),
        };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// A second namespace, for a Linux host one hop away from the tap:
    /// joined to this one by a veth pair (`r0` here, addressed 10.1.0.1/24
    /// and fd01::1/64; `h0` there, 10.1.0.2/24 and fd01::2/64, its default
    /// routes through this namespace), and this namespace forwarding
    /// between `tap0` and `r0` (a unikernel on the tap reaches the host
    /// with this namespace's tap addresses as its gateways). The new
    /// namespace is removed when dropped, like this one.
    pub fn routed_host(&self, tag: &str) -> Netns {
        let host = Netns::bare(tag);
        run(Command::new("ip").args([
            "link", "add", "r0", "netns", &self.name, "type", "veth", "peer", "name", "h0",
            "netns", &host.name,
        ]));
        self.addresses("r0", "10.1.0.1/24", "fd01::1/64");
        self.exec(&["ip", "link", "set", "r0", "up"]);
        host.addresses("h0", "10.1.0.2/24", "fd01::2/64");
        host.exec(&["ip", "link", "set", "h0", "up"]);
        host.exec(&["ip", "route", "add", "default", "via", "10.1.0.1"]);
        host.exec(&["ip", "-6", "route", "add", "default", "via", "fd01::1"]);
        // (`sysctl` may be missing; /proc/sys/net is the namespace's.)
        self.exec(&[
            "sh",
            "-c",
            "echo 1 > /proc/sys/net/ipv4/ip_forward && \
             echo 1 > /proc/sys/net/ipv6/conf/all/forwarding",
        ]);
        host
    }

    /// Gives `dev` the host's addresses on the test link, 10.0.0.1/24 and
    /// fd00::1/64 (without DAD).
    pub fn host_addresses(&self, dev: &str) {
        self.addresses(dev, "10.0.0.1/24", "fd00::1/64");
    }

    /// Gives `dev` the addresses `v4` and `v6` (without DAD).
    fn addresses(&self, dev: &str, v4: &str, v6: &str) {
        self.exec(&["ip", "addr", "add", v4, "dev", dev]);
        self.exec(&["ip", "-6", "addr", "add", v6, "dev", dev, "nodad"]);
    }

    /// A command run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs `args` in the namespace; fails the test if it fails.
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args[0]);
        cmd.args(&args[1..]);
        run(&mut cmd)
    }

    /// Runs `args` in the namespace and returns its output, whatever its
    /// status.
    pub fn try_exec(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args[0]);
        cmd.args(&args[1..]);
        cmd.output().expect("command runs")
    }

    /// Starts `cmd` (made by [`Netns::command`]); the namespace kills it
    /// when dropped. Its output lines (stdout and stderr) arrive on the
    /// returned channel.
    pub fn spawn(&mut self, mut cmd: Command) -> Lines {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn in the namespace");
        let (tx, rx) = channel();
        for out in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        self.children.push(child);
        Lines {
            rx,
            seen: Vec::new(),
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Anything else still running in the namespace.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// The output lines of a process started in a namespace.
pub struct Lines {
    rx: Receiver<String>,
    /// Every line received so far.
    pub seen: Vec<String>,
}

impl Lines {
    /// Waits up to `limit` for a line containing `needle`; the line.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) -> Option<String> {
        if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
            return Some(line.clone());
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Waits up to `limit` until `n` lines contain `needle`; how many do.
    pub fn wait_for_count(&mut self, needle: &str, n: usize, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let count = self.seen.iter().filter(|l| l.contains(needle)).count();
            if count >= n {
                return count;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return count;
            };
            match self.rx.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => return count,
            }
        }
    }

    /// Everything received so far, for failure messages.
    pub fn dump(&mut self) -> String {
        while let Ok(line) = self.rx.try_recv() {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }
}
