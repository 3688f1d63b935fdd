//! The application: echoes every connection on the port back to its
//! sender, over any stack; with a peer, also connects out to it and echoes
//! back what the peer sends on that connection.

use core::net::IpAddr;

use mirage::net::stack::Stackv4v6;
use mirage::net::tcp::{Flow, Tcp, TcpError};

/// Copies everything `flow` sends back to it until its end of stream,
/// then closes; the number of bytes echoed.
async fn echo<F: Flow>(mut flow: F) -> Result<u64, TcpError> {
    let mut buf = [0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        let n = flow.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        flow.write_all(&buf[..n]).await?;
        total += n as u64;
    }
    flow.close().await?;
    Ok(total)
}

/// Echoes on `port` until the unikernel is stopped; first connects to
/// `peer:peer_port`, if given, and echoes that connection.
pub async fn start<S: Stackv4v6>(
    stack: &'static S,
    port: u16,
    peer: Option<IpAddr>,
    peer_port: u16,
) -> Result<(), TcpError> {
    stack
        .tcp()
        .listen(port, |flow| async move {
            let (ip, p) = flow.remote();
            match echo(flow).await {
                Ok(n) => log::info!("echoed {n} bytes to {ip}:{p}"),
                Err(e) => log::warn!("echo to {ip}:{p}: {e}"),
            }
        })
        .await?;
    log::info!("echoing TCP on port {port} of {:?}", stack.addresses());
    if let Some(peer) = peer {
        let flow = stack.tcp().connect(peer, peer_port).await?;
        log::info!("connected to {peer}:{peer_port}");
        let n = echo(flow).await?;
        log::info!("echoed {n} bytes to {peer}:{peer_port}");
    }
    core::future::pending::<()>().await;
    Ok(())
}
