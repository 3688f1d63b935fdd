//! Runtime arguments of every type, end to end: declared in the build
//! script of tests/unikernels/args, turned into the generated entry point,
//! parsed when the unikernel starts on unix, and handed to the job, which
//! logs each value.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::text;

fn args(given: &[&str]) -> Output {
    let mut cmd = Command::new(common::build_example("args", "unix"));
    cmd.args(given);
    common::run_with_deadline(cmd, Duration::from_secs(60))
}

/// The `key=value` lines the job logged.
fn values(out: &Output) -> Vec<String> {
    common::assert_exit(out, 0);
    text(&out.stdout)
        .lines()
        .map(|l| {
            l.split_once(": [INFO] [application] ")
                .unwrap_or_else(|| panic!("not a log line: {l}"))
                .1
                .to_string()
        })
        .collect()
}

#[test]
fn defaults_and_optional_arguments() {
    assert_eq!(
        values(&args(&["--name=x"])),
        [
            "name=\"x\"",
            "count=-3",
            "big=18446744073709551615",
            "verbose=false",
            "ipv4=10.0.0.2",
            "ipv6=::1",
            "ip=None",
            "net4=10.0.0.2/24",
            "net6=fe80::1/64",
            "ports=[80, 443]",
            "gateway=None",
        ]
    );
}

#[test]
fn every_type_given() {
    let out = args(&[
        "--name",
        "a b",
        "--count=-0x10",
        "--big=0",
        "--verbose",
        "--ipv4=192.168.1.1",
        "--ipv6=2001:DB8::1",
        "--ip=10.1.1.1",
        "--net4=172.16.0.9/12",
        "--net6=2001:db8::7/48",
        "--ports=",
        "--gateway=10.0.0.1",
    ]);
    assert_eq!(
        values(&out),
        [
            "name=\"a b\"",
            "count=-16",
            "big=0",
            "verbose=true",
            "ipv4=192.168.1.1",
            "ipv6=2001:db8::1",
            "ip=Some(10.1.1.1)",
            "net4=172.16.0.9/12",
            "net6=2001:db8::7/48",
            "ports=[]",
            "gateway=Some(10.0.0.1)",
        ]
    );
    let out = args(&["--name=", "--verbose=no", "--ip=::", "--ports=1,65535"]);
    let v = values(&out);
    assert_eq!(v[0], "name=\"\"");
    assert_eq!(v[3], "verbose=false");
    assert_eq!(v[6], "ip=Some(::)");
    assert_eq!(v[9], "ports=[1, 65535]");
}

/// The argument error on stderr, after checking exit 64 and the hint.
fn usage_error(given: &[&str]) -> String {
    let out = args(given);
    assert_eq!(
        out.status.code(),
        Some(64),
        "{given:?}: {}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "", "{given:?}");
    let stderr = text(&out.stderr);
    let (first, hint) = stderr.split_once('\n').unwrap();
    assert_eq!(hint, "Try 'args --help' for more information.\n");
    first.to_string()
}

#[test]
fn required_unknown_and_malformed_arguments_stop_the_start() {
    assert_eq!(usage_error(&[]), "args: missing required argument --name");
    assert_eq!(
        usage_error(&["--verbose"]),
        "args: missing required argument --name"
    );
    assert_eq!(
        usage_error(&["--name=x", "--gatway=1.2.3.4"]),
        "args: unknown argument '--gatway' (did you mean '--gateway'?)"
    );
    for (arg, expected) in [
        ("--count=1.5", "an integer"),
        (
            "--count=2147483648",
            "an integer in the range -2147483648..=2147483647",
        ),
        (
            "--big=-1",
            "an integer in the range 0..=18446744073709551615",
        ),
        ("--verbose=maybe", "a boolean (true or false)"),
        ("--ipv4=10.0.0.256", "an IPv4 address"),
        ("--ipv6=1::2::3", "an IPv6 address"),
        ("--ip=localhost", "an IPv4 or IPv6 address"),
        (
            "--net4=10.0.0.2/33",
            "an IPv4 address with a prefix length (a.b.c.d/0-32)",
        ),
        ("--net6=fe80::1", "an IPv6 address with a prefix length"),
        ("--ports=80,http", "a comma-separated list of an integer"),
        ("--gateway=::1", "an IPv4 address"),
    ] {
        let (name, value) = arg.split_once('=').unwrap();
        let message = usage_error(&["--name=x", arg]);
        assert!(
            message.starts_with(&format!(
                "args: invalid value '{value}' for {name}: expected {expected}"
            )),
            "{arg}: {message}"
        );
    }
}

#[test]
fn help_lists_every_argument_with_its_doc() {
    let out = args(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    assert!(
        help.starts_with("Usage: args [OPTIONS] --name=STRING\n"),
        "{help}"
    );
    for row in [
        ("--name=STRING", "A required string. [required]"),
        ("--count=INT", "A signed integer. [default: -3]"),
        (
            "--big=INT",
            "An unsigned integer. [default: 18446744073709551615]",
        ),
        ("--verbose[=BOOL]", "A flag. [default: false]"),
        ("--ipv4=IPV4", "An IPv4 address. [default: 10.0.0.2]"),
        ("--ipv6=IPV6", "An IPv6 address. [default: ::1]"),
        ("--ip=IP", "An optional address of either kind. [optional]"),
        (
            "--net4=IPV4/PREFIX",
            "An IPv4 address with its prefix. [default: 10.0.0.2/24]",
        ),
        (
            "--net6=IPV6/PREFIX",
            "An IPv6 address with its prefix. [default: fe80::1/64]",
        ),
        ("--ports=INT,...", "A list. [default: 80,443]"),
        ("--gateway=IPV4", "An optional IPv4 address. [optional]"),
        ("--help", "Print this help and exit."),
    ] {
        assert!(
            help.lines().any(|l| {
                let l = l.trim_start();
                l.starts_with(row.0) && l.ends_with(row.1)
            }),
            "no row {row:?} in\n{help}"
        );
    }
}
