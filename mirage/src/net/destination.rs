//! What the IP layers learnt about single destinations, each fact for a
//! while: the first hops that redirects gave (RFC 1122 section 3.3.1.2,
//! RFC 4861 section 8.3) and the path MTUs that routers reported (RFC 1191,
//! RFC 8201). RFC 4861 calls such a table the Destination Cache.
//!
//! Invariants: at most `capacity` entries, at most one per destination.
//! A full cache makes room by forgetting the entry closest to expiry; an
//! expired entry is never returned. The cache is small (tens of entries)
//! and usually empty: a linear search costs less than any index, and
//! [`DestinationCache::is_empty`] lets the data path skip even that.

use alloc::vec::Vec;

/// A bounded table of per-destination values of type `V`, each with the
/// time it expires.
#[derive(Debug)]
pub(crate) struct DestinationCache<A, V> {
    /// The destination, its value, and when the value expires (ns).
    entries: Vec<(A, V, u64)>,
    capacity: usize,
}

impl<A: Copy + PartialEq, V: Copy> DestinationCache<A, V> {
    /// An empty cache of at most `capacity` destinations.
    pub(crate) const fn new(capacity: usize) -> Self {
        DestinationCache {
            entries: Vec::new(),
            capacity,
        }
    }

    /// Whether nothing is kept (expired entries count until replaced).
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value for `dst` at `now`, unless it expired.
    pub(crate) fn get(&self, dst: A, now: u64) -> Option<V> {
        self.entries
            .iter()
            .find(|&&(d, _, until)| d == dst && until > now)
            .map(|&(_, value, _)| value)
    }

    /// Keeps `value` for `dst` from `now` for `lifetime` ns, replacing what
    /// was kept for it; expired entries go, and a full cache forgets the
    /// entry closest to expiry.
    pub(crate) fn insert(&mut self, dst: A, value: V, now: u64, lifetime: u64) {
        self.entries
            .retain(|&(d, _, until)| d != dst && until > now);
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity
            && let Some(i) = (0..self.entries.len()).min_by_key(|&i| self.entries[i].2)
        {
            self.entries.swap_remove(i);
        }
        self.entries
            .push((dst, value, now.saturating_add(lifetime)));
    }

    /// Forgets what was kept for `dst`.
    pub(crate) fn remove(&mut self, dst: A) {
        if !self.entries.is_empty() {
            self.entries.retain(|&(d, _, _)| d != dst);
        }
    }

    /// Forgets everything (the configuration the facts were about changed).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::DestinationCache;

    #[test]
    fn a_value_is_kept_until_it_expires() {
        let mut c = DestinationCache::<u8, u16>::new(4);
        assert!(c.is_empty());
        c.insert(1, 1000, 100, 50);
        assert_eq!(c.get(1, 100), Some(1000));
        assert_eq!(c.get(1, 149), Some(1000));
        assert_eq!(c.get(1, 150), None);
        assert_eq!(c.get(2, 100), None);
    }

    #[test]
    fn a_destination_has_one_entry_the_latest() {
        let mut c = DestinationCache::<u8, u16>::new(4);
        c.insert(1, 1000, 0, 50);
        c.insert(1, 900, 10, 50);
        assert_eq!(c.get(1, 55), Some(900));
        c.remove(1);
        assert_eq!(c.get(1, 20), None);
        assert!(c.is_empty());
    }

    #[test]
    fn a_full_cache_forgets_the_entry_closest_to_expiry() {
        let mut c = DestinationCache::<u8, u16>::new(2);
        c.insert(1, 10, 0, 300);
        c.insert(2, 20, 0, 100);
        c.insert(3, 30, 0, 200);
        assert_eq!(
            (c.get(1, 1), c.get(2, 1), c.get(3, 1)),
            (Some(10), None, Some(30))
        );
        // Expired entries make room first.
        c.insert(4, 40, 250, 100);
        assert_eq!(
            (c.get(1, 251), c.get(3, 251), c.get(4, 251)),
            (Some(10), None, Some(40))
        );
        c.clear();
        assert!(c.is_empty());
    }
}
