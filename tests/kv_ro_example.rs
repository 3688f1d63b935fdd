//! examples/kv-ro end to end: the same application over `direct` (a host
//! directory read at run time) and `crunch` (embedded at build time), on
//! unix, and over crunch under the spt tender and (where KVM runs SSE
//! guests) the hvt tender. Each run must list exactly the files of
//! examples/kv-ro/htdocs with their sizes and digests.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The lines a run must print, from the files themselves.
fn expected() -> Vec<String> {
    let root = common::workspace().join("examples/kv-ro/htdocs");
    let mut files = Vec::new();
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                let key = format!("/{}", path.strip_prefix(root).unwrap().display());
                out.push((key, std::fs::read(&path).unwrap()));
            }
        }
    }
    walk(&root, &root, &mut files);
    let mut lines: Vec<String> = files
        .iter()
        .map(|(key, data)| {
            let out = Command::new("sha256sum")
                .arg(root.join(&key[1..]))
                .output()
                .unwrap();
            let hex = String::from_utf8_lossy(&out.stdout)[..8].to_string();
            let text = std::str::from_utf8(data)
                .ok()
                .filter(|t| t.len() <= 80 && !t.contains('\n'))
                .map(|t| format!(" {t:?}"))
                .unwrap_or_default();
            format!("{key} {} bytes sha256:{hex}{text}", data.len())
        })
        .collect();
    lines.sort();
    let total: usize = files.iter().map(|(_, d)| d.len()).sum();
    lines.push(format!("{} files, {total} bytes", files.len()));
    lines
}

fn listed(stdout: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(stdout);
    let mut lines: Vec<String> = text
        .lines()
        .filter_map(|l| {
            l.split_once("[application] ")
                .map(|(_, rest)| rest.to_string())
        })
        .collect();
    let summary = lines.pop().expect("a summary line");
    lines.sort();
    lines.push(summary);
    lines
}

#[test]
fn direct_and_crunch_on_unix_list_the_same_files() {
    for keys in [
        vec![("MIRAGE_KV_RO", "direct")],
        vec![("MIRAGE_KV_RO", "crunch")],
    ] {
        let binary = common::build_example_with("kv-ro", "unix", &keys);
        let mut cmd = Command::new(binary);
        // Another working directory: the store does not depend on it.
        cmd.current_dir(std::env::temp_dir());
        let out = common::run_with_deadline(cmd, Duration::from_secs(30));
        assert!(
            out.status.success(),
            "{keys:?}: {}",
            common::text(&out.stderr)
        );
        assert_eq!(listed(&out.stdout), expected(), "{keys:?}");
    }
}

#[test]
fn crunch_under_spt_lists_the_same_files() {
    let out = common::under_tender("spt", "kv-ro", &[], &["--solo5:quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    assert_eq!(listed(&out.stdout), expected());
}

#[test]
fn builds_for_hvt_and_lists_the_same_files_where_kvm_runs_it() {
    // The image builds on every host; it runs where KVM runs SSE guests.
    common::build_example("kv-ro", "hvt");
    match mirage_tender::hvt::probe::probe_sse() {
        Ok(true) => {}
        Ok(false) => {
            return common::skipped(
                "kv-ro under hvt",
                "this host's KVM emulates guests and cannot run SSE instructions (see tests/solo5_hvt.rs)",
            );
        }
        Err(e) => {
            return common::skipped(
                "kv-ro under hvt",
                &format!("no usable KVM on this host: {e}"),
            );
        }
    }
    let out = common::under_tender("hvt", "kv-ro", &[], &["--solo5:quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    assert_eq!(listed(&out.stdout), expected());
}
