//! The application: reads every connection on the port to its end,
//! counting the bytes and digesting them in place (`Flow::read_with`),
//! and prints the count, the throughput and the SHA-256 when the sender
//! closes.

use core::fmt::Write as _;

use mirage::Mclock;
use mirage::export::String;
use mirage::net::stack::Stackv4v6;
use mirage::net::tcp::{Flow, Tcp, TcpError};
use sha2::{Digest, Sha256};

/// Receives on `port` until the unikernel is stopped.
pub async fn start<S: Stackv4v6, C: Mclock>(
    stack: &'static S,
    clock: &'static C,
    port: u16,
) -> Result<(), TcpError> {
    stack
        .tcp()
        .listen(port, move |mut flow| async move {
            let (ip, p) = flow.remote();
            let started = clock.elapsed_ns();
            let mut digest = Sha256::new();
            let mut total = 0u64;
            loop {
                // Digested in place: on the direct stack, straight from
                // the connection's receive buffer, without a copy.
                let read = flow
                    .read_with(|run| {
                        digest.update(run);
                        (run.len(), run.len())
                    })
                    .await;
                match read {
                    Ok(0) => break,
                    Ok(n) => total += n as u64,
                    Err(e) => {
                        log::warn!("from {ip}:{p}: {e} after {total} bytes");
                        return;
                    }
                }
            }
            let secs = (clock.elapsed_ns() - started) as f64 / 1e9;
            let mut hex = String::new();
            for b in digest.finalize() {
                let _ = write!(hex, "{b:02x}");
            }
            log::info!(
                "received {total} bytes from {ip}:{p} in {secs:.3} s: {:.1} MB/s, sha256 {hex}",
                total as f64 / secs.max(1e-9) / 1e6
            );
            let _ = flow.close().await;
        })
        .await?;
    log::info!("receiving TCP on port {port} of {:?}", stack.addresses());
    core::future::pending::<()>().await;
    Ok(())
}
