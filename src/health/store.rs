//! The sample store (a ring buffer per target, pruned by age, as bottom keeps its data) and the
//! background sampler that feeds it: one task per target, each on its own cadence, so a target
//! that hangs until its probe timeout never delays the samples of the others.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::host::{HostProber, HostStore, HostTarget};
use super::{DbSample, ProbeConfig, Target, probe};
use crate::engine::connect::ConnectOptions;

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

/// A running background sampler. Dropping it stops the probes.
pub struct Sampler {
    pub store: Arc<Mutex<SampleStore>>,
    /// Incremented after every sample stored (a dashboard waits on it to redraw).
    pub updates: watch::Receiver<u64>,
    updates_tx: Arc<watch::Sender<u64>>,
    interval: watch::Sender<Duration>,
    tasks: JoinSet<()>,
}

impl Sampler {
    /// Starts one probe loop per target: probe, store, wait `interval` from the probe's start
    /// (immediately again when the probe took longer), until dropped.
    pub fn spawn(
        targets: Vec<Target>,
        cfg: ProbeConfig,
        interval: Duration,
        store: Arc<Mutex<SampleStore>>,
    ) -> Sampler {
        if let Ok(mut s) = store.lock() {
            for t in &targets {
                s.register(t.key());
            }
        }
        let (updates_tx, updates) = watch::channel(0u64);
        let updates_tx = Arc::new(updates_tx);
        let (interval_tx, _) = watch::channel(interval);
        let mut sampler = Sampler {
            store: store.clone(),
            updates,
            updates_tx,
            interval: interval_tx,
            tasks: JoinSet::new(),
        };
        for target in targets {
            let cfg = cfg.clone();
            let store = store.clone();
            sampler.every_interval(move || {
                let (target, cfg, store) = (target.clone(), cfg.clone(), store.clone());
                async move {
                    let sample = probe::probe(&target, &cfg).await;
                    if let Ok(mut s) = store.lock() {
                        s.push(target.key(), sample);
                    }
                }
            });
        }
        sampler
    }

    /// Runs `sample` now and then once per interval, measured from each start (at once again
    /// when it took longer), telling the dashboard after each; a new interval applies at once.
    fn every_interval<F, Fut>(&mut self, mut sample: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let updates_tx = self.updates_tx.clone();
        let mut interval_rx = self.interval.subscribe();
        self.tasks.spawn(async move {
            loop {
                let start = tokio::time::Instant::now();
                sample().await;
                updates_tx.send_modify(|n| *n += 1);
                let every = *interval_rx.borrow_and_update();
                tokio::select! {
                    _ = tokio::time::sleep_until(start + every) => {}
                    changed = interval_rx.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }

    /// Also probes the SLM backend's health API at `url`, on the same cadence, into `latest`.
    pub fn add_api(
        &mut self,
        url: String,
        timeout: Duration,
        latest: Arc<Mutex<Option<super::api::ApiSample>>>,
    ) {
        self.every_interval(move || {
            let (url, latest) = (url.clone(), latest.clone());
            async move {
                let sample = super::api::probe(&url, timeout).await;
                if let Ok(mut l) = latest.lock() {
                    *l = Some(sample);
                }
            }
        });
    }

    /// Also probes these hosts (clusters, disk), on the same cadence, into `store`.
    pub fn add_hosts(
        &mut self,
        targets: Vec<HostTarget>,
        opts: ConnectOptions,
        timeout: Duration,
        store: Arc<Mutex<HostStore>>,
    ) {
        if let Ok(mut s) = store.lock() {
            for t in &targets {
                s.register(&t.name);
            }
        }
        for target in targets {
            // The prober keeps its connection between samples, so each sample borrows it.
            let prober = Arc::new(tokio::sync::Mutex::new(HostProber::new(
                target,
                opts.clone(),
            )));
            let store = store.clone();
            self.every_interval(move || {
                let (prober, store) = (prober.clone(), store.clone());
                async move {
                    let sample = prober.lock().await.probe(timeout).await;
                    if let Ok(mut s) = store.lock() {
                        s.push(sample);
                    }
                }
            });
        }
    }

    /// Changes the probe interval of every target.
    pub fn set_interval(&self, interval: Duration) {
        let _ = self.interval.send(interval.max(Duration::from_millis(100)));
    }

    pub fn interval(&self) -> Duration {
        *self.interval.borrow()
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
