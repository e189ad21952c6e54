//! Politeness per host, for lists with many URLs of one site (a sitemap, every link of a
//! documentation site): at most `--host-concurrency` requests in flight to a host, at least
//! `--host-interval` between their starts, a pause when the host answers 429 (or 503) with
//! `Retry-After`, and AIMD after it (the host's limit halves, then grows back one per answer).
//!
//! The [`Scheduler`] sits between the targets and `buffer_unordered(concurrency)`: it keeps a FIFO
//! queue per host and yields the next target whose host has room, with a [`HostPermit`] the probe
//! holds while it sends. A URL waiting for a busy host so never holds one of the global slots,
//! and a list sorted by site keeps every site busy at once. It reads ahead only when nothing it
//! holds can go (at most `LOOK_AHEAD` targets), so a list of distinct hosts flows through with
//! nothing buffered. A host is `scheme://host:port` as written in the URL (`--resolve` sends
//! names elsewhere but keeps them apart), and is forgotten once it has nothing queued or in
//! flight, so millions of distinct hosts cost no memory.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use futures::task::AtomicWaker;
use futures::{Future, Stream};
use serde::Serialize;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};
use url::Url;

use crate::check::targets::Target;

/// Targets read ahead at most while looking for one whose host has room: enough for a list sorted
/// by site to keep a few hundred sites busy at once.
pub const LOOK_AHEAD: usize = 100_000;
/// Targets read, when the input has them ready, before one is sent: so that a URL knows whether
/// the next ones of its host are behind it (and keeps its connection for them).
const WINDOW: usize = 64;
/// Hosts whose figures the summary names; the others are summed.
const HOSTS_NAMED: usize = 1_000;
/// The live host table is swept of idle hosts (paused or paced ones) when it doubles past this.
const SWEEP_FROM: usize = 1_024;

/// The per-host rules of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostPolicy {
    /// `--host-concurrency`: requests in flight to one host, at least 1.
    pub concurrency: u32,
    /// `--host-interval`: the least time between two request starts to one host.
    pub interval: Duration,
    /// `--max-retry-wait`: the most one URL waits in total for 429s (and 503s) to pass.
    pub max_retry_wait: Duration,
    /// `--retries-429`: how often one URL is sent again after a 429 (or a 503 with Retry-After).
    pub retries_429: u32,
}

impl Default for HostPolicy {
    fn default() -> Self {
        HostPolicy {
            concurrency: 6,
            interval: Duration::ZERO,
            max_retry_wait: Duration::from_secs(60),
            retries_429: 3,
        }
    }
}

/// The host a URL counts against: `scheme://host:port`.
pub fn host_key(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// The wait a `Retry-After` value asks for (RFC 9110 10.2.3): delay-seconds, or an HTTP date
/// measured from `now` (a date in the past asks for none). `None` when it is neither.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Only digits: too many of them is still "a very long time".
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// What to do with a 429 (or a 503 that says when to come back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Throttle {
    /// Pause the host this long, then send the URL again.
    Retry(Duration),
    /// Keep the answer, with why as the row's `error_detail`; the host still pauses this long.
    GiveUp { pause: Duration, detail: String },
}

/// The decision after a throttling answer: `status` with its `retry_after`, for a URL that was
/// retried `retries` times and has waited `waited` for it already. Each URL may wait up to
/// `max_retry_wait` in all, and is never sent again before the time the server asked for: a
/// longer wait keeps the answer at once (and does not pause the host, whose other URLs would
/// only wait to be refused alike). `None` when the answer does not ask to slow down (a 503
/// without Retry-After is a plain server error).
pub fn after_throttle(
    policy: &HostPolicy,
    status: u16,
    retry_after: Option<Duration>,
    retries: u32,
    waited: Duration,
) -> Option<Throttle> {
    if !(status == 429 || status == 503 && retry_after.is_some()) {
        return None;
    }
    // Without Retry-After: 1 s, 2 s, 4 s, ...
    let asked = retry_after.unwrap_or(Duration::from_secs(1 << retries.min(16)));
    if waited + asked > policy.max_retry_wait {
        let detail = format!(
            "{status}: waiting {:.1} s more (Retry-After, or 1 s, 2 s, 4 s... without one) would pass \
             --max-retry-wait {:.1} s, {:.1} s waited; not sent again",
            asked.as_secs_f64(),
            policy.max_retry_wait.as_secs_f64(),
            waited.as_secs_f64()
        );
        return Some(Throttle::GiveUp {
            pause: Duration::ZERO,
            detail,
        });
    }
    if retries >= policy.retries_429 {
        let detail = format!(
            "{status} again after {retries} retries (--retries-429 {})",
            policy.retries_429
        );
        return Some(Throttle::GiveUp { pause: asked, detail });
    }
    Some(Throttle::Retry(asked))
}

