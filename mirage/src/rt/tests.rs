//! Executor tests over a virtual clock: `idle` jumps the clock to the
//! requested deadline and records the call, so the tests see exactly when
//! the executor would have blocked and for how long.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use spin::Mutex;

use super::*;

#[derive(Clone, Default)]
struct VirtualPlatform {
    now: Arc<AtomicU64>,
    idles: Arc<Mutex<Vec<Option<u64>>>>,
    stop: Arc<AtomicI32>,
}

impl Platform for VirtualPlatform {
    fn now_ns(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }

    fn idle(&self, deadline_ns: Option<u64>) {
        self.idles.lock().push(deadline_ns);
        match deadline_ns {
            Some(deadline) => {
                self.now.fetch_max(deadline, Ordering::SeqCst);
            }
            None => self.stop.store(15, Ordering::SeqCst),
        }
    }

    fn stop_requested(&self) -> Option<i32> {
        match self.stop.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(signal),
        }
    }
}

fn executor() -> (Executor<VirtualPlatform>, VirtualPlatform) {
    let platform = VirtualPlatform::default();
    (Executor::new(platform.clone()), platform)
}

#[test]
fn timers_fire_in_deadline_order() {
    let (ex, platform) = executor();
    let log = Rc::new(RefCell::new(Vec::new()));
    for delay in [30u64, 10, 20, 10] {
        let log = log.clone();
        let platform = platform.clone();
        ex.spawn(async move {
            sleep_ns(delay).await;
            log.borrow_mut().push((delay, platform.now_ns()));
        });
    }
    ex.block_on(sleep_ns(100)).unwrap();
    assert_eq!(*log.borrow(), vec![(10, 10), (10, 10), (20, 20), (30, 30)]);
    // The executor blocked once per distinct deadline, never spun.
    assert_eq!(
        *platform.idles.lock(),
        vec![Some(10), Some(20), Some(30), Some(100)]
    );
}

#[test]
fn equal_deadlines_fire_in_arrival_order() {
    let (ex, _) = executor();
    let log = Rc::new(RefCell::new(Vec::new()));
    for task in 0..5 {
        let log = log.clone();
        ex.spawn(async move {
            sleep_until(50).await;
            log.borrow_mut().push(task);
        });
    }
    ex.block_on(sleep_until(60)).unwrap();
    assert_eq!(*log.borrow(), vec![0, 1, 2, 3, 4]);
}

#[test]
fn many_tasks_interleave() {
    let (ex, platform) = executor();
    let log = Rc::new(RefCell::new(Vec::new()));
    let tasks = 50;
    let steps = 4;
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let log = log.clone();
            ex.spawn(async move {
                for step in 0..steps {
                    log.borrow_mut().push((task, step));
                    yield_now().await;
                }
                task
            })
        })
        .collect();
    let total = ex
        .block_on(async move {
            let mut total = 0;
            for handle in handles {
                total += handle.await;
            }
            total
        })
        .unwrap();
    assert_eq!(total, (0..tasks).sum::<i32>());
    let log = log.borrow();
    assert_eq!(log.len(), (tasks * steps) as usize);
    // Round robin: every task makes step n before any task makes step n+1.
    for (i, &(_, step)) in log.iter().enumerate() {
        assert_eq!(step, i as i32 / tasks, "entry {i} of {log:?}");
    }
    // Nothing ever waited on time, so the executor never blocked.
    assert!(platform.idles.lock().iter().all(|d| d.is_some()));
}

#[test]
fn sleeping_tasks_block_in_idle_instead_of_polling() {
    let (ex, platform) = executor();
    let polls = Rc::new(RefCell::new(0u32));
    let counter = polls.clone();
    ex.block_on(async move {
        for _ in 0..10 {
            *counter.borrow_mut() += 1;
            sleep_ns(1_000_000_000).await;
        }
    })
    .unwrap();
    assert_eq!(*polls.borrow(), 10);
    assert_eq!(platform.idles.lock().len(), 10);
    assert_eq!(platform.now_ns(), 10_000_000_000);
}

