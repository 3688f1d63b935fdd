//! The application: connects to the peer and sends `before` bytes of `p`,
//! then `urgent` bytes of `u` ending with a `T` in one urgent write (so the
//! peer's out-of-band byte, the last urgent one, is the `T`), then `after`
//! bytes of `a`; shuts its direction down, waits for the peer's end of
//! stream and closes.

use core::net::IpAddr;

use mirage::export::vec;
use mirage::net::stack::Stackv4v6;
use mirage::net::tcp::{Flow, Tcp, TcpError};

/// Sends the three parts on `flow`, then ends it.
async fn send<F: Flow>(mut flow: F, before: u32, urgent: u32, after: u32) -> Result<(), TcpError> {
    flow.write_all(&vec![b'p'; before as usize]).await?;
    if urgent > 0 {
        let mut data = vec![b'u'; urgent as usize];
        data[urgent as usize - 1] = b'T';
        flow.write_urgent(&data).await?;
    }
    flow.write_all(&vec![b'a'; after as usize]).await?;
    flow.shutdown_write().await?;
    let mut buf = [0u8; 64];
    while flow.read(&mut buf).await? > 0 {}
    flow.close().await
}

/// Sends the three parts to `peer:peer_port`.
pub async fn start<S: Stackv4v6>(
    stack: &'static S,
    peer: IpAddr,
    peer_port: u16,
    before: u32,
    urgent: u32,
    after: u32,
) -> Result<(), TcpError> {
    let flow = stack.tcp().connect(peer, peer_port).await?;
    log::info!("connected to {peer}:{peer_port}");
    send(flow, before, urgent, after).await?;
    log::info!("sent {before} plain, {urgent} urgent and {after} plain bytes");
    Ok(())
}
