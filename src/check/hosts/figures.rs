//! What each host saw in a run, and how the figures of many hosts stay bounded: the busiest
//! `HOSTS_NAMED` by name, the rest summed.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::{Hosts, State};

/// Hosts whose figures the summary names; the others are summed.
const HOSTS_NAMED: usize = 1_000;

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
    pub(super) fn add(&mut self, other: &HostFigures) {
        self.requests += other.requests;
        self.throttled += other.throttled;
        self.retries += other.retries;
        self.errors += other.errors;
        self.max_in_flight = self.max_in_flight.max(other.max_in_flight);
    }

    /// Worth naming: more than one request, or asked to slow down.
    pub(super) fn notable(&self) -> bool {
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

impl State {
    pub(super) fn retire(&mut self, key: Arc<str>, figures: HostFigures) {
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
}

impl Hosts {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
