//! Entropy from the kernel's random number generator, via `getrandom(2)`.

use std::io;

/// Fills all of `buf` with random bytes from `getrandom(2)` (the kernel's
/// `urandom` source, which blocks only until the pool is first initialised
/// at boot). Retries on `EINTR` and continues after partial fills, so large
/// buffers are filled completely.
///
/// # Errors
///
/// Returns the error of a failing `getrandom(2)` other than `EINTR`
/// (for instance `ENOSYS` on kernels older than 3.17).
pub fn fill_entropy(buf: &mut [u8]) -> io::Result<()> {
    let mut rest = buf;
    while !rest.is_empty() {
        // SAFETY: `rest` is a valid, writable slice for the whole call and
        // `getrandom` writes at most `rest.len()` bytes into it.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        // `getrandom` never reports more than it was asked for.
        rest = &mut rest[n as usize..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_distinct_buffers() {
        let mut a = [0u8; 64];
        let mut b = [0u8; 64];
        fill_entropy(&mut a).unwrap();
        fill_entropy(&mut b).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 64]);
    }

    #[test]
    fn fills_a_large_buffer_completely() {
        // Large enough that a single call may return a partial fill.
        let mut buf = vec![0u8; 1 << 20];
        fill_entropy(&mut buf).unwrap();
        // Every 4 KiB page got something: a partial fill would leave a zero
        // tail, and 4096 random zero bytes in a row do not happen.
        for chunk in buf.chunks(4096) {
            assert!(chunk.iter().any(|&b| b != 0));
        }
    }

    #[test]
    fn empty_buffer_is_fine() {
        fill_entropy(&mut []).unwrap();
    }
}
