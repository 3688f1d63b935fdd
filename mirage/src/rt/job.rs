//! Jobs and start-up errors: what the generated entry point runs and how it
//! reports a device that failed to connect or a job that failed.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::Poll;

use super::executor::{JoinHandle, Spawner};

/// What a job's `start` may return: `()` (success) or a `Result` whose
/// error is shown when the unikernel exits with a failure.
pub trait JobOutcome {
    /// `Ok(())` or the error's message.
    fn into_outcome(self) -> Result<(), String>;
}

impl JobOutcome for () {
    fn into_outcome(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: fmt::Display> JobOutcome for Result<(), E> {
    fn into_outcome(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

/// A device failed to connect (the analogue of MirageOS's `connect_err`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    /// The device, as the generated code names it (`block_storage_3`).
    pub device: &'static str,
    /// Why it failed.
    pub message: String,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: connect failed: {}", self.device, self.message)
    }
}

/// Wraps a device's connect error: `.map_err(connect_error("net_2"))`.
pub fn connect_error<E: fmt::Display>(device: &'static str) -> impl FnOnce(E) -> ConnectError {
    move |error| ConnectError {
        device,
        message: error.to_string(),
    }
}

/// Why a unikernel stopped before its jobs all succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError {
    /// A device failed to connect; no job was started.
    Connect(ConnectError),
    /// A runtime argument could not be read (the entry point parses and
    /// checks every argument before this can happen).
    Argument(String),
    /// A job returned an error.
    Job {
        /// The job's name (the path given to `main` in `build.rs`).
        job: &'static str,
        /// The job's error message.
        message: String,
    },
}

impl StartError {
    /// Wraps a runtime-argument error: `.map_err(StartError::argument)`.
    pub fn argument(error: crate::args::ArgError) -> Self {
        StartError::Argument(error.to_string())
    }
}

impl From<ConnectError> for StartError {
    fn from(error: ConnectError) -> Self {
        StartError::Connect(error)
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Connect(error) => error.fmt(f),
            StartError::Argument(message) => f.write_str(message),
            StartError::Job { job, message } => write!(f, "job {job} failed: {message}"),
        }
    }
}

/// A job as the generated entry point hands it over: its name and its
/// started future (boxed once at start-up, since jobs differ in type).
pub type Job = (
    &'static str,
    Pin<Box<dyn Future<Output = Result<(), String>>>>,
);

/// Makes a [`Job`] of a job's future: boxes it once and turns its
/// [`JobOutcome`] into a result.
pub fn job<F>(name: &'static str, future: F) -> Job
where
    F: Future + 'static,
    F::Output: JobOutcome,
{
    (name, Box::pin(async move { future.await.into_outcome() }))
}

/// Runs every job as its own task and waits until all have succeeded, or
/// returns the first failure as soon as it happens (the other jobs are then
/// abandoned, as the unikernel is about to exit).
pub async fn run_jobs(jobs: Vec<Job>) -> Result<(), StartError> {
    let spawner = Spawner::for_current_executor().await;
    let mut running: Vec<(&'static str, JoinHandle<Result<(), String>>)> = jobs
        .into_iter()
        .map(|(name, job)| (name, spawner.spawn(job)))
        .collect();
    core::future::poll_fn(|cx| {
        let mut index = 0;
        while index < running.len() {
            match Pin::new(&mut running[index].1).poll(cx) {
                Poll::Ready(Ok(())) => {
                    running.swap_remove(index);
                }
                Poll::Ready(Err(message)) => {
                    return Poll::Ready(Err(StartError::Job {
                        job: running[index].0,
                        message,
                    }));
                }
                Poll::Pending => index += 1,
            }
        }
        if running.is_empty() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    })
    .await
}
