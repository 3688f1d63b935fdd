//! The executor: tasks, the ready queue, spawning and the run loop.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::task::{Context, Poll, Waker};

use spin::Mutex;

use super::local::LocalOnly;
use super::timer::TimerQueue;
use super::waker::{header_of, waker_for};
use super::{Interrupter, Platform};

/// A task's future, boxed: tasks of every type share one table. Boxing
/// happens once per spawn, never per poll.
pub(super) type TaskFuture = Pin<Box<dyn Future<Output = ()>>>;

/// How many rounds of ready tasks may run back to back before the executor
/// checks the platform's event sources without blocking and fires the
/// timers that are due, so that tasks that keep waking each other cannot
/// starve I/O or timers. (Timers are also fired after every idle step:
/// reading the clock at every round would cost more than a round of a few
/// tasks.)
const ROUNDS_BETWEEN_EVENT_CHECKS: u32 = 32;

/// State shared by an executor with its wakers, timers and spawners.
pub(super) struct Shared {
    /// Ids of the tasks to poll, each at most once (see `TaskHeader::queued`).
    ready: Mutex<VecDeque<TaskId>>,
    /// Pending timers.
    pub(super) timers: Mutex<TimerQueue>,
    /// The time up to which timers have been fired (a copy of the queue's,
    /// readable without its lock: a pending [`super::Sleep`] polled again
    /// compares its deadline with it).
    pub(super) fired_until: AtomicU64,
    /// Tasks spawned through a [`Spawner`], admitted by the executor's thread.
    incoming: Mutex<LocalOnly<Vec<TaskFuture>>>,
    /// Whether `incoming` may hold tasks: the executor looks at every turn,
    /// and a load costs less than taking the lock.
    has_incoming: AtomicBool,
    /// False once the executor is gone: spawning then drops the future.
    alive: AtomicBool,
    /// The platform's monotonic clock.
    clock: Box<dyn Fn() -> u64 + Send + Sync>,
    /// Whether the executor is in (or about to enter) its blocking idle
    /// step. Written by the executor's thread only, before and after the
    /// step; read by [`TaskHeader::schedule`] under the `ready` lock.
    idling: AtomicBool,
    /// What ends the executor's idle step from another thread, if the
    /// platform has it.
    interrupter: Option<Interrupter>,
}

impl Shared {
    /// The monotonic time of the platform.
    pub(super) fn now_ns(&self) -> u64 {
        (self.clock)()
    }
}

/// A task's place in the executor's table: its slot and the generation of
/// the slot (a slot is reused once its task completes; a late wake-up of
/// the completed task then names an older generation and is ignored).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct TaskId {
    index: u32,
    generation: u32,
}

/// What a waker refers to: a task of one executor.
pub(super) struct TaskHeader {
    id: TaskId,
    /// Whether the task is in the ready queue.
    queued: AtomicBool,
    pub(super) shared: Arc<Shared>,
}

impl TaskHeader {
    /// Puts the task in its executor's ready queue unless it is there.
    ///
    /// A wake-up while the executor idles interrupts the idle step: it
    /// comes from another thread (or from the platform's idle step itself,
    /// which the interrupter may ignore), and the task would otherwise wait
    /// until the step ended for its own reasons. The flag is read under
    /// the queue's lock, which the executor takes after raising it and
    /// before idling: either this push comes first and the executor sees
    /// the task and does not idle, or the lock orders the raised flag
    /// before this read.
    pub(super) fn schedule(&self) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            let idling = {
                let mut ready = self.shared.ready.lock();
                ready.push_back(self.id);
                self.shared.idling.load(Ordering::Relaxed)
            };
            if idling && let Some(interrupter) = &self.shared.interrupter {
                interrupter.interrupt();
            }
        }
    }
}

/// The shared state of the executor running the task that `waker` belongs
/// to. Panics with an explanation when the waker is foreign: the runtime's
/// timers and spawners work only inside a mirage executor.
pub(super) fn shared_of(waker: &Waker, what: &str) -> Arc<Shared> {
    match header_of(waker) {
        Some(header) => header.shared.clone(),
        None => panic!("{what} must be awaited inside a task of a mirage::rt::Executor"),
    }
}

struct Slot {
    waker: Waker,
    future: TaskFuture,
}

/// An entry of the task table: the generation of the slot and its task, if
/// one lives there.
struct Entry {
    generation: u32,
    task: Option<Slot>,
}

/// The tasks, indexed by slot (a wake-up finds its task without a search).
#[derive(Default)]
struct Tasks {
    entries: Vec<Entry>,
    /// Slots whose task completed, to reuse.
    free: Vec<u32>,
}

/// The executor stopped because the platform was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// The signal that asked for the stop (SIGINT = 2, SIGTERM = 15 on unix).
    pub signal: i32,
}

