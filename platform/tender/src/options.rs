//! The tenders' command line, parsed in Solo5's two passes (SOLO5-ABI.md
//! 2.6): the first pass finds KERNEL (and `--help`/`--version`) without
//! knowing the unikernel; the second reads the options against the
//! unikernel's manifest.
//!
//! ```text
//! mirage-spt [ --mem=MiB ] [ --net:NAME=IFACE ] [ --net-mac:NAME=MAC ]
//!            [ --block:NAME=PATH ] [ --block-sector-size:NAME=N ]
//!            [ --x-exec-heap ] [ -- ] KERNEL [ ARGS ]
//! ```

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use solo5_abi::manifest::{DeviceKind, Manifest, valid_name};
use solo5_abi::note::AbiTarget;

use crate::error::{Result, TenderError};

/// The least guest memory, in MiB, of both tenders.
pub const MIN_MEM_MIB: u64 = 2;
/// The most guest memory, in MiB, of the hvt tender (4 PDs of 2 MiB pages).
pub const HVT_MAX_MEM_MIB: u64 = solo5_abi::hvt::MAX_MEM_SIZE >> 20;
/// The most guest memory, in MiB, of the spt tender (1 TiB: far below the
/// PIE tender, which Linux loads at 0x55..., well above any guest).
pub const SPT_MAX_MEM_MIB: u64 = 1 << 20;
/// The largest block size: the manifest stores it in 16 bits.
pub const MAX_BLOCK_SIZE: u64 = 32768;
/// The default block size.
pub const DEFAULT_BLOCK_SIZE: u64 = 512;

/// What the first pass found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `--help` before KERNEL: print usage, exit 1 (as Solo5).
    Help,
    /// `--version` before KERNEL: print the version, exit 0.
    Version,
    /// Run KERNEL.
    Run(Invocation),
}

/// The command line split around KERNEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The unikernel file.
    pub kernel: PathBuf,
    /// The options before KERNEL (without a `--` separator).
    pub tender_args: Vec<String>,
    /// The arguments after KERNEL: the guest's command line, as the bytes
    /// they are (the guest decides what to make of bytes that are not UTF-8).
    pub guest_args: Vec<OsString>,
}

/// First pass (Solo5's `main`): the first argument not starting with `-`,
/// or the one after `--`, is KERNEL; `--help` and `--version` before it
/// stop the scan. `args` excludes the program name (`std::env::args_os`,
/// so that no argument's bytes make the tender fail): an option that is not
/// UTF-8 is an invalid option; KERNEL and the guest's arguments are taken
/// as they are.
pub fn split_command_line(args: &[OsString]) -> Result<Command> {
    let mut i = 0;
    while i < args.len() && args[i].as_bytes().starts_with(b"-") {
        match args[i].as_bytes() {
            b"--" => {
                i += 1;
                break;
            }
            b"--help" => return Ok(Command::Help),
            b"--version" => return Ok(Command::Version),
            _ => i += 1,
        }
    }
    let Some(kernel) = args.get(i) else {
        return Err(TenderError::MissingKernel);
    };
    let tender_args = args[..i]
        .iter()
        .filter(|a| a.as_os_str() != OsStr::new("--"))
        .map(|a| {
            a.to_str()
                .map(str::to_string)
                .ok_or_else(|| TenderError::InvalidOption(a.to_string_lossy().into_owned()))
        })
        .collect::<Result<Vec<String>>>()?;
    Ok(Command::Run(Invocation {
        kernel: PathBuf::from(kernel),
        tender_args,
        guest_args: args[i + 1..].to_vec(),
    }))
}

/// `--net:NAME=IFACE` (and `--net-mac:NAME=MAC`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetOption {
    /// The manifest name.
    pub name: String,
    /// The tap interface.
    pub iface: String,
    /// The guest's MAC address; random if not given.
    pub mac: Option<[u8; 6]>,
}

/// `--block:NAME=PATH` (and `--block-sector-size:NAME=N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOption {
    /// The manifest name.
    pub name: String,
    /// The backing file or device.
    pub path: PathBuf,
    /// The block size in bytes (default 512).
    pub sector_size: u64,
}

/// The options of the second pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Guest memory in bytes, from `--mem=MiB`; the tender's default if
    /// `None`.
    pub mem_size: Option<u64>,
    /// Network devices, in command-line order.
    pub nets: Vec<NetOption>,
    /// Block devices, in command-line order.
    pub blocks: Vec<BlockOption>,
    /// `--x-exec-heap` (spt only): heap and stack executable.
    pub x_exec_heap: bool,
}

