//! The git objects docteur reads, without I/O: a commit's tree and time,
//! and a tree's entries.

use alloc::string::String;
use alloc::vec::Vec;

use super::pack::{ID_LEN, Id, PackError};
use crate::kv::Kind;

/// Parses 40 hexadecimal digits.
fn hex_id(text: &[u8]) -> Option<Id> {
    if text.len() != 2 * ID_LEN {
        return None;
    }
    let mut id = [0; ID_LEN];
    for (i, pair) in text.chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        id[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(id)
}

/// What docteur needs of a commit: its tree and its committer time (in
/// seconds since the epoch).
pub(crate) fn parse_commit(data: &[u8]) -> Result<(Id, i64), PackError> {
    let mut tree = None;
    let mut time = 0;
    for line in data.split(|&b| b == b'\n') {
        if line.is_empty() {
            break; // the message follows
        }
        if let Some(rest) = line.strip_prefix(b"tree ") {
            tree = Some(hex_id(rest).ok_or(PackError("commit with a malformed tree line"))?);
        } else if let Some(rest) = line.strip_prefix(b"committer ") {
            // `NAME <EMAIL> SECONDS TIMEZONE`
            let after = rest
                .iter()
                .rposition(|&b| b == b'>')
                .map_or(rest, |i| &rest[i + 1..]);
            let seconds = after
                .split(|&b| b == b' ')
                .find(|f| !f.is_empty())
                .and_then(|f| core::str::from_utf8(f).ok())
                .and_then(|t| t.parse().ok());
            time = seconds.ok_or(PackError("commit with a malformed committer line"))?;
        }
    }
    Ok((tree.ok_or(PackError("commit without a tree"))?, time))
}

/// One entry of a tree that docteur serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeEntry {
    /// Its name (one key segment).
    pub(crate) name: String,
    /// A value (a regular file) or a dictionary (a tree).
    pub(crate) kind: Kind,
    /// Its object.
    pub(crate) id: Id,
}

/// The entries of a tree (`MODE NAME\0ID` each) that are files or
/// directories; symbolic links and submodules are left out. A name that is
/// empty, `.`, `..`, holds a `/` or is not UTF-8 makes the tree malformed.
pub(crate) fn parse_tree(data: &[u8]) -> Result<Vec<TreeEntry>, PackError> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or(PackError("tree entry without a mode"))?;
        let mode = &rest[..space];
        let nul = rest[space..]
            .iter()
            .position(|&b| b == 0)
            .map(|i| space + i)
            .ok_or(PackError("tree entry without a name end"))?;
        let name = &rest[space + 1..nul];
        let id_bytes = rest
            .get(nul + 1..nul + 1 + ID_LEN)
            .ok_or(PackError("truncated tree entry id"))?;
        rest = &rest[nul + 1 + ID_LEN..];
        let name =
            core::str::from_utf8(name).map_err(|_| PackError("tree entry name is not UTF-8"))?;
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(PackError("tree entry with a forbidden name"));
        }
        let kind = match mode {
            b"40000" | b"040000" => Kind::Dictionary,
            b"100644" | b"100755" | b"100664" | b"100600" => Kind::Value,
            b"120000" | b"160000" => continue,
            _ => return Err(PackError("tree entry with an unknown mode")),
        };
        let mut id = [0; ID_LEN];
        id.copy_from_slice(id_bytes);
        out.push(TreeEntry {
            name: String::from(name),
            kind,
            id,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits() {
        let c = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@b> 1 +0000\ncommitter C D <c@d> 1700000000 +0100\n\nmessage\ntree 0\n";
        let (tree, time) = parse_commit(c).unwrap();
        assert_eq!(tree[0], 0x4b);
        assert_eq!(time, 1_700_000_000);
        assert!(parse_commit(b"author x\n").is_err());
        assert!(parse_commit(b"tree xyz\n").is_err());
    }

    #[test]
    fn trees() {
        let mut t = Vec::new();
        t.extend_from_slice(b"100644 a.txt\0");
        t.extend_from_slice(&[1; 20]);
        t.extend_from_slice(b"40000 dir\0");
        t.extend_from_slice(&[2; 20]);
        t.extend_from_slice(b"120000 link\0");
        t.extend_from_slice(&[3; 20]);
        let entries = parse_tree(&t).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].kind, Kind::Dictionary);
        assert!(parse_tree(&t[..t.len() - 1]).is_err());
        let mut bad = b"100644 ..\0".to_vec();
        bad.extend_from_slice(&[1; 20]);
        assert!(parse_tree(&bad).is_err());
        let mut odd = b"777 x\0".to_vec();
        odd.extend_from_slice(&[1; 20]);
        assert!(parse_tree(&odd).is_err());
    }
}
