//! The console: unbuffered `write(2)` to standard output and standard error.
//!
//! These functions bypass std's buffered `stdout`, so every call reaches the
//! file descriptor before it returns, and output from the log reporter and
//! from the rest of the process interleaves in call order.

use std::io;
use std::os::fd::RawFd;

/// Writes all of `data` to `fd`, retrying on `EINTR` and after partial
/// writes.
fn write_all(fd: RawFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: `data` is a valid, initialised slice for the whole call and
        // `write` reads at most `data.len()` bytes from it.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::WriteZero));
        }
        // `write` never reports more than it was given.
        data = &data[n as usize..];
    }
    Ok(())
}

/// Writes all of `data` to standard output (file descriptor 1) with
/// `write(2)`, retrying on `EINTR` and partial writes. Nothing is buffered.
///
/// # Errors
///
/// Returns the error of the first failing `write(2)` other than `EINTR`
/// (for instance `EPIPE` once the reader went away, `SIGPIPE` being
/// ignored after [`crate::signals::install_termination_handlers`]).
pub fn console_write(data: &[u8]) -> io::Result<()> {
    write_all(libc::STDOUT_FILENO, data)
}

/// Writes all of `data` to standard error (file descriptor 2), like
/// [`console_write`] does for standard output.
///
/// # Errors
///
/// Returns the error of the first failing `write(2)` other than `EINTR`.
pub fn console_write_stderr(data: &[u8]) -> io::Result<()> {
    write_all(libc::STDERR_FILENO, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn console_write_to_stdout_succeeds() {
        console_write(b"mirage-unix: console_write test line\n").unwrap();
        console_write(b"").unwrap();
    }

    #[test]
    fn console_write_stderr_succeeds() {
        console_write_stderr(b"mirage-unix: console_write_stderr test line\n").unwrap();
    }

    #[test]
    fn write_all_delivers_everything_through_a_pipe() {
        use std::os::fd::AsRawFd;
        let (mut reader, writer) = std::io::pipe().unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let expected = data.clone();
        let fd = writer.as_raw_fd();
        // More than a pipe buffer: the writer must loop over partial writes
        // while this thread reads.
        let handle = std::thread::spawn(move || {
            let result = write_all(fd, &data);
            drop(writer);
            result
        });
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        handle.join().unwrap().unwrap();
        assert_eq!(got, expected);
    }

    #[test]
    fn write_to_a_bad_fd_fails() {
        let err = write_all(-1, b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }
}