/// A single-threaded cooperative executor over the platform `P`.
pub struct Executor<P: Platform> {
    platform: Arc<P>,
    shared: Arc<Shared>,
    tasks: RefCell<Tasks>,
    /// The number of tasks in `tasks`.
    live: Cell<usize>,
    /// The ids of the round being run, swapped with the ready queue once
    /// per round (and kept, with its capacity, between rounds).
    round: RefCell<VecDeque<TaskId>>,
}

impl<P: Platform> Executor<P> {
    /// An executor that idles with `platform`.
    pub fn new(platform: P) -> Self {
        let platform = Arc::new(platform);
        let clock_platform = platform.clone();
        // (An executor is not `Send`: this thread is the one that idles.)
        let interrupter = platform.interrupter();
        let shared = Arc::new(Shared {
            ready: Mutex::new(VecDeque::new()),
            timers: Mutex::new(TimerQueue::default()),
            fired_until: AtomicU64::new(0),
            incoming: Mutex::new(LocalOnly::new(Vec::new())),
            has_incoming: AtomicBool::new(false),
            alive: AtomicBool::new(true),
            clock: Box::new(move || clock_platform.now_ns()),
            idling: AtomicBool::new(false),
            interrupter,
        });
        Executor {
            platform,
            shared,
            tasks: RefCell::new(Tasks::default()),
            live: Cell::new(0),
            round: RefCell::new(VecDeque::new()),
        }
    }

    /// The platform this executor idles with.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// A handle that spawns tasks on this executor.
    pub fn spawner(&self) -> Spawner {
        Spawner {
            shared: self.shared.clone(),
            _single_threaded: PhantomData,
        }
    }

    /// Spawns a task; it first runs when the executor runs.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.spawner().spawn(future)
    }

    /// Runs `future` and every task it spawns until `future` completes, and
    /// returns its output; or returns [`Stopped`] when the platform is asked
    /// to stop first. Tasks still pending when `future` completes stay in
    /// the executor (a later `block_on` continues them).
    pub fn block_on<F>(&self, future: F) -> Result<F::Output, Stopped>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let mut main = self.spawn(future);
        let mut busy_rounds = 0u32;
        let mut check_timers = true;
        loop {
            if check_timers {
                self.fire_timers();
            }
            self.admit_spawned();
            let polled = self.run_ready_round();
            if let Some(output) = main.try_take() {
                return Ok(output);
            }
            // Tasks that ran may have woken others: the next round tells
            // (an empty round, and the executor idles).
            if polled > 0 {
                busy_rounds += 1;
                check_timers = busy_rounds >= ROUNDS_BETWEEN_EVENT_CHECKS;
                if check_timers {
                    busy_rounds = 0;
                    // A deadline in the past (0 is before any time): the
                    // platform checks its event sources without blocking,
                    // and no clock is read for it here (the timers, next,
                    // read it).
                    self.platform.idle(Some(0));
                }
                continue;
            }
            busy_rounds = 0;
            check_timers = true;
            if let Some(signal) = self.platform.stop_requested() {
                return Err(Stopped { signal });
            }
            // A deadline that passed while the executor was busy is in the
            // past: the platform then only checks its event sources.
            let deadline = self.shared.timers.lock().next_deadline();
            self.idle(deadline);
        }
    }

    /// The number of tasks that have not completed.
    pub fn live_tasks(&self) -> usize {
        self.live.get() + self.shared.incoming.lock().get().len()
    }

    #[cfg(test)]
    pub(super) fn shared_for_tests(&self) -> &Shared {
        &self.shared
    }

    /// The platform's blocking idle step, unless another thread queued a
    /// task meanwhile (see [`TaskHeader::schedule`]).
    fn idle(&self, deadline: Option<u64>) {
        self.shared.idling.store(true, Ordering::Relaxed);
        // The lock orders the flag before any later wake's read of it.
        let woken = !self.shared.ready.lock().is_empty();
        if !woken {
            self.platform.idle(deadline);
        }
        self.shared.idling.store(false, Ordering::Relaxed);
    }

    fn fire_timers(&self) {
        let now = self.shared.now_ns();
        let expired = {
            let mut timers = self.shared.timers.lock();
            let expired = timers.take_expired(now);
            self.shared
                .fired_until
                .store(timers.fired_until(), Ordering::Relaxed);
            expired
        };
        for waker in expired {
            waker.wake();
        }
    }

    /// Takes the tasks spawned since the last call into the task table.
    // (Inlined: at every round; the rest only when something was spawned.)
    #[inline]
    fn admit_spawned(&self) {
        if self.shared.has_incoming.load(Ordering::Acquire) {
            self.admit_incoming();
        }
    }

    #[cold]
    fn admit_incoming(&self) {
        let spawned = {
            let mut incoming = self.shared.incoming.lock();
            self.shared.has_incoming.store(false, Ordering::Release);
            core::mem::take(incoming.get_mut())
        };
        let mut tasks = self.tasks.borrow_mut();
        for future in spawned {
            let index = match tasks.free.pop() {
                Some(index) => index,
                None => {
                    tasks.entries.push(Entry {
                        generation: 0,
                        task: None,
                    });
                    u32::try_from(tasks.entries.len() - 1).expect("fewer than 2^32 tasks")
                }
            };
            let entry = &mut tasks.entries[index as usize];
            let id = TaskId {
                index,
                generation: entry.generation,
            };
            let header = Arc::new(TaskHeader {
                id,
                queued: AtomicBool::new(false),
                shared: self.shared.clone(),
            });
            header.schedule();
            entry.task = Some(Slot {
                waker: waker_for(header),
                future,
            });
            self.live.set(self.live.get() + 1);
        }
    }

    /// Polls each task that was ready when the round began, once; how many
    /// were polled.
    fn run_ready_round(&self) -> usize {
        let mut round = self.round.borrow_mut();
        // One lock per round: tasks woken from now on queue for the next.
        core::mem::swap(&mut *self.shared.ready.lock(), &mut *round);
        let polled = round.len();
        // (`pop_front` rather than a drain: fewer instructions per task.)
        while let Some(id) = round.pop_front() {
            let mut tasks = self.tasks.borrow_mut();
            let tasks = &mut *tasks;
            let Some(entry) = tasks.entries.get_mut(id.index as usize) else {
                continue;
            };
            if entry.generation != id.generation {
                continue; // completed after it was woken
            }
            let Some(slot) = entry.task.as_mut() else {
                continue;
            };
            if let Some(header) = header_of(&slot.waker) {
                // A swap, not a store: a wake from another thread that
                // still saw `true` (and so queued nothing) is ordered
                // before this read-modify-write, whose acquire then makes
                // what that thread did before waking visible to the poll
                // below. With a plain store, the poll's reads could pass
                // it (store-buffer reordering) and miss that state while
                // the wake was dropped: a lost wake-up.
                header.queued.swap(false, Ordering::AcqRel);
            }
            let mut cx = Context::from_waker(&slot.waker);
            if slot.future.as_mut().poll(&mut cx).is_ready() {
                entry.task = None;
                entry.generation = entry.generation.wrapping_add(1);
                tasks.free.push(id.index);
                self.live.set(self.live.get() - 1);
            }
        }
        polled
    }
}

