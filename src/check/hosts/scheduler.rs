//! The host-aware stage between the targets and the probes: a FIFO queue per host, and the next
//! target whose host has room (see the module docs of `hosts`).

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Future, Stream};
use tokio::time::{Instant, Sleep};

use super::{host_key, Blocked, Host, HostPermit, Hosts};
use crate::check::targets::Target;

/// Targets read, when the input has them ready, before one is sent: so that a URL knows whether
/// the next ones of its host are behind it (and keeps its connection for them).
const WINDOW: usize = 64;
/// How long the first target waits for the window to fill while the input is still arriving (a
/// reader thread just started, a pipe): otherwise the first URLs of a host go before the others
/// are read, each asks to close and takes a connection of its own, where an HTTP/2 host would
/// have carried them all on one.
const WARM_UP: Duration = Duration::from_millis(20);

/// What the scheduler yields: a target, with the permit of its host (none for an invalid line,
/// which is never sent).
pub type Scheduled = (Target, Option<HostPermit>);

/// The host-aware stage between the targets and the probes (see the module docs).
pub struct Scheduler<S> {
    input: S,
    input_done: bool,
    hosts: Hosts,
    look_ahead: usize,
    queues: HashMap<Arc<str>, VecDeque<(u64, Target)>>,
    /// Targets held in `queues`.
    held: usize,
    /// Numbers the targets in input order.
    seq: u64,
    /// Hosts that may have room, by the number of their oldest target: the oldest goes first.
    candidates: BTreeSet<(u64, Arc<str>)>,
    /// Hosts held back by a pause or the interval, by when it ends.
    timers: BinaryHeap<Reverse<(Instant, Arc<str>)>>,
    sleep: Pin<Box<Sleep>>,
    /// Until when the first target waits for the window (see `WARM_UP`); `None` once past.
    warm_up: Option<Option<Instant>>,
    /// The target queued last is alone in its host's queue.
    alone: bool,
}

impl<S: Stream<Item = Target> + Unpin> Scheduler<S> {
    pub fn new(input: S, hosts: Hosts, look_ahead: usize) -> Self {
        Scheduler {
            input,
            input_done: false,
            hosts,
            look_ahead: look_ahead.max(1),
            queues: HashMap::new(),
            held: 0,
            seq: 0,
            candidates: BTreeSet::new(),
            timers: BinaryHeap::new(),
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            warm_up: Some(None),
            alone: false,
        }
    }

    /// Whether the first target should still wait for more of the input (see `WARM_UP`).
    fn warming_up(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(until) = self.warm_up else {
            return false;
        };
        let until = until.unwrap_or_else(|| Instant::now() + WARM_UP);
        self.warm_up = Some(Some(until));
        if self.input_done || self.held >= self.look_ahead.min(WINDOW) || Instant::now() >= until {
            self.warm_up = None;
            return false;
        }
        self.sleep.as_mut().reset(until);
        // Woken by the input or at the end of the warm-up, whichever comes first.
        self.sleep.as_mut().poll(cx).is_pending()
    }

    /// Queue a valid target under its host; hand back one that has no host.
    fn enqueue(&mut self, target: Target) -> Option<Target> {
        let Target::Valid { url, .. } = &target else {
            return Some(target);
        };
        let key: Arc<str> = host_key(url).into();
        self.seq += 1;
        let queue = self.queues.entry(key.clone()).or_default();
        queue.push_back((self.seq, target));
        self.alone = queue.len() == 1;
        if self.alone {
            self.candidates.insert((self.seq, key.clone()));
        }
        self.held += 1;
        let shared = &self.hosts.shared;
        let mut state = shared.lock();
        if !state.live.contains_key(&key) && state.live.len() >= state.sweep_at {
            state.sweep(Instant::now());
        }
        state
            .live
            .entry(key)
            .or_insert_with(|| Host::new(&shared.policy))
            .queued += 1;
        None
    }

    /// Mark `key` as a candidate again, if it has targets queued.
    fn reconsider(&mut self, key: Arc<str>) {
        if let Some((seq, _)) = self.queues.get(&key).and_then(VecDeque::front) {
            self.candidates.insert((*seq, key));
        }
    }

