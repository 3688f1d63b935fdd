//! The application: counts its boots and keeps notes in a chamelon store,
//! so both survive restarts.
//!
//! On a device without a file system (a fresh disk image) the store is
//! formatted first; `--format` formats it anyway (a fresh encrypted device
//! cannot even be read, so it needs this once).

use mirage::Block;
use mirage::Pclock;
use mirage::export::{String, format};
use mirage::kv::chamelon::{Chamelon, Error};
use mirage::kv::{Key, KvError, KvRo, KvRw};

/// Counts this boot in `/counter`, keeps `note` as `/notes/<count>`, and
/// prints the count and every note.
pub async fn start<B: Block, C: Pclock>(
    store: &'static Chamelon<B, C>,
    format: bool,
    note: String,
) -> Result<(), KvError> {
    if format {
        log::info!(target: "application", "formatting the store");
        store.format().await?;
    } else {
        match store.check().await {
            Ok(()) => {}
            Err(Error::NotFormatted) => {
                log::info!(target: "application", "the store is not formatted: formatting it");
                store.format().await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let counter = Key::v("counter");
    let previous = match store.get(&counter).await {
        Ok(value) => core::str::from_utf8(&value)
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .ok_or_else(|| KvError::Store(String::from("/counter does not hold a number")))?,
        Err(KvError::NotFound(_)) => 0,
        Err(e) => return Err(e),
    };
    let count = previous + 1;
    store.set(&counter, format!("{count}\n").as_bytes()).await?;
    if !note.is_empty() {
        store
            .set(
                &Key::v("notes").add(&format!("{count:04}")),
                note.as_bytes(),
            )
            .await?;
    }
    log::info!(target: "application", "boot count: {count}");
    let notes = match store.list(&Key::v("notes")).await {
        Ok(notes) => notes,
        Err(KvError::NotFound(_)) => mirage::export::Vec::new(),
        Err(e) => return Err(e),
    };
    for (key, _) in notes {
        let text = store.get(&key).await?;
        log::info!(target: "application", "note {key}: {}", String::from_utf8_lossy(&text));
    }
    Ok(())
}
