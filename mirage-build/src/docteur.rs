//! `docteur`'s image maker: a directory or a local git repository turned,
//! at build time, into the image `mirage::kv::docteur::Docteur` serves,
//! with the `git` command.
//!
//! The image is docteur's layout (see `mirage::kv::docteur`): the root
//! commit's id, the little-endian offset of the pack index, the PACK file
//! of every object reachable from the commit (`git pack-objects --revs`,
//! deltas searched with `--window=250 --depth=50`), zero padding to 512
//! bytes, the pack's `.idx`, zero padding to 512 bytes.
//!
//! A git repository (a directory holding `.git`, or a bare repository)
//! gives the commit at `branch` (default `HEAD`). Any other directory is
//! committed first into a temporary bare repository beside the image
//! (every file, ignore rules ignored; empty directories cannot be stored in
//! git), dated with `SOURCE_DATE_EPOCH` if set, else the newest file's
//! modification time, so the same files give the same image.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What making an image read, for `rerun-if-changed`.
#[derive(Debug, Clone, Default)]
pub struct Made {
    /// Files and directories whose change changes the image.
    pub inputs: Vec<PathBuf>,
}

/// Runs `git` with `args` (and `stdin`), with no user or system
/// configuration; returns its standard output.
fn git(args: &[&str], env: &[(&str, String)], stdin: Option<&str>) -> Result<Vec<u8>, String> {
    let mut cmd = Command::new("git");
    cmd.args(["-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run git (is it installed?): {e}"))?;
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        use std::io::Write as _;
        input
            .write_all(text.as_bytes())
            .map_err(|e| format!("git {}: {e}", args.join(" ")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("git {}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).trim().to_string()
}

/// The git directory of `source` if it is a repository.
fn git_dir(source: &Path) -> Option<PathBuf> {
    let dot = source.join(".git");
    if dot.exists() {
        return Some(dot);
    }
    (source.join("HEAD").is_file() && source.join("objects").is_dir()).then(|| source.to_path_buf())
}

/// Every file and directory below `dir`, and the newest modification
/// time (seconds) among the files.
fn walk(dir: &Path) -> Result<(Vec<PathBuf>, u64), String> {
    let mut inputs = vec![dir.to_path_buf()];
    let mut newest = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| format!("{}: {e}", d.display()))?.path();
            let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if meta.is_dir() {
                todo.push(path.clone());
            } else if let Ok(t) = meta.modified() {
                let s = t
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                newest = newest.max(s);
            }
            inputs.push(path);
        }
    }
    Ok((inputs, newest))
}

/// Makes the image of `source` (a directory or a repository, see the
/// module documentation) at `output`.
pub fn make_image(source: &Path, branch: Option<&str>, output: &Path) -> Result<Made, String> {
    let source = source
        .canonicalize()
        .map_err(|e| format!("{}: {e}", source.display()))?;
    if !source.is_dir() {
        return Err(format!("{}: not a directory", source.display()));
    }
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let work = output.with_extension("docteur-tmp");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let result = make_in(&source, branch, output, &work);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn make_in(
    source: &Path,
    branch: Option<&str>,
    output: &Path,
    work: &Path,
) -> Result<Made, String> {
    let (repo, rev, inputs) = match git_dir(source) {
        Some(dir) => {
            let inputs = ["HEAD", "refs", "packed-refs"]
                .iter()
                .map(|f| dir.join(f))
                .filter(|p| p.exists())
                .collect();
            (dir, branch.unwrap_or("HEAD").to_string(), inputs)
        }
        None => {
            let (inputs, newest) = walk(source)?;
            let date = std::env::var("SOURCE_DATE_EPOCH").unwrap_or_else(|_| newest.to_string());
            let repo = work.join("repo.git");
            let repo_s = repo.to_string_lossy().to_string();
            let src_s = source.to_string_lossy().to_string();
            git(&["init", "-q", "--bare", &repo_s], &[], None)?;
            let tree = ["-C", &src_s, "--git-dir", &repo_s, "--work-tree", &src_s];
            git(&[&tree[..], &["add", "-A", "-f", "."]].concat(), &[], None)?;
            let env = [
                ("GIT_AUTHOR_NAME", "docteur".to_string()),
                ("GIT_AUTHOR_EMAIL", "docteur@localhost".to_string()),
                ("GIT_COMMITTER_NAME", "docteur".to_string()),
                ("GIT_COMMITTER_EMAIL", "docteur@localhost".to_string()),
                ("GIT_AUTHOR_DATE", format!("@{date} +0000")),
                ("GIT_COMMITTER_DATE", format!("@{date} +0000")),
            ];
            git(
                &[
                    &tree[..],
                    &["commit", "-q", "--allow-empty", "-m", "docteur image"],
                ]
                .concat(),
                &env,
                None,
            )?;
            (repo, "HEAD".to_string(), inputs)
        }
    };
    let repo_s = repo.to_string_lossy().to_string();
    let commit = text(git(
        &[
            "--git-dir",
            &repo_s,
            "rev-parse",
            "--verify",
            &format!("{rev}^{{commit}}"),
        ],
        &[],
        None,
    )?);
    let base = work.join("pack");
    let hash = text(git(
        &[
            "--git-dir",
            &repo_s,
            "pack-objects",
            "-q",
            "--revs",
            "--window=250",
            "--depth=50",
            &base.to_string_lossy(),
        ],
        &[],
        Some(&format!("{commit}\n")),
    )?);
    let read = |ext: &str| {
        let path = PathBuf::from(format!("{}-{hash}.{ext}", base.display()));
        std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
    };
    let (pack, idx) = (read("pack")?, read("idx")?);
    let root = (0..20)
        .map(|i| u8::from_str_radix(commit.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| format!("git gave a malformed commit id {commit:?}"))?;
    let idx_at = (28 + pack.len()).next_multiple_of(512);
    let mut image = root;
    image.extend_from_slice(&(idx_at as u64).to_le_bytes());
    image.extend_from_slice(&pack);
    image.resize(idx_at, 0);
    image.extend_from_slice(&idx);
    image.resize(image.len().next_multiple_of(512), 0);
    std::fs::write(output, &image).map_err(|e| format!("{}: {e}", output.display()))?;
    Ok(Made { inputs })
}
