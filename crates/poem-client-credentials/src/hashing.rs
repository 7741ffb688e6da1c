//! Where Argon2 verifications run: a few threads of their own, shared fairly between the
//! sources of the requests, with bounded waiting.
//!
//! Argon2 is slow on purpose, so a flood of wrong secrets can queue far more work than
//! the machine does. Three rules keep a legitimate client's first grant from starving
//! behind it:
//!
//! - **One run at a time per source.** A source's next check queues behind its running
//!   one, and sources take turns (round robin): a source flooding the queue delays others
//!   by at most one run each turn.
//! - **Clean sources first.** A source with no failed authentication in its throttle
//!   window ([`Standing::Clean`]: a client starting up, a legitimate first grant) is served
//!   before sources that have been failing ([`Standing::Failing`]: a guesser, after its
//!   first wrong secret), so a flood of wrong secrets from many addresses delays a
//!   legitimate first grant by about one run, not by the whole queue. Each standing has
//!   its own queue capacity.
//! - **Bounded waiting.** A check that has not started by its deadline (a request gives
//!   all its checks one deadline, [`HashPool::max_wait`] after it starts) is answered
//!   [`Busy`] at once (the endpoint says 503 `temporarily_unavailable`), and so is one
//!   arriving at a full queue. A check whose request went away leaves the queue at once.
//! - **Bounded memory.** Only the pool's threads run Argon2, so at most `threads` runs
//!   (each holding its memory cost, 19 MiB by default) exist at once, whatever is queued.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    panic::AssertUnwindSafe,
    sync::{Arc, Condvar, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::oneshot;

/// Whether a check's source has failed authentication lately: it decides which queue the
/// check waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// No failure in the throttle window: served first.
    Clean = 0,
    /// At least one failure in the window.
    Failing = 1,
}

/// The pool could not start the check in time, or its queue is full: try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

type Task = Box<dyn FnOnce() -> bool + Send>;

struct Job {
    id: u64,
    tier: usize,
    deadline: Instant,
    task: Task,
    started: oneshot::Sender<()>,
    done: oneshot::Sender<bool>,
}

#[derive(Default)]
struct SourceQueue {
    jobs: VecDeque<Job>,
    running: bool,
    /// The ready queue it waits in: its standing when it last queued a job.
    tier: usize,
}

#[derive(Default)]
struct State {
    sources: HashMap<IpAddr, SourceQueue>,
    /// Sources with a queued job and none running, in turn order: clean ones, failing ones.
    ready: [VecDeque<IpAddr>; 2],
    /// Jobs queued, by standing.
    queued: [usize; 2],
    next_id: u64,
    workers_started: bool,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The Argon2 threads and their queue.
pub struct HashPool {
    shared: Arc<Shared>,
    threads: usize,
    capacity: usize,
    max_wait: Duration,
}

impl HashPool {
    /// `threads` runs at once, at most `capacity` checks queued per standing, each
    /// waiting at most `max_wait` to start. Threads start with the first check.
    pub fn new(threads: usize, capacity: usize, max_wait: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                wake: Condvar::new(),
            }),
            threads: threads.max(1),
            capacity: capacity.max(1),
            max_wait,
        }
    }

    /// The longest a check waits to start.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// Checks queued and not started, every standing together.
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.shared.lock().queued.iter().sum()
    }

    /// Runs `task` (an Argon2 verification) for `source` on a pool thread, in the
    /// source's turn, and returns its result; [`Busy`] if the queue is full or the task
    /// has not started by `deadline`. Dropping the future withdraws the task if it has not
    /// started.
    pub async fn run(
        &self,
        source: IpAddr,
        standing: Standing,
        deadline: Instant,
        task: impl FnOnce() -> bool + Send + 'static,
    ) -> Result<bool, Busy> {
        let (started_tx, started) = oneshot::channel();
        let (done_tx, done) = oneshot::channel();
        let tier = standing as usize;
        let id = {
            let mut state = self.shared.lock();
            if state.queued[tier] >= self.capacity {
                return Err(Busy);
            }
            if !state.workers_started {
                let mut spawned = 0;
                for index in 0..self.threads {
                    let shared = self.shared.clone();
                    match std::thread::Builder::new()
                        .name(format!("argon2-{index}"))
                        .spawn(move || work(&shared))
                    {
                        Ok(_) => spawned += 1,
                        Err(e) => tracing::error!(error = %e, "cannot start an Argon2 thread"),
                    }
                }
                // With no thread nothing would ever run: try again with the next check.
                if spawned == 0 {
                    return Err(Busy);
                }
                state.workers_started = true;
            }
            state.next_id += 1;
            let id = state.next_id;
            let queue = state.sources.entry(source).or_default();
            let idle = queue.jobs.is_empty() && !queue.running;
            if idle {
                queue.tier = tier;
            }
            let waits_in = queue.tier;
            queue.jobs.push_back(Job {
                id,
                tier,
                deadline,
                task: Box::new(task),
                started: started_tx,
                done: done_tx,
            });
            if idle {
                state.ready[waits_in].push_back(source);
            }
            state.queued[tier] += 1;
            id
        };
        let _queued = Queued {
            shared: &self.shared,
            source,
            id,
        };
        self.shared.wake.notify_one();
        match tokio::time::timeout_at(deadline.into(), started).await {
            Ok(Ok(())) => done.await.map_err(|_| Busy),
            _ => Err(Busy),
        }
    }
}