    /// The oldest queued target whose host can take it now.
    fn next_ready(&mut self) -> Option<Scheduled> {
        let now = Instant::now();
        let shared = self.hosts.shared.clone();
        while let Some((seq, key)) = self.candidates.pop_first() {
            let Some(queue) = self.queues.get_mut(&key) else {
                continue;
            };
            if queue.front().is_none_or(|(head, _)| *head != seq) {
                continue; // stale: the head went out through a newer entry
            }
            let mut state = shared.lock();
            let host = state
                .live
                .entry(key.clone())
                .or_insert_with(|| Host::new(&shared.policy));
            match host.blocked(now, false) {
                Some(Blocked::Until(at)) => self.timers.push(Reverse((at, key))),
                Some(Blocked::Busy) => {}
                None => {
                    host.start(now, shared.policy.interval);
                    host.queued -= 1;
                    drop(state);
                    let (_, target) = queue.pop_front().expect("the head was just seen");
                    match queue.front() {
                        Some((next, _)) => {
                            self.candidates.insert((*next, key.clone()));
                        }
                        None => {
                            self.queues.remove(&key);
                        }
                    }
                    self.held -= 1;
                    let permit = HostPermit { shared, key };
                    return Some((target, Some(permit)));
                }
            }
        }
        None
    }
}

