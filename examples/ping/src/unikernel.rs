//! The application: the stack answers echo requests by itself, so the job
//! reports the addresses it answers on and then waits until stopped.

use mirage::net::stack::Stackv4v6;

/// Reports the stack's addresses, then runs until the unikernel is
/// stopped (SIGINT/SIGTERM on unix, the tender elsewhere).
pub async fn start<S: Stackv4v6>(stack: &'static S) {
    log::info!("answering echo requests on {:?}", stack.addresses());
    core::future::pending::<()>().await
}
