//! The health monitor: one sampler per target (each database, each host, the backend's API),
//! each on its own cadence so a target that hangs until its probe timeout never delays the
//! others; their samples go over one channel to the store task, the only owner of the
//! [`HealthStore`], which publishes a [`Snapshot`] after each burst. The wizard's dashboard,
//! `health --watch` (with or without a terminal) and `health` (one sample of every sampler)
//! all watch through it.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::future::{BoxFuture, join_all};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::dashboard::Snapshot;
use super::host::{HostProber, HostTarget};
use super::source::HealthSource;
use super::store::{HealthStore, Sample, Slot};
use super::{ProbeConfig, Target, api, probe};
use crate::engine::connect::ConnectOptions;

/// The shortest interval between two samples of one target.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Something the monitor samples, again and again.
pub trait Sampler: Send + 'static {
    /// Where its samples are filed.
    fn slot(&self) -> Slot;
    /// One sample; a failure is a sample too (an unhealthy one), never an error.
    fn sample(&mut self) -> BoxFuture<'_, Sample>;
}

/// A database, probed as its application user (pooled, tunnelled where the target says).
struct DbSampler {
    target: Target,
    cfg: ProbeConfig,
}

impl Sampler for DbSampler {
    fn slot(&self) -> Slot {
        Slot::Db(self.target.key().to_string())
    }

    fn sample(&mut self) -> BoxFuture<'_, Sample> {
        Box::pin(async move { Sample::Db(Box::new(probe::probe(&self.target, &self.cfg).await)) })
    }
}

/// A host's clusters and disks, over a connection kept between samples.
struct HostSampler {
    prober: HostProber,
    timeout: Duration,
}

impl Sampler for HostSampler {
    fn slot(&self) -> Slot {
        Slot::Host(self.prober.host().to_string())
    }

    fn sample(&mut self) -> BoxFuture<'_, Sample> {
        Box::pin(async move { Sample::Host(self.prober.probe(self.timeout).await) })
    }
}

/// The SLM backend's health API.
struct BackendSampler {
    url: String,
    timeout: Duration,
}

impl Sampler for BackendSampler {
    fn slot(&self) -> Slot {
        Slot::Backend
    }

    fn sample(&mut self) -> BoxFuture<'_, Sample> {
        Box::pin(async move { Sample::Backend(api::probe(&self.url, self.timeout).await) })
    }
}

/// The samplers of everything `source` names and of `hosts`: databases first, then hosts, then
/// the backend. Hosts are reached as a run reaches them, within the probe timeout.
pub fn samplers(source: HealthSource, hosts: Vec<HostTarget>) -> Vec<Box<dyn Sampler>> {
    let timeout = source.cfg.timeout;
    let connect = ConnectOptions {
        accept_new_host_keys: false,
        connect_timeout: timeout,
    };
    let mut out: Vec<Box<dyn Sampler>> = Vec::new();
    for target in source.targets {
        out.push(Box::new(DbSampler {
            target,
            cfg: source.cfg.clone(),
        }));
    }
    for host in hosts {
        out.push(Box::new(HostSampler {
            prober: HostProber::new(host, connect.clone()),
            timeout,
        }));
    }
    if let Some(url) = source.api_url {
        out.push(Box::new(BackendSampler { url, timeout }));
    }
    out
}

/// One sample of every sampler, all at once, in the samplers' order (`health` without
/// `--watch`): done within the probe timeout whatever the targets do.
pub async fn sample_once(samplers: &mut [Box<dyn Sampler>]) -> Vec<Sample> {
    join_all(samplers.iter_mut().map(|s| s.sample())).await
}

/// How the monitor samples.
#[derive(Debug, Clone)]
pub struct MonitorOptions {
    /// From the start of one sample of a target to the start of its next (at once again when a
    /// sample took longer).
    pub interval: Duration,
    /// How long database samples are kept (the dashboard's history).
    pub retention: Duration,
    /// After a sample arrives, how long to wait for the other targets of the same tick before
    /// publishing one snapshot for all of them.
    pub settle: Duration,
}

impl Default for MonitorOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            retention: Duration::from_secs(600),
            settle: Duration::from_millis(50),
        }
    }
}

/// A running monitor. Dropping it stops every sampler and ends its snapshot streams.
pub struct Monitor {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    interval: watch::Sender<Duration>,
    /// The store task and one task per sampler; aborted when dropped.
    _tasks: JoinSet<()>,
}