#[test]
fn timeout_returns_output_or_elapsed() {
    let (ex, platform) = executor();
    let result = ex
        .block_on(async {
            timeout(100, async {
                sleep_ns(10).await;
                7
            })
            .await
        })
        .unwrap();
    assert_eq!(result, Ok(7));
    let result = ex
        .block_on(async { timeout(100, sleep_ns(1_000)).await })
        .unwrap();
    assert_eq!(result, Err(Elapsed));
    assert_eq!(platform.now_ns(), 110);
}

#[test]
fn dropped_sleeps_leave_no_timer_behind() {
    let (ex, _) = executor();
    ex.block_on(async {
        for _ in 0..1000 {
            let _ = timeout(10, core::future::pending::<()>()).await;
            let _ = timeout(1_000_000, async {}).await;
        }
    })
    .unwrap();
    assert_eq!(ex.shared_timers_len(), 0);
}

#[test]
fn tasks_spawn_tasks_and_join_them() {
    let (ex, _) = executor();
    let out = ex
        .block_on(async {
            let spawner = Spawner::for_current_executor().await;
            let inner = spawner.spawn(async {
                sleep_ns(5).await;
                String::from("inner")
            });
            let mut text = inner.await;
            text.push_str(" done");
            text
        })
        .unwrap();
    assert_eq!(out, "inner done");
    assert_eq!(ex.live_tasks(), 0);
}

#[test]
fn detached_tasks_keep_running() {
    let (ex, _) = executor();
    let flag = Rc::new(RefCell::new(false));
    let seen = flag.clone();
    drop(ex.spawn(async move {
        sleep_ns(5).await;
        *seen.borrow_mut() = true;
    }));
    ex.block_on(sleep_ns(10)).unwrap();
    assert!(*flag.borrow());
}

#[test]
fn stop_request_ends_block_on() {
    let (ex, platform) = executor();
    // Nothing can ever wake this task: the executor idles without a
    // deadline, the platform then reports a stop (as on SIGTERM).
    let result = ex.block_on(core::future::pending::<()>());
    assert_eq!(result, Err(Stopped { signal: 15 }));
    assert_eq!(*platform.idles.lock(), vec![None]);
}

#[test]
#[should_panic(expected = "must be awaited inside a task of a mirage::rt::Executor")]
fn sleeping_outside_an_executor_is_a_clear_error() {
    let mut sleep = sleep_ns(1);
    let waker = core::task::Waker::noop();
    let mut cx = core::task::Context::from_waker(waker);
    let _ = core::pin::Pin::new(&mut sleep).poll(&mut cx);
}

#[test]
fn run_jobs_waits_for_all_and_reports_the_first_failure() {
    let (ex, platform) = executor();
    let ok: Vec<Job> = vec![
        (
            "a",
            Box::pin(async {
                sleep_ns(5).await;
                Ok(())
            }),
        ),
        (
            "b",
            Box::pin(async {
                sleep_ns(9).await;
                Ok(())
            }),
        ),
    ];
    assert_eq!(ex.block_on(run_jobs(ok)).unwrap(), Ok(()));
    assert_eq!(platform.now_ns(), 9);
    let failing: Vec<Job> = vec![
        ("forever", Box::pin(core::future::pending())),
        (
            "broken",
            Box::pin(async {
                sleep_ns(3).await;
                Err(String::from("disk on fire"))
            }),
        ),
    ];
    let result = ex.block_on(run_jobs(failing)).unwrap();
    assert_eq!(
        result,
        Err(StartError::Job {
            job: "broken",
            message: String::from("disk on fire")
        })
    );
}

#[test]
fn job_outcomes() {
    assert_eq!(().into_outcome(), Ok(()));
    assert_eq!(Ok::<(), &str>(()).into_outcome(), Ok(()));
    assert_eq!(Err::<(), _>("bad").into_outcome(), Err(String::from("bad")));
    let error = connect_error::<&str>("block__1")("no such file");
    assert_eq!(
        alloc::format!("{error}"),
        "block__1: connect failed: no such file"
    );
}

#[test]
fn wakers_from_other_threads_schedule_the_task() {
    extern crate std;
    let (ex, _) = executor();
    let out = ex
        .block_on(async {
            let mut sent = false;
            core::future::poll_fn(move |cx| {
                if sent {
                    return core::task::Poll::Ready(42);
                }
                sent = true;
                let waker = cx.waker().clone();
                std::thread::spawn(move || waker.wake()).join().unwrap();
                core::task::Poll::Pending
            })
            .await
        })
        .unwrap();
    assert_eq!(out, 42);
}