impl<P: Platform> Drop for Executor<P> {
    fn drop(&mut self) {
        // Task futures are dropped here, on the executor's thread; late
        // spawns are refused from now on (see `Spawner::spawn`).
        self.shared.alive.store(false, Ordering::Release);
        let tasks = core::mem::take(&mut *self.tasks.borrow_mut());
        drop(tasks);
        self.live.set(0);
        let spawned = core::mem::take(self.shared.incoming.lock().get_mut());
        drop(spawned);
        self.shared.timers.lock().clear();
    }
}

/// Spawns tasks on an executor. Not `Send`: tasks are spawned from the
/// executor's own thread (from inside its tasks, or by its owner).
#[derive(Clone)]
pub struct Spawner {
    shared: Arc<Shared>,
    _single_threaded: PhantomData<*const ()>,
}

impl Spawner {
    /// The spawner of the executor running the calling task.
    ///
    /// Panics if awaited outside a mirage executor.
    pub async fn for_current_executor() -> Spawner {
        core::future::poll_fn(|cx| {
            Poll::Ready(Spawner {
                shared: shared_of(cx.waker(), "Spawner::for_current_executor"),
                _single_threaded: PhantomData,
            })
        })
        .await
    }

    /// Spawns `future` as a new task and returns a handle to its output.
    /// Dropping the handle detaches the task; it keeps running.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let state = Rc::new(RefCell::new(JoinState {
            output: None,
            waiter: None,
        }));
        let handle = JoinHandle {
            state: state.clone(),
        };
        if !self.shared.alive.load(Ordering::Acquire) {
            return handle; // the executor is gone: the task can never run
        }
        let task: TaskFuture = Box::pin(async move {
            let output = future.await;
            let waiter = {
                let mut state = state.borrow_mut();
                state.output = Some(output);
                state.waiter.take()
            };
            if let Some(waiter) = waiter {
                waiter.wake();
            }
        });
        self.shared.incoming.lock().get_mut().push(task);
        self.shared.has_incoming.store(true, Ordering::Release);
        handle
    }
}

struct JoinState<T> {
    output: Option<T>,
    waiter: Option<Waker>,
}

/// The output of a spawned task, awaitable.
pub struct JoinHandle<T> {
    state: Rc<RefCell<JoinState<T>>>,
}

impl<T> JoinHandle<T> {
    /// Takes the task's output if it has completed.
    pub fn try_take(&mut self) -> Option<T> {
        self.state.borrow_mut().output.take()
    }

    /// Whether the task has completed (and its output was not yet taken).
    pub fn is_finished(&self) -> bool {
        self.state.borrow().output.is_some()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut state = self.state.borrow_mut();
        match state.output.take() {
            Some(output) => Poll::Ready(output),
            None => {
                state.waiter = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Yields once to the other ready tasks.
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            Poll::Ready(())
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