/// What one host saw in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HostFigures {
    /// Requests started (first sends and retries; redirects and GET fallbacks ride along).
    pub requests: u64,
    /// Answers that asked to slow down: 429, or 503 with Retry-After.
    pub throttled: u64,
    pub retries: u64,
    /// URLs that ended without an HTTP answer (timeout, reset, ...).
    pub errors: u64,
    /// The most URLs of the host in flight at once.
    pub max_in_flight: u32,
}

impl HostFigures {
    fn add(&mut self, other: &HostFigures) {
        self.requests += other.requests;
        self.throttled += other.throttled;
        self.retries += other.retries;
        self.errors += other.errors;
        self.max_in_flight = self.max_in_flight.max(other.max_in_flight);
    }

    /// Worth naming: more than one request, or asked to slow down.
    fn notable(&self) -> bool {
        self.requests > 1 || self.throttled > 0
    }
}

/// One host's figures, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedHost {
    pub host: String,
    #[serde(flatten)]
    pub figures: HostFigures,
}

/// The per-host part of the run's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostsSummary {
    /// The busiest hosts with more than one request or a 429 (at most 1,000), busiest first.
    pub busiest: Vec<NamedHost>,
    /// How many other hosts there were, and their figures summed (`max_in_flight`: the most).
    pub other_hosts: u64,
    pub others: HostFigures,
}

/// The per-host state a run shares between the scheduler and the probes.
#[derive(Clone)]
pub struct Hosts {
    shared: Arc<Shared>,
}

struct Shared {
    policy: HostPolicy,
    state: Mutex<State>,
    /// The scheduler's, woken when a host may have room again.
    scheduler: AtomicWaker,
}

#[derive(Default)]
struct State {
    live: HashMap<Arc<str>, Host>,
    /// Hosts that may have room again, for the scheduler to look at.
    woken: Vec<Arc<str>>,
    /// Figures of hosts no longer live.
    retired: HashMap<Arc<str>, HostFigures>,
    others: HostFigures,
    other_hosts: u64,
    sweep_at: usize,
}

struct Host {
    /// The current limit: `policy.concurrency`, less after a 429 (AIMD).
    limit: u32,
    in_flight: u32,
    /// Targets of the host waiting in the scheduler.
    queued: usize,
    /// Retries waiting for a permit; they go before the queued targets.
    waiting: u32,
    paused_until: Option<Instant>,
    next_start: Option<Instant>,
    /// Wakes waiting retries; made for the first one.
    notify: Option<Arc<Notify>>,
    figures: HostFigures,
}

/// Why a host cannot take a request now.
enum Blocked {
    /// Until this instant (a pause or the interval).
    Until(Instant),
    /// Until a request ends or a retry goes (the scheduler is woken then).
    Busy,
}

impl Host {
    fn new(policy: &HostPolicy) -> Host {
        Host {
            limit: policy.concurrency,
            in_flight: 0,
            queued: 0,
            waiting: 0,
            paused_until: None,
            next_start: None,
            notify: None,
            figures: HostFigures::default(),
        }
    }

    /// Whether a request may start now; `retry` ones do not wait behind other retries.
    fn blocked(&self, now: Instant, retry: bool) -> Option<Blocked> {
        let until = self.paused_until.max(self.next_start).filter(|&t| t > now);
        if let Some(until) = until {
            return Some(Blocked::Until(until));
        }
        (self.in_flight >= self.limit || !retry && self.waiting > 0).then_some(Blocked::Busy)
    }

