//! Ends as `how` says: `ok`, `fail`, `panic`, or `alloc:N`.

use mirage::export::{String, Vec};

/// Runs the chosen ending.
pub async fn start(how: String) -> Result<(), String> {
    match how.as_str() {
        "ok" => Ok(()),
        "fail" => Err(String::from("failing on purpose")),
        "panic" => panic!("panicking on purpose"),
        other => match other
            .strip_prefix("alloc:")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => {
                let mut v: Vec<u8> = Vec::new();
                v.resize(n, 7);
                log::info!(target: "application", "allocated {} bytes", v.len());
                Ok(())
            }
            None => Err(String::from("unknown --how")),
        },
    }
}
