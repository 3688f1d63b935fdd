//! `Flow::write_with`'s default: `f` gets a room of `WRITE_WITH_ROOM`
//! bytes, and what it wrote there (no more than the room, whatever it
//! claims) is written out whole, through as many short writes as the flow
//! takes.

use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr};

use crate::net::tcp::TcpError;
use crate::net::tcp::{Flow, WRITE_WITH_ROOM};
use crate::rt::now_or_never;

/// A flow that takes at most 1000 bytes per write, into `written`.
struct ShortWrites {
    written: Vec<u8>,
}

impl embedded_io::ErrorType for ShortWrites {
    type Error = TcpError;
}

impl embedded_io_async::Read for ShortWrites {
    async fn read(&mut self, _buf: &mut [u8]) -> Result<usize, TcpError> {
        Ok(0)
    }
}

impl embedded_io_async::Write for ShortWrites {
    async fn write(&mut self, data: &[u8]) -> Result<usize, TcpError> {
        let n = data.len().min(1000);
        self.written.extend_from_slice(&data[..n]);
        Ok(n)
    }

    async fn flush(&mut self) -> Result<(), TcpError> {
        Ok(())
    }
}

impl embedded_io_async::ReadReady for ShortWrites {
    fn read_ready(&mut self) -> Result<bool, TcpError> {
        Ok(true)
    }
}

impl embedded_io_async::WriteReady for ShortWrites {
    fn write_ready(&mut self) -> Result<bool, TcpError> {
        Ok(true)
    }
}

/// A reader at the end of its stream.
struct Eof;

impl embedded_io::ErrorType for Eof {
    type Error = TcpError;
}

impl embedded_io_async::Read for Eof {
    async fn read(&mut self, _buf: &mut [u8]) -> Result<usize, TcpError> {
        Ok(0)
    }
}

impl embedded_io_async::ReadReady for Eof {
    fn read_ready(&mut self) -> Result<bool, TcpError> {
        Ok(true)
    }
}

impl Flow for ShortWrites {
    type Reader<'a> = Eof;
    type Writer<'a> = &'a mut ShortWrites;

    fn split(&mut self) -> (Eof, &mut ShortWrites) {
        (Eof, self)
    }

    fn local(&self) -> (IpAddr, u16) {
        (IpAddr::V4(Ipv4Addr::LOCALHOST), 1)
    }

    fn remote(&self) -> (IpAddr, u16) {
        (IpAddr::V4(Ipv4Addr::LOCALHOST), 2)
    }

    fn set_nodelay(&self, _: bool) -> Result<(), TcpError> {
        Ok(())
    }

    fn set_keepalive(&self, _: Option<crate::net::tcp::KeepAlive>) -> Result<(), TcpError> {
        Ok(())
    }

    fn set_user_timeout(&self, _: Option<u64>) -> Result<(), TcpError> {
        Ok(())
    }

    fn consecutive_timeouts(&self) -> Result<u32, TcpError> {
        Ok(0)
    }

    fn set_dscp(&self, _: u8) -> Result<(), TcpError> {
        Ok(())
    }

    async fn read_with<R>(&mut self, f: impl FnOnce(&[u8]) -> (usize, R)) -> Result<R, TcpError> {
        Ok(f(&[]).1)
    }

    async fn shutdown_write(&mut self) -> Result<(), TcpError> {
        Ok(())
    }

    async fn close(self) -> Result<(), TcpError> {
        Ok(())
    }

    /// (No urgent pointer: the bytes only.)
    async fn write_urgent(&mut self, data: &[u8]) -> Result<(), TcpError> {
        embedded_io_async::Write::write_all(self, data).await
    }

    fn urgent(&self) -> Result<Option<usize>, TcpError> {
        Ok(None)
    }

    /// (Its reader is at the end of its stream.)
    async fn urgent_arrived(&self) -> Result<usize, TcpError> {
        Err(TcpError::Eof)
    }
}

#[test]
fn the_default_write_with_writes_what_f_wrote_whole() {
    let mut flow = ShortWrites {
        written: Vec::new(),
    };
    let r = now_or_never(flow.write_with(|room| {
        assert_eq!(room.len(), WRITE_WITH_ROOM);
        for (i, b) in room[..2500].iter_mut().enumerate() {
            *b = i as u8;
        }
        (2500, "value")
    }));
    assert_eq!(r, Some(Ok("value")));
    assert_eq!(flow.written.len(), 2500);
    assert!(flow.written.iter().enumerate().all(|(i, &b)| b == i as u8));
    // A claim past the room counts the room only.
    flow.written.clear();
    let r = now_or_never(flow.write_with(|room| {
        room.fill(7);
        (usize::MAX, ())
    }));
    assert_eq!(r, Some(Ok(())));
    assert_eq!(flow.written, [7u8; WRITE_WITH_ROOM]);
}
