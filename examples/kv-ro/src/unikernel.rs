//! The application: generic over the `KvRo` store it is given.

use mirage::export::{String, Vec, format};
use mirage::kv::{Key, Kind, KvError, KvRo};

/// Walks the store from the root and prints, for every value, its key,
/// size, the first eight hex digits of its digest and, for short text, its
/// contents; then a summary line.
pub async fn start<S: KvRo>(store: &'static S) -> Result<(), KvError> {
    let mut pending: Vec<Key> = Vec::from([Key::root()]);
    let (mut files, mut bytes) = (0u64, 0u64);
    while let Some(dir) = pending.pop() {
        for (key, kind) in store.list(&dir).await? {
            match kind {
                Kind::Dictionary => pending.push(key),
                Kind::Value => {
                    let value = store.get(&key).await?;
                    let digest = store.digest(&key).await?;
                    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
                    let text = core::str::from_utf8(&value)
                        .ok()
                        .filter(|t| t.len() <= 80 && !t.contains('\n'))
                        .map(|t| format!(" {t:?}"))
                        .unwrap_or_default();
                    log::info!(target: "application", "{key} {} bytes sha256:{hex}{text}", value.len());
                    files += 1;
                    bytes += value.len() as u64;
                }
            }
        }
    }
    log::info!(target: "application", "{files} files, {bytes} bytes");
    Ok(())
}
