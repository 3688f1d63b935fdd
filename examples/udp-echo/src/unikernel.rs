//! The application: echoes every datagram received on the port back to
//! its sender, over any stack.

use mirage::export::vec;
use mirage::net::stack::Stackv4v6;
use mirage::net::udp::{Udp, UdpError, UdpSocket};

/// Echoes datagrams on `port` (0: an ephemeral port, which it logs)
/// until the unikernel is stopped.
pub async fn start<S: Stackv4v6>(stack: &'static S, port: u16) -> Result<(), UdpError> {
    let socket = stack.udp().bind(port)?;
    let port = socket.local_port();
    log::info!("echoing UDP on port {port} of {:?}", stack.addresses());
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = socket.recv_from(&mut buf).await?;
        log::debug!("{n} bytes from {}:{}", from.src, from.src_port);
        if let Err(e) = socket.send_to(&buf[..n], from.src, from.src_port).await {
            log::warn!("echo to {}:{}: {e}", from.src, from.src_port);
        }
    }
}
