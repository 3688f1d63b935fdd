//! A cell for values that stay on the executor's thread although they sit in
//! state shared with wakers.

/// Holds a value that is created, used and dropped only by the thread that
/// runs the executor.
///
/// The executor's shared state must be `Send + Sync` because wakers may
/// travel between threads; tasks spawned through a [`super::Spawner`] wait
/// in that state until the executor admits them. A `Spawner` is not `Send`,
/// so only the executor's thread pushes into the cell, and only the executor
/// takes from it (and drains it when dropped, before any other thread can
/// hold the last reference).
pub(super) struct LocalOnly<T>(T);

impl<T> LocalOnly<T> {
    pub(super) fn new(value: T) -> Self {
        LocalOnly(value)
    }

    pub(super) fn get(&self) -> &T {
        &self.0
    }

    pub(super) fn get_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

// SAFETY: see the type's documentation: the contents are only touched from
// the executor's thread (pushes need a `!Send` `Spawner`; the executor takes
// and drops them), wakers on other threads never access this cell.
unsafe impl<T> Send for LocalOnly<T> {}
// SAFETY: as for `Send`: no shared access happens from another thread.
unsafe impl<T> Sync for LocalOnly<T> {}
