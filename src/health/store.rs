//! The sample stores: a ring buffer per database, pruned by age (as bottom keeps its data), the
//! hosts' latest samples and the backend's, together in the [`HealthStore`] the monitor's store
//! task owns.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;

use super::DbSample;
use super::api::ApiSample;
use super::dashboard::Snapshot;
use super::host::{HostSample, HostStore};

/// Samples per target, oldest first, kept for `retention` (and never more than `capacity`).
#[derive(Debug, Clone)]
pub struct SampleStore {
    retention: Duration,
    capacity: usize,
    series: IndexMap<String, VecDeque<DbSample>>,
}

impl SampleStore {
    /// At most 10,000 samples per target whatever the retention: memory stays bounded.
    pub const MAX_CAPACITY: usize = 10_000;

    pub fn new(retention: Duration) -> Self {
        Self::with_capacity(retention, Self::MAX_CAPACITY)
    }

    pub fn with_capacity(retention: Duration, capacity: usize) -> Self {
        Self {
            retention,
            capacity: capacity.max(1),
            series: IndexMap::new(),
        }
    }

    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// Declares a target (so it is listed, in this order, before its first sample).
    pub fn register(&mut self, key: &str) {
        self.series.entry(key.to_string()).or_default();
    }

    /// Adds a sample and prunes its series by age (relative to the sample's time) and count.
    pub fn push(&mut self, key: &str, sample: DbSample) {
        let now = sample.details.sampled_at;
        let s = self.series.entry(key.to_string()).or_default();
        s.push_back(sample);
        while s.len() > self.capacity {
            s.pop_front();
        }
        Self::prune_series(s, now, self.retention);
    }

    /// Drops every sample older than the retention window before `now`.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        for s in self.series.values_mut() {
            Self::prune_series(s, now, self.retention);
        }
    }

    fn prune_series(s: &mut VecDeque<DbSample>, now: DateTime<Utc>, retention: Duration) {
        let Ok(window) = chrono::Duration::from_std(retention) else {
            return;
        };
        let cutoff = now - window;
        // The latest sample is always kept, however old: it is the target's current state.
        while s.len() > 1 && s.front().is_some_and(|f| f.details.sampled_at < cutoff) {
            s.pop_front();
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.series.keys().map(String::as_str)
    }

    pub fn latest(&self, key: &str) -> Option<&DbSample> {
        self.series.get(key).and_then(|s| s.back())
    }

    /// The latest sample of every target that has one, in registration order.
    pub fn latest_all(&self) -> Vec<&DbSample> {
        self.series.values().filter_map(|s| s.back()).collect()
    }

    /// A target's retained samples, oldest first.
    pub fn history(&self, key: &str) -> impl Iterator<Item = &DbSample> {
        self.series.get(key).into_iter().flatten()
    }

    /// Samples held, all targets together.
    pub fn len(&self) -> usize {
        self.series.values().map(VecDeque::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One sample of any watched target, as the monitor's samplers send it to the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    /// Boxed: a database sample is several times the size of the others.
    Db(Box<DbSample>),
    Host(HostSample),
    Backend(ApiSample),
}

/// Where a sampler's samples are filed (declared before the first one, so the target is listed,
/// in order, while it is still pending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    Db(String),
    Host(String),
    Backend,
}

/// Everything the monitor keeps, owned by its one store task (no lock: samples come in over a
/// channel, snapshots go out).
#[derive(Debug)]
pub struct HealthStore {
    pub dbs: SampleStore,
    pub hosts: HostStore,
    pub backend: Option<ApiSample>,
}

impl HealthStore {
    pub fn new(retention: Duration) -> Self {
        Self {
            dbs: SampleStore::new(retention),
            hosts: HostStore::default(),
            backend: None,
        }
    }

    pub fn register(&mut self, slot: &Slot) {
        match slot {
            Slot::Db(key) => self.dbs.register(key),
            Slot::Host(name) => self.hosts.register(name),
            Slot::Backend => {}
        }
    }

    pub fn push(&mut self, sample: Sample) {
        match sample {
            Sample::Db(s) => self.dbs.push(s.db.as_str(), *s),
            Sample::Host(s) => self.hosts.push(s),
            Sample::Backend(s) => self.backend = Some(s),
        }
    }

    /// What the dashboard shows now (old samples pruned first).
    pub fn snapshot(&mut self, now: DateTime<Utc>) -> Snapshot {
        self.dbs.prune(now);
        Snapshot::from_store(&self.dbs, Some(&self.hosts), self.backend.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::DbName;
    use crate::health::{Details, Status};

    fn sample(at: DateTime<Utc>, ms: f64) -> DbSample {
        DbSample {
            db: DbName::Slm,
            server: "h:5432".into(),
            status: Status::Healthy,
            details: Details {
                sampled_at: at,
                select1_ms: Some(ms),
                ..Default::default()
            },
        }
    }

    #[test]
    fn prunes_by_age_and_count() {
        let mut st = SampleStore::with_capacity(Duration::from_secs(60), 100);
        st.register("slm_users");
        st.register("slm");
        let t0 = Utc::now();
        for i in 0..30 {
            st.push(
                "slm",
                sample(t0 + chrono::Duration::seconds(i * 5), i as f64),
            );
        }
        // 60 s window at t0+145: samples at t0+85 ..= t0+145 remain (13).
        assert_eq!(st.history("slm").count(), 13);
        assert_eq!(
            st.history("slm").next().unwrap().details.select1_ms,
            Some(17.0)
        );
        assert_eq!(st.latest("slm").unwrap().details.select1_ms, Some(29.0));
        assert_eq!(st.keys().collect::<Vec<_>>(), vec!["slm_users", "slm"]);
        assert_eq!(st.latest_all().len(), 1);
        st.prune(t0 + chrono::Duration::seconds(10_000));
        // The latest is kept as the current state.
        assert_eq!(st.len(), 1);

        let mut small = SampleStore::with_capacity(Duration::from_secs(3600), 5);
        for i in 0..50 {
            small.push("slm", sample(t0 + chrono::Duration::seconds(i), 0.0));
        }
        assert_eq!(small.len(), 5);
        assert!(!small.is_empty());
    }
}