impl<P: Platform> Executor<P> {
    fn shared_timers_len(&self) -> usize {
        self.shared_for_tests().timers.lock().len()
    }
}

#[test]
fn select_takes_the_first_and_drops_both_at_once() {
    /// Pending until `ready` is set; counts its drops.
    struct Probe {
        ready: Rc<RefCell<bool>>,
        drops: Rc<RefCell<u32>>,
    }
    impl Future for Probe {
        type Output = u32;
        fn poll(
            self: core::pin::Pin<&mut Self>,
            _: &mut core::task::Context<'_>,
        ) -> core::task::Poll<u32> {
            if *self.ready.borrow() {
                core::task::Poll::Ready(7)
            } else {
                core::task::Poll::Pending
            }
        }
    }
    impl Drop for Probe {
        fn drop(&mut self) {
            *self.drops.borrow_mut() += 1;
        }
    }
    let (ex, _platform) = executor();
    let drops = Rc::new(RefCell::new(0));
    let ready = Rc::new(RefCell::new(false));
    let (d, r) = (drops.clone(), ready.clone());
    let out = ex
        .block_on(async move {
            let probe = Probe {
                ready: r.clone(),
                drops: d.clone(),
            };
            let mut sel = core::pin::pin!(select(probe, sleep_ns(50)));
            // The timer wins; the probe is dropped when it does, before
            // the `Select` itself.
            let first = (&mut sel).await;
            let dropped = *d.borrow();
            let probe = Probe {
                ready: r.clone(),
                drops: d.clone(),
            };
            *r.borrow_mut() = true;
            let second = select(probe, sleep_ns(50)).await;
            (first, dropped, second)
        })
        .unwrap();
    assert_eq!(out, (Either::Right(()), 1, Either::Left(7)));
    assert_eq!(*drops.borrow(), 2);
}

#[test]
fn join_waits_for_both_and_drops_each_as_it_completes() {
    /// Counts its drops when dropped.
    struct Counted(Rc<RefCell<u32>>);
    impl Drop for Counted {
        fn drop(&mut self) {
            *self.0.borrow_mut() += 1;
        }
    }
    let (ex, platform) = executor();
    let drops = Rc::new(RefCell::new(0));
    let d = drops.clone();
    let out = ex
        .block_on(async move {
            let started = platform.now_ns();
            let (d1, d2) = (d.clone(), d.clone());
            let slow = async move {
                let _guard = Counted(d1);
                sleep_ns(300).await;
                "slow"
            };
            let seen = d.clone();
            let fast = async move {
                let _guard = Counted(d2);
                sleep_ns(100).await;
                11
            };
            // (`fast` is done, and dropped, while `slow` still sleeps.)
            let watcher = async move {
                sleep_ns(200).await;
                *seen.borrow()
            };
            let ((a, b), dropped_at_200) = join(join(slow, fast), watcher).await;
            (a, b, dropped_at_200, platform.now_ns() - started)
        })
        .unwrap();
    assert_eq!(out, ("slow", 11, 1, 300));
    assert_eq!(*drops.borrow(), 2);
}

/// A platform on the real clock whose idle step blocks on a condition
/// variable until its deadline or an interrupt: what a platform with
/// another thread's wake-ups looks like, without file descriptors.
#[derive(Clone, Default)]
struct ParkingPlatform {
    poked: Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
    interrupts: Arc<AtomicU64>,
    /// A waker that `stop_requested` wakes from another thread: the
    /// executor asks it after its last empty round and before it idles,
    /// so the wake lands in the gap where no idle step runs yet.
    wake_before_idle: Arc<Mutex<Option<core::task::Waker>>>,
}

extern crate std;

impl Platform for ParkingPlatform {
    fn now_ns(&self) -> u64 {
        use std::sync::OnceLock;
        static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();
        1 + EPOCH
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_nanos() as u64
    }