impl<S: Stream<Item = Target> + Unpin> Stream for Scheduler<S> {
    type Item = Scheduled;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Scheduled>> {
        let this = &mut *self;
        // Before looking at what was freed, so that a release after the look wakes us.
        this.hosts.shared.scheduler.register(cx.waker());
        loop {
            let woken = std::mem::take(&mut this.hosts.shared.lock().woken);
            for key in woken {
                this.reconsider(key);
            }
            let now = Instant::now();
            while let Some(Reverse((at, _))) = this.timers.peek() {
                if *at > now {
                    break;
                }
                let Some(Reverse((_, key))) = this.timers.pop() else {
                    break;
                };
                this.reconsider(key);
            }
            while !this.input_done && this.held < this.look_ahead.min(WINDOW) {
                match Pin::new(&mut this.input).poll_next(cx) {
                    Poll::Ready(Some(target)) => {
                        if let Some(unsent) = this.enqueue(target) {
                            return Poll::Ready(Some((unsent, None)));
                        }
                    }
                    Poll::Ready(None) => this.input_done = true,
                    Poll::Pending => break,
                }
            }
            if this.warming_up(cx) {
                return Poll::Pending;
            }
            if let Some(next) = this.next_ready() {
                return Poll::Ready(Some(next));
            }
            if !this.input_done && this.held < this.look_ahead {
                match Pin::new(&mut this.input).poll_next(cx) {
                    Poll::Ready(Some(target)) => {
                        if let Some(unsent) = this.enqueue(target) {
                            return Poll::Ready(Some((unsent, None)));
                        }
                        // A target alone in its host's queue would go with nothing behind it:
                        // read the next one too, when it is there. A list sorted by site
                        // reaches each new site here, a target at a time, and the site's first
                        // target must know whether the next is of its host.
                        if this.alone && this.held < this.look_ahead {
                            match Pin::new(&mut this.input).poll_next(cx) {
                                Poll::Ready(Some(next)) => {
                                    if let Some(unsent) = this.enqueue(next) {
                                        return Poll::Ready(Some((unsent, None)));
                                    }
                                }
                                Poll::Ready(None) => this.input_done = true,
                                Poll::Pending => {}
                            }
                        }
                        continue;
                    }
                    Poll::Ready(None) => {
                        this.input_done = true;
                        continue;
                    }
                    Poll::Pending => {}
                }
            }
            if this.input_done && this.held == 0 {
                return Poll::Ready(None);
            }
            if let Some(Reverse((at, _))) = this.timers.peek() {
                this.sleep.as_mut().reset(*at);
                if this.sleep.as_mut().poll(cx).is_ready() {
                    continue;
                }
            }
            return Poll::Pending;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Connection, HostPolicy};
    use super::*;
    use crate::check::targets::Scheme;
    use futures::{FutureExt, StreamExt};

    fn targets(urls: &[&str]) -> futures::stream::Iter<std::vec::IntoIter<Target>> {
        let all: Vec<Target> = urls.iter().map(|u| Target::parse(u, Scheme::Https)).collect();
        futures::stream::iter(all)
    }

    fn policy(concurrency: u32) -> HostPolicy {
        HostPolicy {
            concurrency,
            ..HostPolicy::default()
        }
    }

    /// The next target at once, if there is one ready.
    fn now<S: Stream<Item = Target> + Unpin>(s: &mut Scheduler<S>) -> Option<(String, Option<HostPermit>)> {
        s.next()
            .now_or_never()
            .flatten()
            .map(|(t, p)| (t.display().to_string(), p))
    }

    #[tokio::test]
    async fn a_busy_host_never_blocks_the_targets_behind_it() {
        let hosts = Hosts::new(policy(2));
        let input = targets(&[
            "a.test/1",
            "a.test/2",
            "a.test/3",
            "a.test/4",
            "b.test/1",
            "not a url",
            "b.test/2",
        ]);
        let mut s = Scheduler::new(input, hosts.clone(), 100);
        let (invalid, none) = now(&mut s).expect("read ahead, never sent");
        assert_eq!(invalid, "not a url");
        assert!(none.is_none());
        let (a1, p_a1) = now(&mut s).expect("a ready target");
        let (a2, _p_a2) = now(&mut s).expect("a ready target");
        assert_eq!(
            (a1.as_str(), a2.as_str()),
            ("https://a.test/1", "https://a.test/2")
        );
        // a.test is at its limit: b.test's targets go past it.
        let order: Vec<String> = (0..2).map(|_| now(&mut s).expect("ready").0).collect();
        assert_eq!(order, ["https://b.test/1", "https://b.test/2"]);
        assert!(now(&mut s).is_none(), "a.test is busy");
        drop(p_a1);
        let (a3, p_a3) = now(&mut s).expect("a slot came back");
        assert_eq!(a3, "https://a.test/3");
        assert_eq!(
            p_a3.expect("a permit").now().connection,
            Connection::Keep,
            "a.test/4 waits"
        );
        let (_, p_a4) = now(&mut s).expect("a slot came back");
        assert_eq!(
            p_a4.as_ref().expect("a permit").now().connection,
            Connection::Last,
            "after a.test/1-3"
        );
        drop(p_a4);
        assert!(s.next().await.is_none());
        let summary = hosts.summary();
        assert_eq!(summary.busiest[0].host, "https://a.test:443");
        assert_eq!(summary.busiest[0].figures.requests, 4);
        assert_eq!(summary.busiest[0].figures.max_in_flight, 2);
    }

    #[tokio::test]
    async fn the_first_target_waits_a_moment_for_the_ones_behind_it() {
        let target = |u: &str| Target::parse(u, Scheme::Https);
        for (gap, behind_it) in [
            (Duration::from_millis(5), true),
            (Duration::from_millis(300), false),
        ] {
            let hosts = Hosts::new(policy(6));
            let (tx, rx) = futures::channel::mpsc::unbounded();
            tx.unbounded_send(target("a.test/1")).unwrap();
            let late = tokio::spawn(async move {
                tokio::time::sleep(gap).await;
                let _ = tx.unbounded_send(target("a.test/2"));
            });
            let mut s = Scheduler::new(rx, hosts.clone(), 100);
            let started = Instant::now();
            let (first, permit) = s.next().await.expect("a target");
            assert_eq!(first.display(), "https://a.test/1");
            let permit = permit.expect("a permit");
            assert_eq!(permit.now().connection == Connection::Keep, behind_it, "{gap:?}");
            assert!(
                started.elapsed() < Duration::from_millis(250),
                "{gap:?}: at most the warm-up"
            );
            late.abort();
        }
    }

    #[tokio::test]
    async fn a_new_site_read_beyond_the_window_knows_its_next_target_is_behind_it() {
        let hosts = Hosts::new(policy(1));
        let urls: Vec<String> = (0..70)
            .map(|i| format!("a.test/{i}"))
            .chain(["b.test/1".into(), "b.test/2".into()])
            .collect();
        let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
        let mut s = Scheduler::new(targets(&refs), hosts.clone(), 100);
        let (_a0, _busy) = now(&mut s).expect("a.test/0");
        let (b1, permit) = now(&mut s).expect("b.test/1, past a.test's queue");
        assert_eq!(b1, "https://b.test/1");
        assert!(
            permit.expect("a permit").now().connection == Connection::Keep,
            "b.test/2 was read with it"
        );
    }

    #[tokio::test]
    async fn the_look_ahead_is_bounded_and_distinct_hosts_are_forgotten() {
        let hosts = Hosts::new(policy(1));
        let urls: Vec<String> = (0..10)
            .map(|i| format!("a.test/{i}"))
            .chain(["b.test/".into()])
            .collect();
        let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
        let mut s = Scheduler::new(targets(&refs), hosts.clone(), 4);
        let (_, p) = now(&mut s).expect("a.test/0");
        assert!(now(&mut s).is_none(), "b.test is beyond the look-ahead");
        drop(p);
        while let Some((t, p)) = s.next().await {
            if t.display() == "https://b.test/" {
                let only = p.expect("a permit").now().connection;
                assert_eq!(only, Connection::Only, "the one URL of its host");
            }
        }
        assert_eq!(hosts.live_hosts(), 0);
        let summary = hosts.summary();
        assert_eq!((summary.other_hosts, summary.others.requests), (1, 1), "b.test");
    }

    #[tokio::test]
    async fn a_429_halves_the_limit_once_per_pause_and_answers_grow_it_back() {
        let hosts = Hosts::new(policy(8));
        let urls: Vec<String> = (0..20).map(|i| format!("a.test/{i}")).collect();
        let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
        let mut s = Scheduler::new(targets(&refs), hosts.clone(), 100);
        let mut permits: Vec<HostPermit> = (0..8)
            .map(|_| now(&mut s).expect("room").1.expect("a permit"))
            .collect();
        assert!(now(&mut s).is_none());
        for p in &permits[..3] {
            p.throttled(Duration::from_millis(100));
        }
        permits.clear();
        assert!(now(&mut s).is_none(), "paused");
        let started = std::time::Instant::now();
        let (_, first) = s.next().await.expect("after the pause");
        assert!(started.elapsed() >= Duration::from_millis(80));
        let mut after: Vec<HostPermit> = vec![first.expect("a permit")];
        while let Some((_, p)) = now(&mut s) {
            after.push(p.expect("a permit"));
        }
        assert_eq!(after.len(), 4, "8 halved once");
        after[0].answered(false);
        assert!(now(&mut s).is_some(), "one more after an answer");
        assert_eq!(hosts.summary().busiest[0].figures.throttled, 3);
    }

    #[tokio::test]
    async fn requests_to_a_host_keep_the_interval() {
        let hosts = Hosts::new(HostPolicy {
            interval: Duration::from_millis(60),
            ..policy(4)
        });
        let mut s = Scheduler::new(targets(&["a.test/1", "a.test/2", "b.test/1"]), hosts, 100);
        let started = std::time::Instant::now();
        let mut order = Vec::new();
        while let Some((t, _)) = s.next().await {
            order.push((t.display().to_string(), started.elapsed()));
        }
        let names: Vec<&str> = order.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["https://a.test/1", "https://b.test/1", "https://a.test/2"]
        );
        assert!(order[2].1 >= Duration::from_millis(55), "{order:?}");
    }

    #[tokio::test]
    async fn a_retry_waits_out_the_pause_and_goes_before_the_queue() {
        let hosts = Hosts::new(policy(1));
        let mut s = Scheduler::new(targets(&["a.test/1", "a.test/2"]), hosts.clone(), 100);
        let (_, p) = now(&mut s).expect("a.test/1");
        let p = p.expect("a permit");
        p.throttled(Duration::from_millis(80));
        let started = std::time::Instant::now();
        let retried = p.retry().await;
        assert!(started.elapsed() >= Duration::from_millis(70));
        assert!(now(&mut s).is_none(), "the retry holds the one slot");
        drop(retried);
        assert_eq!(now(&mut s).expect("then the queue").0, "https://a.test/2");
        let figures = hosts.summary().busiest[0].figures;
        assert_eq!((figures.requests, figures.retries, figures.throttled), (3, 1, 1));
    }
}