/// A queued job's place: when its request stops waiting (answered, timed out or gone),
/// a job that has not started leaves the queue, so dead jobs never fill it.
struct Queued<'a> {
    shared: &'a Shared,
    source: IpAddr,
    id: u64,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        let Some(queue) = state.sources.get_mut(&self.source) else {
            return;
        };
        let Some(position) = queue.jobs.iter().position(|job| job.id == self.id) else {
            return;
        };
        let Some(job) = queue.jobs.remove(position) else {
            return;
        };
        let forget = queue.jobs.is_empty() && !queue.running;
        state.queued[job.tier] -= 1;
        if forget {
            state.sources.remove(&self.source);
            let source = self.source;
            for ready in &mut state.ready {
                ready.retain(|s| *s != source);
            }
        }
    }
}

impl Drop for HashPool {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_all();
    }
}

/// A pool thread: takes the next source's next job, runs it unless it is stale or
/// abandoned, and puts the source back in turn if it has more.
fn work(shared: &Shared) {
    loop {
        let (source, job) = {
            let mut state = shared.lock();
            loop {
                if state.closed {
                    return;
                }
                let next = match state.ready[0].pop_front() {
                    Some(source) => Some(source),
                    None => state.ready[1].pop_front(),
                };
                if let Some(source) = next {
                    let job = state.sources.get_mut(&source).and_then(|queue| {
                        queue.running = true;
                        queue.jobs.pop_front()
                    });
                    if let Some(job) = job {
                        state.queued[job.tier] -= 1;
                        break (source, job);
                    }
                    continue;
                }
                state = shared.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            }
        };
        let abandoned = job.done.is_closed();
        if !abandoned
            && Instant::now() <= job.deadline
            && job.started.send(()).is_ok()
            // The request may have given up between the two checks.
            && !job.done.is_closed()
        {
            let verified = std::panic::catch_unwind(AssertUnwindSafe(job.task)).unwrap_or(false);
            let _ = job.done.send(verified);
        }
        let mut state = shared.lock();
        // The source waits in the queue of its next job's standing: its failing jobs do
        // not ride the clean queue behind a clean one.
        let more = state.sources.get_mut(&source).and_then(|queue| {
            queue.running = false;
            let tier = queue.jobs.front()?.tier;
            queue.tier = tier;
            Some(tier)
        });
        if let Some(tier) = more {
            state.ready[tier].push_back(source);
        } else {
            state.sources.remove(&source);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A deadline 100 ms away.
    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(100)
    }

    /// Holds the task that calls [`Gate::hold`] on its pool thread until [`Gate::open`],
    /// so a test queues everything else behind it in a known order, however fast or slow
    /// this machine spawns tasks.
    #[derive(Default)]
    struct Gate {
        /// (the held task has started, the gate is open)
        state: Mutex<(bool, bool)>,
        changed: Condvar,
    }

    impl Gate {
        fn hold(&self) {
            let mut state = self.state.lock().unwrap();
            state.0 = true;
            self.changed.notify_all();
            while !state.1 {
                state = self.changed.wait(state).unwrap();
            }
        }

        async fn wait_started(&self) {
            let waited = Instant::now();
            while !self.state.lock().unwrap().0 {
                assert!(waited.elapsed() < Duration::from_secs(10), "never started");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }

        fn open(&self) {
            self.state.lock().unwrap().1 = true;
            self.changed.notify_all();
        }
    }

    /// Waits until `count` checks are queued (not started) in `pool`.
    async fn wait_until_queued(pool: &HashPool, count: usize) {
        let waited = Instant::now();
        while pool.queued() < count {
            assert!(waited.elapsed() < Duration::from_secs(10), "never queued");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_source_runs_one_task_at_a_time_and_sources_take_turns() {
        let pool = Arc::new(HashPool::new(2, 100, Duration::from_secs(10)));
        let running_a = Arc::new(AtomicUsize::new(0));
        let most_a = Arc::new(AtomicUsize::new(0));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        // A's first task holds its thread until everything is queued.
        let gate = Arc::new(Gate::default());
        // Five tasks from A queued before one from B: B runs before A's last ones.
        for i in 0..6 {
            let (source, name) = if i == 5 {
                (ip("192.0.2.2"), "b")
            } else {
                (ip("192.0.2.1"), "a")
            };
            let (task_pool, running, most, order, task_gate) = (
                pool.clone(),
                running_a.clone(),
                most_a.clone(),
                order.clone(),
                gate.clone(),
            );
            handles.push(tokio::spawn(async move {
                task_pool
                    .run(
                        source,
                        Standing::Clean,
                        Instant::now() + Duration::from_secs(30),
                        move || {
                            if name == "a" {
                                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                                most.fetch_max(now, Ordering::SeqCst);
                            }
                            if i == 0 {
                                task_gate.hold();
                            }
                            std::thread::sleep(Duration::from_millis(30));
                            order.lock().unwrap().push(name);
                            if name == "a" {
                                running.fetch_sub(1, Ordering::SeqCst);
                            }
                            true
                        },
                    )
                    .await
            }));
            if i == 0 {
                gate.wait_started().await;
            }
            // A's next tasks wait behind the first; B may start at once on the other thread.
            if i < 5 {
                wait_until_queued(&pool, i).await;
            }
        }
        gate.open();
        for handle in handles {
            assert_eq!(handle.await.unwrap(), Ok(true));
        }
        assert_eq!(most_a.load(Ordering::SeqCst), 1, "A never ran two at once");
        let order = order.lock().unwrap().clone();
        let b = order.iter().position(|n| *n == "b").unwrap();
        assert!(
            b <= 2,
            "B waited for at most A's running task and one more: {order:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn clean_sources_are_served_before_failing_ones() {
        let pool = Arc::new(HashPool::new(1, 100, Duration::from_secs(10)));
        let order = Arc::new(Mutex::new(Vec::new()));
        let deadline = Instant::now() + Duration::from_secs(30);
        // The first task holds the only thread until every other one is queued.
        let gate = Arc::new(Gate::default());
        let mut handles = Vec::new();
        // One running, then ten failing sources queued, then a clean one.
        for i in 0..12u8 {
            let (standing, name) = match i {
                11 => (Standing::Clean, "clean".to_owned()),
                _ => (Standing::Failing, format!("failing-{i}")),
            };
            let (task_pool, order, task_gate) = (pool.clone(), order.clone(), gate.clone());
            handles.push(tokio::spawn(async move {
                task_pool
                    .run(
                        IpAddr::from([192, 0, 2, i]),
                        standing,
                        deadline,
                        move || {
                            if i == 0 {
                                task_gate.hold();
                            }
                            order.lock().unwrap().push(name);
                            true
                        },
                    )
                    .await
            }));
            // Queued in this order: the first running, then each queued before the next.
            if i == 0 {
                gate.wait_started().await;
            }
            wait_until_queued(&pool, usize::from(i)).await;
        }
        gate.open();
        for handle in handles {
            assert_eq!(handle.await.unwrap(), Ok(true));
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(
            order.iter().position(|n| n == "clean"),
            Some(1),
            "the clean source waited only for what was running: {order:?}"
        );
    }

    #[tokio::test]
    async fn a_task_that_cannot_start_in_time_or_finds_the_queue_full_is_busy() {
        let pool = Arc::new(HashPool::new(1, 2, Duration::from_millis(100)));
        let blocker = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(ip("192.0.2.1"), Standing::Clean, soon(), || {
                    std::thread::sleep(Duration::from_millis(400));
                    true
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let waiting = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(ip("192.0.2.2"), Standing::Clean, soon(), || true)
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let ran = Arc::new(AtomicUsize::new(0));
        let queued_third = {
            let (pool, ran) = (pool.clone(), ran.clone());
            tokio::spawn(async move {
                pool.run(ip("192.0.2.3"), Standing::Clean, soon(), move || {
                    ran.fetch_add(1, Ordering::SeqCst);
                    true
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            pool.run(ip("192.0.2.4"), Standing::Clean, soon(), || true)
                .await,
            Err(Busy),
            "two queued: the queue is full"
        );
        assert_eq!(waiting.await.unwrap(), Err(Busy));
        assert_eq!(queued_third.await.unwrap(), Err(Busy));
        assert_eq!(blocker.await.unwrap(), Ok(true));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "a stale task is skipped, not run"
        );
        assert_eq!(
            pool.run(ip("192.0.2.2"), Standing::Clean, soon(), || false)
                .await,
            Ok(false)
        );
        let state = pool.shared.lock();
        assert_eq!(state.queued, [0, 0], "timed-out jobs left the queue");
        assert!(state.ready.iter().all(VecDeque::is_empty));
    }
}