/// Splits `--prefix:NAME=VALUE` after the prefix: NAME must be
/// `[A-Za-z0-9]{1,67}`.
fn name_value<'a>(arg: &'a str, rest: &'a str) -> Result<(&'a str, &'a str)> {
    match rest.split_once('=') {
        Some((name, value)) if valid_name(name) && !value.is_empty() => Ok((name, value)),
        _ => Err(TenderError::MalformedDeviceOption(arg.to_string())),
    }
}

fn declared(manifest: &Manifest<'_>, name: &str, kind: DeviceKind) -> Result<()> {
    match manifest.find(name, kind) {
        Some(_) => Ok(()),
        None => Err(TenderError::NotDeclared {
            name: name.to_string(),
            kind: kind.name(),
        }),
    }
}

fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for byte in mac.iter_mut() {
        let p = parts
            .next()
            .filter(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| TenderError::MalformedMac(s.to_string()))?;
        *byte = u8::from_str_radix(p, 16).map_err(|_| TenderError::MalformedMac(s.to_string()))?;
    }
    if parts.next().is_some() {
        return Err(TenderError::MalformedMac(s.to_string()));
    }
    if mac[0] & 1 != 0 || mac == [0; 6] {
        return Err(TenderError::BadMac(s.to_string()));
    }
    Ok(mac)
}

fn parse_mem(arg: &str, value: &str, tender: AbiTarget) -> Result<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TenderError::MalformedMem(arg.to_string()));
    }
    let max_mib = match tender {
        AbiTarget::Hvt => HVT_MAX_MEM_MIB,
        _ => SPT_MAX_MEM_MIB,
    };
    let out_of_range = |mib| TenderError::MemOutOfRange {
        mib,
        min_mib: MIN_MEM_MIB,
        max_mib,
    };
    let mib: u64 = value.parse().map_err(|_| out_of_range(u64::MAX))?;
    if !(MIN_MEM_MIB..=max_mib).contains(&mib) {
        return Err(out_of_range(mib));
    }
    Ok(mib << 20)
}

/// Second pass: reads the options before KERNEL against the unikernel's
/// manifest. Device names must be declared there with the option's type;
/// `--x-exec-heap` exists for spt only; anything else is an invalid option.
pub fn parse_options(
    tender_args: &[String],
    manifest: &Manifest<'_>,
    tender: AbiTarget,
) -> Result<Options> {
    let mut options = Options::default();
    let mut sector_sizes: Vec<(String, u64)> = Vec::new();
    let mut macs: Vec<(String, [u8; 6])> = Vec::new();
    for arg in tender_args {
        let a = arg.as_str();
        if let Some(value) = a.strip_prefix("--mem=") {
            options.mem_size = Some(parse_mem(a, value, tender)?);
        } else if let Some(rest) = a.strip_prefix("--net:") {
            let (name, iface) = name_value(a, rest)?;
            declared(manifest, name, DeviceKind::Net)?;
            if options.nets.iter().any(|n| n.name == name) {
                return Err(TenderError::DuplicateDevice {
                    option: arg.clone(),
                });
            }
            options.nets.push(NetOption {
                name: name.to_string(),
                iface: iface.to_string(),
                mac: None,
            });
        } else if let Some(rest) = a.strip_prefix("--net-mac:") {
            let (name, mac) = name_value(a, rest)?;
            declared(manifest, name, DeviceKind::Net)?;
            let mac = parse_mac(mac)?;
            macs.retain(|(n, _)| n != name);
            macs.push((name.to_string(), mac));
        } else if let Some(rest) = a.strip_prefix("--block:") {
            let (name, path) = name_value(a, rest)?;
            declared(manifest, name, DeviceKind::Block)?;
            if options.blocks.iter().any(|b| b.name == name) {
                return Err(TenderError::DuplicateDevice {
                    option: arg.clone(),
                });
            }
            options.blocks.push(BlockOption {
                name: name.to_string(),
                path: PathBuf::from(path),
                sector_size: DEFAULT_BLOCK_SIZE,
            });
        } else if let Some(rest) = a.strip_prefix("--block-sector-size:") {
            let (name, size) = name_value(a, rest)?;
            let bad = || TenderError::BadSectorSize(arg.clone());
            if !size.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let size: u64 = size.parse().map_err(|_| bad())?;
            if !size.is_power_of_two() || !(DEFAULT_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&size) {
                return Err(bad());
            }
            declared(manifest, name, DeviceKind::Block)?;
            sector_sizes.retain(|(n, _)| n != name);
            sector_sizes.push((name.to_string(), size));
        } else if a == "--x-exec-heap" && tender == AbiTarget::Spt {
            options.x_exec_heap = true;
        } else {
            return Err(TenderError::InvalidOption(arg.clone()));
        }
    }
    // Solo5 applies these to the device's manifest entry whatever the
    // order; one given for a device not attached has no effect.
    for (name, size) in sector_sizes {
        if let Some(b) = options.blocks.iter_mut().find(|b| b.name == name) {
            b.sector_size = size;
        }
    }
    for (name, mac) in macs {
        if let Some(n) = options.nets.iter_mut().find(|n| n.name == name) {
            n.mac = Some(mac);
        }
    }
    Ok(options)
}