    fn start(&mut self, now: Instant, interval: Duration) {
        self.in_flight += 1;
        self.figures.requests += 1;
        self.figures.max_in_flight = self.figures.max_in_flight.max(self.in_flight);
        if !interval.is_zero() {
            self.next_start = Some(now + interval);
        }
    }

    /// Nothing would be lost by forgetting it.
    fn idle(&self, now: Instant) -> bool {
        self.in_flight == 0
            && self.queued == 0
            && self.waiting == 0
            && self.paused_until.max(self.next_start).is_none_or(|t| t <= now)
    }
}

impl State {
    fn retire(&mut self, key: Arc<str>, figures: HostFigures) {
        if let Some(kept) = self.retired.get_mut(&key) {
            kept.add(&figures);
        } else if figures.notable() {
            self.retired.insert(key, figures);
            if self.retired.len() >= 2 * HOSTS_NAMED {
                self.fold_retired();
            }
        } else {
            self.other_hosts += 1;
            self.others.add(&figures);
        }
    }

    /// Keep the busiest `HOSTS_NAMED` retired hosts by name; sum the rest.
    fn fold_retired(&mut self) {
        let mut all: Vec<(Arc<str>, HostFigures)> = self.retired.drain().collect();
        all.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then_with(|| a.0.cmp(&b.0)));
        for (_, figures) in all.drain(HOSTS_NAMED.min(all.len())..) {
            self.other_hosts += 1;
            self.others.add(&figures);
        }
        self.retired.extend(all);
    }

    /// Forget the idle hosts that a pause or the interval kept.
    fn sweep(&mut self, now: Instant) {
        let idle: Vec<Arc<str>> = self
            .live
            .iter()
            .filter(|(_, h)| h.idle(now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in idle {
            if let Some(host) = self.live.remove(&key) {
                self.retire(key, host.figures);
            }
        }
        self.sweep_at = (2 * self.live.len()).max(SWEEP_FROM);
    }
}

impl Hosts {
    pub fn new(policy: HostPolicy) -> Hosts {
        let policy = HostPolicy {
            concurrency: policy.concurrency.max(1),
            ..policy
        };
        Hosts {
            shared: Arc::new(Shared {
                policy,
                state: Mutex::new(State {
                    sweep_at: SWEEP_FROM,
                    ..State::default()
                }),
                scheduler: AtomicWaker::new(),
            }),
        }
    }

    pub fn policy(&self) -> &HostPolicy {
        &self.shared.policy
    }

    /// Every host's figures so far: the busiest by name, the rest summed.
    pub fn summary(&self) -> HostsSummary {
        let state = self.shared.lock();
        let mut all: HashMap<Arc<str>, HostFigures> = state.retired.clone();
        let mut summary = HostsSummary {
            busiest: Vec::new(),
            other_hosts: state.other_hosts,
            others: state.others,
        };
        for (key, host) in &state.live {
            match all.get_mut(key) {
                Some(kept) => kept.add(&host.figures),
                None if host.figures.notable() => {
                    all.insert(key.clone(), host.figures);
                }
                None => {
                    summary.other_hosts += u64::from(host.figures.requests > 0);
                    summary.others.add(&host.figures);
                }
            }
        }
        let mut named: Vec<NamedHost> = all
            .into_iter()
            .map(|(host, figures)| NamedHost {
                host: host.to_string(),
                figures,
            })
            .collect();
        named.sort_by(|a, b| {
            b.figures
                .requests
                .cmp(&a.figures.requests)
                .then_with(|| a.host.cmp(&b.host))
        });
        for rest in named.drain(HOSTS_NAMED.min(named.len())..) {
            summary.other_hosts += 1;
            summary.others.add(&rest.figures);
        }
        summary.busiest = named;
        summary
    }

    /// Hosts held in memory right now (for tests: distinct hosts must not pile up).
    pub fn live_hosts(&self) -> usize {
        self.shared.lock().live.len()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tell the scheduler that `key` may take a request again.
    fn wake(&self, mut state: MutexGuard<'_, State>, key: Arc<str>) {
        state.woken.push(key);
        drop(state);
        self.scheduler.wake();
    }
}

/// The right to have one URL of a host in flight; dropping it gives the slot back.
pub struct HostPermit {
    shared: Arc<Shared>,
    key: Arc<str>,
}

impl std::fmt::Debug for HostPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("HostPermit").field(&self.key).finish()
    }
}