impl Monitor {
    /// Starts sampling what `source` names and `hosts`.
    pub fn start(source: HealthSource, hosts: Vec<HostTarget>, opts: MonitorOptions) -> Self {
        Self::with_samplers(samplers(source, hosts), opts)
    }

    /// Starts one loop per sampler and the store task.
    pub fn with_samplers(samplers: Vec<Box<dyn Sampler>>, opts: MonitorOptions) -> Self {
        let mut store = HealthStore::new(opts.retention);
        for s in &samplers {
            store.register(&s.slot());
        }
        let (snapshot_tx, snapshots) = watch::channel(Arc::new(store.snapshot(Utc::now())));
        let (interval, _) = watch::channel(opts.interval.max(MIN_INTERVAL));
        // Bounded: a sampler waits for the store rather than piling samples up in memory.
        let (sample_tx, sample_rx) = mpsc::channel(2 * samplers.len().max(1));
        let mut tasks = JoinSet::new();
        tasks.spawn(keep(store, sample_rx, snapshot_tx, opts.settle));
        for s in samplers {
            tasks.spawn(every_interval(s, sample_tx.clone(), interval.subscribe()));
        }
        Monitor {
            snapshots,
            interval,
            _tasks: tasks,
        }
    }

    /// The snapshots from now on: the current one first (pending targets listed), then one
    /// after each burst of samples; a slow reader gets the latest, not a backlog.
    pub fn snapshots(&self) -> Snapshots {
        Snapshots {
            rx: self.snapshots.clone(),
            first: true,
        }
    }

    /// Changes the interval of every sampler; each samples at once with the new one.
    pub fn set_interval(&self, interval: Duration) {
        self.interval.send_replace(interval.max(MIN_INTERVAL));
    }

    pub fn interval(&self) -> Duration {
        *self.interval.borrow()
    }
}

/// A monitor's snapshot stream; it ends when the monitor is dropped.
pub struct Snapshots {
    rx: watch::Receiver<Arc<Snapshot>>,
    first: bool,
}

impl Snapshots {
    /// The next snapshot; `None` once the monitor is gone.
    pub async fn next(&mut self) -> Option<Arc<Snapshot>> {
        if !std::mem::take(&mut self.first) {
            self.rx.changed().await.ok()?;
        }
        Some(self.rx.borrow_and_update().clone())
    }
}

/// The store task: files every sample, publishes a snapshot after each burst; ends when every
/// sampler is gone.
async fn keep(
    mut store: HealthStore,
    mut samples: mpsc::Receiver<Sample>,
    out: watch::Sender<Arc<Snapshot>>,
    settle: Duration,
) {
    while let Some(first) = samples.recv().await {
        store.push(first);
        // Let the other targets of the same tick land, then publish once.
        tokio::time::sleep(settle).await;
        while let Ok(s) = samples.try_recv() {
            store.push(s);
        }
        out.send_replace(Arc::new(store.snapshot(Utc::now())));
    }
}

