//! The block allocator: littlefs's lookahead scheme.
//!
//! Free space is not recorded on disk. A window of up to `window` blocks
//! starting at `start` is marked from a traversal of the file system
//! (every metadata pair, every file's skip-list); free blocks are handed
//! out in address order from it. When it is used up, the next window
//! begins where the last one stopped and the traversal runs again.
//!
//! Blocks freed since a traversal stay marked until the next one, so a
//! block the on-disk state still references is never handed out. Blocks
//! handed out but not yet referenced (an operation in flight) are
//! protected by the checkpoint: each operation starts with
//! [`Lookahead::checkpoint`], and from then on at most `block_count`
//! blocks are examined before reporting no space, so the window never
//! wraps around onto the operation's own fresh blocks.

use alloc::vec;
use alloc::vec::Vec;

/// The lookahead window.
#[derive(Debug)]
pub(super) struct Lookahead {
    count: u32,
    window: u32,
    start: u32,
    next: u32,
    size: u32,
    used: Vec<u64>,
    ckpoint: u32,
}

impl Lookahead {
    /// Windows of at most this many blocks (a 128 KiB bitmap).
    pub(super) const MAX_WINDOW: u32 = 1 << 20;

    /// An allocator for `count` blocks with an empty window.
    pub(super) fn new(count: u32) -> Self {
        let window = count.clamp(1, Self::MAX_WINDOW);
        Lookahead {
            count,
            window,
            start: 0,
            next: 0,
            size: 0,
            used: vec![0; (window as usize).div_ceil(64)],
            ckpoint: count,
        }
    }

    /// Marks the start of an operation: everything handed out before is
    /// now referenced on disk (or was abandoned).
    pub(super) fn checkpoint(&mut self) {
        self.ckpoint = self.count;
    }

    /// The next free block of the window, if the window has one left.
    pub(super) fn take(&mut self) -> Option<u32> {
        while self.next < self.size {
            let i = self.next;
            self.next += 1;
            self.ckpoint = self.ckpoint.saturating_sub(1);
            if self.used[(i / 64) as usize] & (1 << (i % 64)) == 0 {
                return Some(
                    ((u64::from(self.start) + u64::from(i)) % u64::from(self.count)) as u32,
                );
            }
        }
        None
    }

    /// Whether every block has been examined since the checkpoint.
    pub(super) fn exhausted(&self) -> bool {
        self.ckpoint == 0
    }

    /// Moves the window past the examined blocks and clears it, ready to
    /// be marked by a traversal.
    pub(super) fn begin_scan(&mut self) {
        self.start =
            ((u64::from(self.start) + u64::from(self.next)) % u64::from(self.count)) as u32;
        self.next = 0;
        self.size = self.window.min(self.ckpoint);
        self.used.iter_mut().for_each(|w| *w = 0);
    }

    /// Marks `block` as in use (if it is in the window).
    pub(super) fn mark(&mut self, block: u32) {
        if block >= self.count {
            return;
        }
        let off = (u64::from(block) + u64::from(self.count) - u64::from(self.start))
            % u64::from(self.count);
        if off < u64::from(self.size) {
            self.used[(off / 64) as usize] |= 1 << (off % 64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_unmarked_blocks_and_runs_out() {
        let mut a = Lookahead::new(8);
        assert_eq!(a.take(), None);
        a.begin_scan();
        for b in [0, 1, 4] {
            a.mark(b);
        }
        let got: Vec<u32> = core::iter::from_fn(|| a.take()).collect();
        assert_eq!(got, [2, 3, 5, 6, 7]);
        assert!(a.exhausted());
        a.checkpoint();
        a.begin_scan();
        for b in 0..8 {
            a.mark(b);
        }
        assert_eq!(a.take(), None);
        assert!(a.exhausted());
    }

    #[test]
    fn windows_wrap_around() {
        let mut a = Lookahead::new(10);
        a.begin_scan();
        for b in 0..7 {
            a.mark(b);
        }
        assert_eq!(a.take(), Some(7));
        a.checkpoint();
        // A new window starts after block 7 and wraps to the front.
        a.begin_scan();
        for b in [8, 9, 0, 1] {
            a.mark(b);
        }
        assert_eq!(a.take(), Some(2));
    }
}