    fn idle(&self, deadline_ns: Option<u64>) {
        let (lock, condvar) = &*self.poked;
        let mut poked = lock.lock().unwrap();
        while !*poked {
            let now = self.now_ns();
            let Some(deadline) = deadline_ns else {
                panic!("idle without a deadline: the test would hang");
            };
            if now >= deadline {
                break;
            }
            let wait = std::time::Duration::from_nanos(deadline - now);
            poked = condvar.wait_timeout(poked, wait).unwrap().0;
        }
        *poked = false;
    }

    fn stop_requested(&self) -> Option<i32> {
        if let Some(waker) = self.wake_before_idle.lock().take() {
            std::thread::spawn(move || waker.wake()).join().unwrap();
        }
        None
    }

    fn interrupter(&self) -> Option<Interrupter> {
        let platform = self.clone();
        Some(Interrupter::new(move || {
            platform.interrupts.fetch_add(1, Ordering::SeqCst);
            let (lock, condvar) = &*platform.poked;
            *lock.lock().unwrap() = true;
            condvar.notify_one();
        }))
    }
}

/// Waits for a wake from another thread, which wakes it `delay` after the
/// task's first poll; a 10 s timer bounds the wait. Returns how long the
/// task waited, or `None` if the timer ended the wait first.
/// (Also the unix platform's test, with its real `eventfd`.)
pub(crate) fn wait_for_a_remote_wake<P: Platform>(
    ex: &Executor<P>,
    delay: std::time::Duration,
) -> Option<std::time::Duration> {
    let started = std::time::Instant::now();
    let woken = ex
        .block_on(async move {
            let mut remote = None;
            let flag = Arc::new(core::sync::atomic::AtomicBool::new(false));
            let wait = core::future::poll_fn(move |cx| {
                if flag.load(Ordering::SeqCst) {
                    return core::task::Poll::Ready(());
                }
                if remote.is_none() {
                    let waker = cx.waker().clone();
                    let flag = flag.clone();
                    remote = Some(std::thread::spawn(move || {
                        std::thread::sleep(delay);
                        flag.store(true, Ordering::SeqCst);
                        waker.wake();
                    }));
                }
                core::task::Poll::Pending
            });
            matches!(
                select(wait, sleep_ns(10_000_000_000)).await,
                Either::Left(())
            )
        })
        .unwrap();
    woken.then(|| started.elapsed())
}

#[test]
fn a_wake_from_another_thread_interrupts_the_idle_step() {
    let platform = ParkingPlatform::default();
    let ex = Executor::new(platform.clone());
    let took = wait_for_a_remote_wake(&ex, std::time::Duration::from_millis(30))
        .expect("the 10 s timer ended the wait: the wake did not interrupt the idle step");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    assert!(platform.interrupts.load(Ordering::SeqCst) >= 1);
}

#[test]
fn wakes_from_another_thread_racing_the_idle_step_are_never_lost() {
    // Wakes at every moment around the start of the idle step: each must
    // end the wait promptly (a lost one would cost the 10 s timer).
    let ex = Executor::new(ParkingPlatform::default());
    for i in 0..300u64 {
        let delay = std::time::Duration::from_micros(i % 50);
        let took = wait_for_a_remote_wake(&ex, delay).expect("a wake from another thread was lost");
        assert!(
            took < std::time::Duration::from_secs(5),
            "round {i}: {took:?}"
        );
    }
}

#[test]
fn a_wake_from_another_thread_just_before_the_idle_step_is_not_lost() {
    let platform = ParkingPlatform::default();
    let ex = Executor::new(platform.clone());
    let slot = platform.wake_before_idle.clone();
    let started = std::time::Instant::now();
    let woken = ex
        .block_on(async move {
            let mut registered = false;
            let wait = core::future::poll_fn(move |cx| {
                if registered {
                    return core::task::Poll::Ready(());
                }
                registered = true;
                *slot.lock() = Some(cx.waker().clone());
                core::task::Poll::Pending
            });
            matches!(
                select(wait, sleep_ns(10_000_000_000)).await,
                Either::Left(())
            )
        })
        .unwrap();
    assert!(woken, "the wake was lost: the 10 s timer ended the wait");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // It was queued before the idle step began: nothing had to interrupt.
    assert_eq!(platform.interrupts.load(Ordering::SeqCst), 0);
}