impl HostPermit {
    pub fn host(&self) -> &str {
        &self.key
    }

    pub fn policy(&self) -> &HostPolicy {
        &self.shared.policy
    }

    /// No other URL of the host waits in the queue: the request may ask the server to close the
    /// connection (`Connection: close`) rather than leave it idle in the pool.
    pub fn last_of_host(&self) -> bool {
        let state = self.shared.lock();
        state
            .live
            .get(&self.key)
            .is_none_or(|h| h.queued == 0 && h.waiting == 0)
    }

    /// The host answered without asking to slow down: its limit grows back by one (AIMD); an
    /// `error` (no HTTP answer) is counted.
    pub fn answered(&self, error: bool) {
        let mut state = self.shared.lock();
        let Some(host) = state.live.get_mut(&self.key) else {
            return;
        };
        host.figures.errors += u64::from(error);
        if host.limit < self.shared.policy.concurrency {
            host.limit += 1;
            self.shared.wake(state, self.key.clone());
        }
    }

    /// The host asked to slow down: pause it for `pause`, and halve its limit, once per pause
    /// (the other requests in flight when it said so are answered alike; they are one signal).
    pub fn throttled(&self, pause: Duration) {
        let now = Instant::now();
        let mut state = self.shared.lock();
        let Some(host) = state.live.get_mut(&self.key) else {
            return;
        };
        host.figures.throttled += 1;
        if host.paused_until.is_none_or(|t| t <= now) {
            host.limit = (host.limit / 2).max(1);
        }
        host.paused_until = host.paused_until.max(Some(now + pause));
    }