/// Samples now and then once per interval, measured from each start (at once again when it
/// took longer); a new interval applies at once.
async fn every_interval(
    mut sampler: Box<dyn Sampler>,
    samples: mpsc::Sender<Sample>,
    mut interval: watch::Receiver<Duration>,
) {
    loop {
        let start = Instant::now();
        let sample = sampler.sample().await;
        if samples.send(sample).await.is_err() {
            return;
        }
        let every = *interval.borrow_and_update();
        tokio::select! {
            _ = tokio::time::sleep_until(start + every) => {}
            changed = interval.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::health::Status;
    use crate::health::host::HostSample;

    /// A host that answers after `takes`, counting its samples; no network.
    struct Fake {
        name: &'static str,
        takes: Duration,
        count: Arc<AtomicUsize>,
    }

    impl Sampler for Fake {
        fn slot(&self) -> Slot {
            Slot::Host(self.name.into())
        }

        fn sample(&mut self) -> BoxFuture<'_, Sample> {
            Box::pin(async move {
                tokio::time::sleep(self.takes).await;
                self.count.fetch_add(1, Ordering::SeqCst);
                Sample::Host(HostSample {
                    host: self.name.into(),
                    status: Status::Healthy,
                    reasons: Vec::new(),
                    clusters: Vec::new(),
                    sampled_at: Utc::now(),
                    probe_ms: self.takes.as_secs_f64() * 1000.0,
                })
            })
        }
    }

    fn fake(name: &'static str, takes: Duration) -> (Box<dyn Sampler>, Arc<AtomicUsize>) {
        let count = Arc::new(AtomicUsize::new(0));
        let s = Fake {
            name,
            takes,
            count: count.clone(),
        };
        (Box::new(s), count)
    }

    fn opts(interval_ms: u64) -> MonitorOptions {
        MonitorOptions {
            interval: Duration::from_millis(interval_ms),
            retention: Duration::from_secs(60),
            settle: Duration::from_millis(5),
        }
    }

    #[tokio::test]
    async fn a_slow_target_never_delays_the_others() {
        let (fast, fast_n) = fake("fast", Duration::ZERO);
        let (slow, slow_n) = fake("slow", Duration::from_secs(30));
        let monitor = Monitor::with_samplers(vec![fast, slow], opts(100));
        let mut snaps = monitor.snapshots();
        // The first snapshot lists both, pending.
        let first = snaps.next().await.expect("a snapshot");
        let names: Vec<_> = first.hosts.iter().map(|h| h.host.as_str()).collect();
        assert_eq!(names, ["fast", "slow"]);
        assert!(first.hosts.iter().all(|h| h.status.is_none()), "{first:?}");
        tokio::time::sleep(Duration::from_millis(700)).await;
        let n = fast_n.load(Ordering::SeqCst);
        // Once at the start, then every 100 ms (a loaded machine gets some slack).
        assert!((3..=9).contains(&n), "{n} samples of the fast target");
        assert_eq!(slow_n.load(Ordering::SeqCst), 0);
        let last = snaps.next().await.expect("a snapshot");
        assert_eq!(last.hosts[0].status, Some(Status::Healthy));
        assert_eq!(last.hosts[1].status, None, "the slow one is still pending");
    }

    #[tokio::test]
    async fn a_new_interval_applies_at_once() {
        let (s, n) = fake("h", Duration::ZERO);
        let monitor = Monitor::with_samplers(vec![s], opts(60_000));
        assert_eq!(monitor.interval(), Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            n.load(Ordering::SeqCst),
            1,
            "one sample, then a minute's wait"
        );
        monitor.set_interval(Duration::from_millis(1));
        assert_eq!(monitor.interval(), MIN_INTERVAL, "never faster than 100 ms");
        tokio::time::sleep(Duration::from_millis(550)).await;
        let after = n.load(Ordering::SeqCst);
        assert!((3..=8).contains(&after), "{after} samples");
    }

    #[tokio::test]
    async fn dropping_the_monitor_ends_its_streams_and_its_samplers() {
        let (s, n) = fake("h", Duration::ZERO);
        let monitor = Monitor::with_samplers(vec![s], opts(100));
        let mut snaps = monitor.snapshots();
        assert!(snaps.next().await.is_some());
        tokio::time::sleep(Duration::from_millis(150)).await;
        drop(monitor);
        let ended = tokio::time::timeout(Duration::from_secs(5), async {
            while snaps.next().await.is_some() {}
        })
        .await;
        assert!(ended.is_ok(), "the stream did not end");
        let at_drop = n.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(n.load(Ordering::SeqCst), at_drop, "sampling went on");
    }

    /// The real samplers, without a network: a database on a closed local port, a local host,
    /// a backend on a closed local port; each comes back as a sample of its kind, in order.
    #[tokio::test]
    async fn one_sample_of_everything_in_order() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let settings = crate::db::Settings::from_pairs(vec![(
            "SLM_DATABASE_URL",
            format!("postgresql://u:p@127.0.0.1:{port}/slm"),
        )]);
        let targets = super::super::source::prepare("slm", None, None, settings).expect("targets");
        let source = HealthSource {
            targets,
            cfg: ProbeConfig {
                timeout: Duration::from_secs(3),
                ..Default::default()
            },
            api_url: Some(format!("http://127.0.0.1:{port}")),
        };
        let mut vars = serde_json::Map::new();
        vars.insert("ansible_connection".into(), "local".into());
        let hosts = vec![HostTarget {
            name: "here".into(),
            vars,
        }];
        let mut s = samplers(source, hosts);
        let slots: Vec<Slot> = s.iter().map(|s| s.slot()).collect();
        assert_eq!(
            slots,
            [
                Slot::Db("slm".into()),
                Slot::Host("here".into()),
                Slot::Backend
            ]
        );
        let samples = sample_once(&mut s).await;
        match &samples[..] {
            [Sample::Db(d), Sample::Host(h), Sample::Backend(b)] => {
                assert_eq!(d.status, Status::Unhealthy);
                assert_eq!(h.host, "here");
                assert_eq!(b.status, Status::Unhealthy);
            }
            other => panic!("{other:?}"),
        }
    }
}