/// The guest's command line: the arguments after KERNEL joined by single
/// spaces, NUL-terminated; at most `CMDLINE_SIZE` bytes, NUL included.
pub fn cmdline(guest_args: &[OsString]) -> Result<Vec<u8>> {
    let mut line = guest_args.join(OsStr::new(" ")).into_vec();
    if line.len() >= solo5_abi::CMDLINE_SIZE {
        return Err(TenderError::CmdlineTooLong { len: line.len() });
    }
    line.push(0);
    Ok(line)
}

/// The usage text, in Solo5's form, for the `hvt` or `spt` tender.
pub fn usage(tender: AbiTarget) -> String {
    let prog = format!("mirage-{}", tender.name());
    let mut u = format!(
        "usage: {prog} [ CORE OPTIONS ] [ MODULE OPTIONS ] [ -- ] KERNEL [ ARGS ]\n\
         KERNEL is the filename of the unikernel to run.\n\
         ARGS are optional arguments passed to the unikernel.\n\
         Core options:\n  \
         [ --mem=512 ] (guest memory in MB)\n    \
         --help (display this help)\n    \
         --version (display version information)\n"
    );
    if tender == AbiTarget::Spt {
        u.push_str("Compiled-in modules: core net block");
    } else {
        u.push_str("Compiled-in modules: net block");
    }
    u.push_str(
        "\nCompiled-in module options:\n    \
         --net:NAME=IFACE (attach tap at IFACE as network NAME)\n    \
         [ --net-mac:NAME=HWADDR ] (set HWADDR for network NAME)\n    \
         --block:NAME=PATH (attach block device/file at PATH as block storage NAME)\n    \
         [ --block-sector-size:NAME=SECTORSIZE ] (set sector size for block device NAME; \
         must be a power of two greater than or equal 512)\n",
    );
    if tender == AbiTarget::Spt {
        u.push_str(
            "    --x-exec-heap (make the heap executable). WARNING: This option is dangerous \
             and not recommended as it makes the heap and stack executable.\n",
        );
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;
    use solo5_abi::manifest::write_manifest;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn first_pass_finds_the_kernel() {
        assert_eq!(
            split_command_line(&os(&["--mem=2", "k.spt", "a", "--b"])).unwrap(),
            Command::Run(Invocation {
                kernel: "k.spt".into(),
                tender_args: s(&["--mem=2"]),
                guest_args: os(&["a", "--b"]),
            })
        );
        assert_eq!(
            split_command_line(&os(&["--mem=2", "--", "-k", "--help"])).unwrap(),
            Command::Run(Invocation {
                kernel: "-k".into(),
                tender_args: s(&["--mem=2"]),
                guest_args: os(&["--help"]),
            })
        );
        assert_eq!(
            split_command_line(&os(&["--x", "--help", "k"])).unwrap(),
            Command::Help
        );
        assert_eq!(
            split_command_line(&os(&["--version"])).unwrap(),
            Command::Version
        );
        assert!(matches!(
            split_command_line(&os(&["--mem=2"])),
            Err(TenderError::MissingKernel)
        ));
        assert!(matches!(
            split_command_line(&os(&["--mem=2", "--"])),
            Err(TenderError::MissingKernel)
        ));
        // An option that is not UTF-8 is invalid; the guest's bytes are kept.
        let bad = OsString::from_vec(b"--mem=\xff".to_vec());
        assert!(matches!(
            split_command_line(&[bad.clone(), "k".into()]),
            Err(TenderError::InvalidOption(o)) if o == "--mem=\u{fffd}"
        ));
        assert_eq!(
            split_command_line(&["k".into(), bad.clone()]).unwrap(),
            Command::Run(Invocation {
                kernel: "k".into(),
                tender_args: Vec::new(),
                guest_args: vec![bad],
            })
        );
    }

    #[test]
    fn second_pass_checks_the_manifest() {
        let mut buf = [0u8; 1024];
        let n = write_manifest(
            &[("net0", DeviceKind::Net), ("disk", DeviceKind::Block)],
            &mut buf,
        )
        .unwrap();
        let m = Manifest::validate(&buf[..n]).unwrap();
        let o = parse_options(
            &s(&[
                "--block-sector-size:disk=4096",
                "--mem=16",
                "--net:net0=tap0",
                "--net-mac:net0=02:00:00:00:00:AB",
                "--block:disk=/tmp/x",
                "--x-exec-heap",
            ]),
            &m,
            AbiTarget::Spt,
        )
        .unwrap();
        assert_eq!(o.mem_size, Some(16 << 20));
        assert_eq!(o.nets[0].mac, Some([2, 0, 0, 0, 0, 0xab]));
        assert_eq!(o.nets[0].iface, "tap0");
        assert_eq!(o.blocks[0].sector_size, 4096);
        assert!(o.x_exec_heap);

        let err = |args: &[&str], t| parse_options(&s(args), &m, t).unwrap_err();
        let spt = AbiTarget::Spt;
        assert!(matches!(
            err(&["--mem=0"], spt),
            TenderError::MemOutOfRange { .. }
        ));
        assert!(matches!(
            err(&["--mem=1"], spt),
            TenderError::MemOutOfRange { .. }
        ));
        assert!(matches!(
            err(&["--mem=x"], spt),
            TenderError::MalformedMem(_)
        ));
        assert!(matches!(
            err(&["--mem="], spt),
            TenderError::MalformedMem(_)
        ));
        assert!(matches!(
            err(&["--mem=-5"], spt),
            TenderError::MalformedMem(_)
        ));
        assert!(matches!(
            err(&["--mem=99999999999999999999999"], spt),
            TenderError::MemOutOfRange { .. }
        ));
        assert!(matches!(
            err(&["--mem=4097"], AbiTarget::Hvt),
            TenderError::MemOutOfRange { .. }
        ));
        assert!(parse_options(&s(&["--mem=4096"]), &m, AbiTarget::Hvt).is_ok());
        assert!(matches!(
            err(&["--x-exec-heap"], AbiTarget::Hvt),
            TenderError::InvalidOption(_)
        ));
        assert!(matches!(
            err(&["--foo"], spt),
            TenderError::InvalidOption(_)
        ));
        assert!(matches!(
            err(&["--net:disk=tap0"], spt),
            TenderError::NotDeclared { .. }
        ));
        assert!(matches!(
            err(&["--block:nope=/x"], spt),
            TenderError::NotDeclared { .. }
        ));
        assert!(matches!(
            err(&["--block:di-sk=/x"], spt),
            TenderError::MalformedDeviceOption(_)
        ));
        assert!(matches!(
            err(&["--block:disk"], spt),
            TenderError::MalformedDeviceOption(_)
        ));
        assert!(matches!(
            err(&["--block:disk=/a", "--block:disk=/b"], spt),
            TenderError::DuplicateDevice { .. }
        ));
        for bad in ["1000", "256", "65536", "0", "x", "-512"] {
            let arg = format!("--block-sector-size:disk={bad}");
            assert!(
                matches!(err(&[&arg], spt), TenderError::BadSectorSize(_)),
                "{bad}"
            );
        }
        for bad in [
            "02:00:00:00:00",
            "02:00:00:00:00:00:00",
            "2:0:0:0:0:0",
            "zz:00:00:00:00:00",
        ] {
            let arg = format!("--net-mac:net0={bad}");
            assert!(
                matches!(err(&[&arg], spt), TenderError::MalformedMac(_)),
                "{bad}"
            );
        }
        assert!(matches!(
            err(&["--net-mac:net0=01:00:00:00:00:00"], spt),
            TenderError::BadMac(_)
        ));
    }

    #[test]
    fn cmdline_is_joined_and_bounded() {
        assert_eq!(cmdline(&os(&["a", "b  c"])).unwrap(), b"a b  c\0");
        assert_eq!(cmdline(&[]).unwrap(), b"\0");
        // Bytes that are not UTF-8 pass through unchanged.
        let raw = OsString::from_vec(b"--x=\xff".to_vec());
        assert_eq!(cmdline(&[raw]).unwrap(), b"--x=\xff\0");
        let long = OsString::from("x".repeat(8191));
        assert_eq!(cmdline(std::slice::from_ref(&long)).unwrap().len(), 8192);
        assert!(matches!(
            cmdline(&[long, OsString::new()]),
            Err(TenderError::CmdlineTooLong { len: 8192 })
        ));
    }

    #[test]
    fn usage_names_the_options() {
        assert!(usage(AbiTarget::Spt).contains("--x-exec-heap"));
        assert!(!usage(AbiTarget::Hvt).contains("--x-exec-heap"));
        assert!(usage(AbiTarget::Hvt).starts_with("usage: mirage-hvt "));
    }
}
