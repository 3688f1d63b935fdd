//! The cooperative runtime: a single-threaded executor of tasks, wakers and
//! timers whose idle step is supplied by the platform.