    /// Give the slot back and wait for another, ahead of the host's queued targets: after a
    /// pause, the limit and the interval, as any request. The wait holds the caller's place in
    /// `--concurrency`, bounded by the URLs the host had in flight when it said 429.
    pub async fn retry(self) -> HostPermit {
        let (shared, key) = (self.shared.clone(), self.key.clone());
        {
            let mut state = shared.lock();
            if let Some(host) = state.live.get_mut(&key) {
                host.waiting += 1;
                host.figures.retries += 1;
            }
        }
        drop(self);
        loop {
            // Registered before the host is looked at, so a release in between is not missed.
            let notify = {
                let mut state = shared.lock();
                let host = state
                    .live
                    .entry(key.clone())
                    .or_insert_with(|| Host::new(&shared.policy));
                host.notify.get_or_insert_with(Arc::default).clone()
            };
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let until = {
                let now = Instant::now();
                let mut state = shared.lock();
                let host = state
                    .live
                    .get_mut(&key)
                    .expect("a waiting retry keeps its host live");
                match host.blocked(now, true) {
                    None => {
                        host.waiting = host.waiting.saturating_sub(1);
                        host.start(now, shared.policy.interval);
                        if host.waiting == 0 {
                            // The queued targets may go again.
                            shared.wake(state, key.clone());
                        } else {
                            drop(state);
                        }
                        return HostPermit { shared, key };
                    }
                    Some(Blocked::Until(at)) => Some(at),
                    Some(Blocked::Busy) => None,
                }
            };
            match until {
                Some(at) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }
}

impl Drop for HostPermit {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut state = self.shared.lock();
        let Some(host) = state.live.get_mut(&self.key) else {
            return;
        };
        host.in_flight = host.in_flight.saturating_sub(1);
        if host.waiting > 0 {
            if let Some(notify) = &host.notify {
                notify.notify_waiters();
            }
        }
        if host.idle(now) {
            if let Some(host) = state.live.remove(&self.key) {
                state.retire(self.key.clone(), host.figures);
            }
            return;
        }
        self.shared.wake(state, self.key.clone());
    }
}

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
        }
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
        if queue.len() == 1 {
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
            if let Some(next) = this.next_ready() {
                return Poll::Ready(Some(next));
            }
            if !this.input_done && this.held < this.look_ahead {
                match Pin::new(&mut this.input).poll_next(cx) {
                    Poll::Ready(Some(target)) => {
                        if let Some(unsent) = this.enqueue(target) {
                            return Poll::Ready(Some((unsent, None)));
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

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(90)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        // The obsolete forms RFC 9110 still asks recipients to accept.
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in ["", "-1", "1.5", "soon", "Tue, 32 Nov 2023 00:00:00 GMT"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn throttling_answers_are_retried_within_the_budget_and_say_why_not() {
        let p = HostPolicy {
            max_retry_wait: Duration::from_secs(10),
            retries_429: 2,
            ..HostPolicy::default()
        };
        let secs = Duration::from_secs;
        assert_eq!(after_throttle(&p, 200, None, 0, secs(0)), None);
        assert_eq!(after_throttle(&p, 503, None, 0, secs(0)), None, "a plain 503");
        assert_eq!(
            after_throttle(&p, 503, Some(secs(2)), 0, secs(0)),
            Some(Throttle::Retry(secs(2)))
        );
        assert_eq!(
            after_throttle(&p, 429, None, 1, secs(0)),
            Some(Throttle::Retry(secs(2))),
            "no Retry-After: 1 s, 2 s, 4 s"
        );
        assert!(
            matches!(
                after_throttle(&p, 429, None, 1, secs(9)),
                Some(Throttle::GiveUp { .. })
            ),
            "the backoff, too, stays within the budget"
        );
        let Some(Throttle::GiveUp { pause, detail }) = after_throttle(&p, 429, Some(secs(8)), 1, secs(5))
        else {
            panic!("8 s asked, 5 s left");
        };
        assert_eq!(pause, Duration::ZERO);
        assert!(
            detail.contains("waiting 8.0 s more") && detail.contains("--max-retry-wait 10.0 s, 5.0 s waited"),
            "{detail}"
        );
        let Some(Throttle::GiveUp { pause, detail }) = after_throttle(&p, 429, Some(secs(1)), 2, secs(2))
        else {
            panic!("out of retries");
        };
        assert_eq!(pause, secs(1), "the host still gets its pause");
        assert!(detail.contains("after 2 retries (--retries-429 2)"), "{detail}");
        let none = HostPolicy {
            max_retry_wait: Duration::ZERO,
            ..p
        };
        assert!(matches!(
            after_throttle(&none, 429, None, 0, secs(0)),
            Some(Throttle::GiveUp { .. })
        ));
    }

    #[test]
    fn host_keys_are_scheme_host_and_port() {
        let key = |u: &str| host_key(&Url::parse(u).expect("a URL"));
        assert_eq!(key("https://A.test/x"), "https://a.test:443");
        assert_eq!(key("http://a.test:8080/"), "http://a.test:8080");
        assert_ne!(key("http://a.test/"), key("https://a.test/"));
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
        assert!(!p_a3.expect("a permit").last_of_host(), "a.test/4 waits");
        let (_, p_a4) = now(&mut s).expect("a slot came back");
        assert!(p_a4.as_ref().expect("a permit").last_of_host());
        drop(p_a4);
        assert!(s.next().await.is_none());
        let summary = hosts.summary();
        assert_eq!(summary.busiest[0].host, "https://a.test:443");
        assert_eq!(summary.busiest[0].figures.requests, 4);
        assert_eq!(summary.busiest[0].figures.max_in_flight, 2);
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
        let mut permits = Vec::new();
        while let Some((_, p)) = s.next().await {
            permits.push(p);
            permits.clear();
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

    #[test]
    fn the_summary_names_the_busiest_and_sums_the_rest() {
        let mut state = State::default();
        let many = HostFigures {
            requests: 5,
            ..HostFigures::default()
        };
        let one = HostFigures {
            requests: 1,
            errors: 1,
            ..HostFigures::default()
        };
        state.retire("https://a.test:443".into(), many);
        state.retire("https://a.test:443".into(), one);
        state.retire("https://b.test:443".into(), one);
        for i in 0..2 * HOSTS_NAMED {
            state.retire(format!("https://{i}.test:443").into(), many);
        }
        assert!(state.retired.len() < 2 * HOSTS_NAMED, "folded");
        assert_eq!(state.retired["https://a.test:443"].requests, 6);
        let named = state.retired.len() as u64;
        assert_eq!(named + state.other_hosts, 2 + 2 * HOSTS_NAMED as u64);
    }
}
