//! What the live dashboard shows, taken from the sample store in one short lock: per target the
//! latest sample, its latency history over the retained window and the last error seen in it.
//! Pure data, so the widgets render it without touching the store and tests build it by hand.

use chrono::{DateTime, Utc};

use super::api::ApiSample;
use super::host::{Cluster, HostSample, HostSeries, HostStore};
use super::store::SampleStore;
use super::{DbSample, Details, MigrationInfo, Status, report};

/// Latency points kept per row: enough for the widest sparkline.
const HISTORY_POINTS: usize = 240;

/// One database on the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The spec's database name.
    pub key: String,
    /// `host:port` of the server.
    pub server: String,
    /// None until the first sample arrived.
    pub status: Option<Status>,
    pub reason: String,
    /// `SELECT 1` latency per retained sample, oldest first (None where the probe failed).
    pub latency_ms: Vec<Option<f64>>,
    pub connections: Option<(i64, i64)>,
    pub size_bytes: Option<i64>,
    pub migrations: Option<MigrationInfo>,
    /// The newest failure in the window (when, what), even if the target recovered since.
    pub last_error: Option<(DateTime<Utc>, String)>,
    /// The latest sample's measurements, for the detail view.
    pub details: Option<Details>,
    pub samples: usize,
}

/// One watched host: its clusters and data-directory disks.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRow {
    pub host: String,
    /// None until the first sample arrived.
    pub status: Option<Status>,
    pub reason: String,
    pub clusters: Vec<Cluster>,
    pub disk_used_pct: Option<u8>,
    pub last_error: Option<(DateTime<Utc>, String)>,
    pub sampled_at: Option<DateTime<Utc>>,
    pub probe_ms: Option<f64>,
}

/// Everything the dashboard draws, at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub rows: Vec<Row>,
    pub hosts: Vec<HostRow>,
    /// The SLM backend's own health, when its API is probed.
    pub backend: Option<ApiSample>,
    pub status: Status,
    pub nodes_online: usize,
    pub nodes_total: usize,
    pub taken_at: DateTime<Utc>,
}

impl Snapshot {
    pub fn from_store(
        store: &SampleStore,
        host_store: Option<&HostStore>,
        backend: Option<&ApiSample>,
    ) -> Self {
        let rows: Vec<Row> = store.keys().map(|k| row(store, k)).collect();
        let hosts: Vec<HostRow> = host_store
            .map(|h| h.iter().map(|(name, s)| host_row(name, s)).collect())
            .unwrap_or_default();
        let latest: Vec<&DbSample> = store.latest_all();
        let agg = report::aggregate(&latest);
        Snapshot {
            rows,
            status: Status::worst(
                latest
                    .iter()
                    .map(|s| s.status)
                    .chain(hosts.iter().filter_map(|h| h.status))
                    .chain(backend.map(|b| b.status)),
            ),
            hosts,
            backend: backend.cloned(),
            nodes_online: agg.nodes_online,
            nodes_total: agg.nodes_total,
            taken_at: Utc::now(),
        }
    }
}

fn host_row(name: &str, s: &HostSeries) -> HostRow {
    let latest = s.latest.as_ref();
    HostRow {
        host: name.to_string(),
        status: latest.map(|l| l.status),
        reason: latest.map_or_else(|| "waiting for the first sample".into(), |l| l.reason()),
        clusters: latest.map(|l| l.clusters.clone()).unwrap_or_default(),
        disk_used_pct: latest.and_then(HostSample::disk_used_pct),
        last_error: s.last_error.clone(),
        sampled_at: latest.map(|l| l.sampled_at),
        probe_ms: latest.map(|l| l.probe_ms),
    }
}

fn row(store: &SampleStore, key: &str) -> Row {
    let mut r = Row {
        key: key.to_string(),
        server: String::new(),
        status: None,
        reason: "waiting for the first sample".into(),
        latency_ms: Vec::new(),
        connections: None,
        size_bytes: None,
        migrations: None,
        last_error: None,
        details: None,
        samples: 0,
    };
    for s in store.history(key) {
        r.samples += 1;
        r.latency_ms.push(s.details.select1_ms);
        if s.status == Status::Unhealthy {
            r.last_error = Some((s.details.sampled_at, s.reason()));
        }
    }
    if r.latency_ms.len() > HISTORY_POINTS {
        r.latency_ms.drain(..r.latency_ms.len() - HISTORY_POINTS);
    }
    if let Some(s) = store.latest(key) {
        let d = &s.details;
        r.server = match &d.via {
            Some(v) => format!("{} via {v}", s.server),
            None => s.server.clone(),
        };
        r.status = Some(s.status);
        r.reason = s.reason();
        r.connections = d.connections_used.zip(d.max_connections);
        r.size_bytes = d.size_bytes;
        r.migrations = d.migrations.clone();
        r.details = Some(d.clone());
    }
    r
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::db::DbName;
    use crate::health::{Details, Failure};

    fn sample(at: DateTime<Utc>, status: Status, ms: Option<f64>) -> DbSample {
        let mut d = Details {
            sampled_at: at,
            select1_ms: ms,
            reachable: ms.is_some(),
            ..Default::default()
        };
        if status == Status::Unhealthy {
            d.failure = Some(Failure::Timeout);
            d.reasons = vec!["timed out".into()];
        }
        DbSample {
            db: DbName::Slm,
            server: "10.0.0.1:5432".into(),
            status,
            details: d,
        }
    }

    #[test]
    fn keeps_the_last_error_after_recovery_and_pending_targets() {
        let mut st = SampleStore::new(Duration::from_secs(600));
        st.register("slm");
        st.register("autobot_users");
        let t0 = Utc::now();
        st.push("slm", sample(t0, Status::Healthy, Some(1.0)));
        st.push(
            "slm",
            sample(t0 + chrono::Duration::seconds(5), Status::Unhealthy, None),
        );
        st.push(
            "slm",
            sample(
                t0 + chrono::Duration::seconds(10),
                Status::Healthy,
                Some(2.0),
            ),
        );
        let snap = Snapshot::from_store(&st, None, None);
        assert_eq!(snap.rows.len(), 2);
        let slm = &snap.rows[0];
        assert_eq!(slm.status, Some(Status::Healthy));
        assert_eq!(slm.latency_ms, vec![Some(1.0), None, Some(2.0)]);
        assert_eq!(
            slm.last_error.as_ref().map(|(_, e)| e.as_str()),
            Some("timed out")
        );
        assert_eq!(slm.server, "10.0.0.1:5432");
        let pending = &snap.rows[1];
        assert_eq!(pending.status, None);
        assert_eq!(pending.samples, 0);
        assert_eq!(snap.status, Status::Healthy);
    }
}
