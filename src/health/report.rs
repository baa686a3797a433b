//! Seed-format JSON and the text table.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::api::ApiSample;
use super::dashboard::{HostRow, Snapshot};
use super::{DbSample, Details, Status};

/// The spec's `/api/health` object, for the databases probed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Aggregate {
    /// The worst state of any database.
    pub status: Status,
    /// slm-wizard's version.
    pub version: String,
    /// The smallest uptime of the servers reached (0 when none was).
    pub uptime_seconds: u64,
    /// The databases' aggregate state.
    pub database: Status,
    /// Database servers (distinct host:port) that answered.
    pub nodes_online: usize,
    pub nodes_total: usize,
}

pub fn aggregate(samples: &[&DbSample]) -> Aggregate {
    let status = Status::worst(samples.iter().map(|s| s.status));
    let mut servers: BTreeMap<&str, bool> = BTreeMap::new();
    for s in samples {
        *servers.entry(s.server.as_str()).or_default() |= s.details.reachable;
    }
    Aggregate {
        status,
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_seconds: samples
            .iter()
            .filter_map(|s| s.details.uptime_seconds)
            .min()
            .unwrap_or(0),
        database: status,
        nodes_online: servers.values().filter(|up| **up).count(),
        nodes_total: servers.len(),
    }
}

/// `{"databases": {name: {"status", "database": "postgresql", "details"}}, "health": {…}}`.
pub fn round_json(samples: &[&DbSample]) -> Value {
    let mut dbs = Map::new();
    for s in samples {
        dbs.insert(s.db.as_str().to_string(), s.to_json());
    }
    serde_json::json!({
        "databases": dbs,
        "health": aggregate(samples),
    })
}

/// Eight-level sparkline of the values (empty slots for missing ones).
pub fn sparkline(values: &[Option<f64>], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = &values[values.len().saturating_sub(width)..];
    let max = tail.iter().flatten().cloned().fold(0.0f64, f64::max);
    tail.iter()
        .map(|v| match v {
            None => '·',
            Some(_) if max <= 0.0 => BARS[0],
            Some(v) => BARS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize],
        })
        .collect()
}

pub fn human_bytes(n: i64) -> String {
    let mut v = n as f64;
    for unit in ["B", "kB", "MB", "GB", "TB"] {
        if v < 1024.0 || unit == "TB" {
            return if unit == "B" {
                format!("{n} B")
            } else {
                format!("{v:.1} {unit}")
            };
        }
        v /= 1024.0;
    }
    unreachable!()
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// A table of one round's samples (`health`).
pub fn table(samples: &[&DbSample], color: bool) -> String {
    let lines: Vec<DbLine> = samples
        .iter()
        .map(|s| DbLine {
            key: s.db.as_str(),
            status: s.status,
            server: match &s.details.via {
                Some(v) => format!("{} via {v}", s.server),
                None => s.server.clone(),
            },
            details: &s.details,
            history: &[],
        })
        .collect();
    render_table(&lines, &aggregate(samples), color)
}

/// The databases of a monitor's snapshot that have a sample, as [`table`] shows them, with a
/// latency sparkline over the retained window (`health --watch` without a terminal).
pub fn snapshot_table(snap: &Snapshot, color: bool) -> String {
    let lines: Vec<DbLine> = snap
        .rows
        .iter()
        .filter_map(|r| {
            Some(DbLine {
                key: &r.key,
                status: r.status?,
                server: r.server.clone(),
                details: r.details.as_ref()?,
                history: &r.latency_ms,
            })
        })
        .collect();
    let status = Status::worst(lines.iter().map(|l| l.status));
    let agg = Aggregate {
        status,
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_seconds: lines
            .iter()
            .filter_map(|l| l.details.uptime_seconds)
            .min()
            .unwrap_or(0),
        database: status,
        nodes_online: snap.nodes_online,
        nodes_total: snap.nodes_total,
    };
    render_table(&lines, &agg, color)
}

/// One database's line of the text table.
struct DbLine<'a> {
    key: &'a str,
    status: Status,
    /// `host:port`, and the SSH host it is reached through.
    server: String,
    details: &'a Details,
    /// `SELECT 1` latency over the retained window, oldest first (a sparkline when > 1).
    history: &'a [Option<f64>],
}

impl DbLine<'_> {
    /// The reasons joined, or "ok" (as [`DbSample::reason`]).
    fn reason(&self) -> String {
        if self.details.reasons.is_empty() {
            "ok".into()
        } else {
            self.details.reasons.join("; ")
        }
    }
}

fn render_table(lines: &[DbLine], a: &Aggregate, color: bool) -> String {
    let header = [
        "DATABASE",
        "STATUS",
        "SERVER",
        "CONNECT",
        "SELECT 1",
        "CONNS",
        "SIZE",
        "MIGRATIONS",
        "SSL",
        "REASON",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    for s in lines {
        let d = s.details;
        let conns = match (d.connections_used, d.max_connections) {
            (Some(u), Some(m)) => format!("{u}/{m}"),
            _ => "-".into(),
        };
        let migrations = match &d.migrations {
            Some(m) => format!("{} ok, {} pending", m.applied, m.pending),
            None => "-".into(),
        };
        let mut select1 = d
            .select1_ms
            .map(|v| format!("{v:.1} ms"))
            .unwrap_or_else(|| "-".into());
        if s.history.len() > 1 {
            select1 = format!("{select1} {}", sparkline(s.history, 20));
        }
        rows.push(vec![
            s.key.to_string(),
            s.status.as_str().to_string(),
            s.server.clone(),
            d.connect_ms
                .map(|v| format!("{v:.1} ms"))
                .unwrap_or_else(|| "-".into()),
            select1,
            conns,
            d.size_bytes.map(human_bytes).unwrap_or_else(|| "-".into()),
            migrations,
            opt(d.ssl.map(|b| if b { "yes" } else { "no" })),
            s.reason(),
        ]);
    }
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], status: Option<Status>| -> String {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let last = i + 1 == cells.len();
            let pad = if last {
                String::new()
            } else {
                " ".repeat(width[i] - c.chars().count() + 2)
            };
            match (i, status, color) {
                (1, Some(st), true) => {
                    let code = match st {
                        Status::Healthy => "32",
                        Status::Degraded => "33",
                        Status::Unhealthy => "31",
                    };
                    l.push_str(&format!("\x1b[{code}m{c}\x1b[0m{pad}"));
                }
                _ => l.push_str(&format!("{c}{pad}")),
            }
        }
        l.push('\n');
        l
    };
    out.push_str(&line(
        &header.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        None,
    ));
    for (r, s) in rows.iter().zip(lines) {
        out.push_str(&line(r, Some(s.status)));
    }
    out.push_str(&format!(
        "\noverall: {}  (servers online {}/{}, min uptime {} s, slm-wizard {})\n",
        a.status, a.nodes_online, a.nodes_total, a.uptime_seconds, a.version
    ));
    out
}

/// The backend's line: `backend URL: STATUS (version …, up … s, nodes …/…, … ms) — reasons`.
pub fn backend_line(b: &ApiSample) -> String {
    format!(
        "backend {}: {} (version {}, up {} s, nodes {}/{}, {:.0} ms){}",
        b.url,
        b.status,
        b.version.as_deref().unwrap_or("-"),
        b.uptime_seconds.map_or("-".into(), |u| u.to_string()),
        b.nodes_online.map_or("-".into(), |n| n.to_string()),
        b.nodes_total.map_or("-".into(), |n| n.to_string()),
        b.latency_ms,
        if b.reasons.is_empty() {
            String::new()
        } else {
            format!(" — {}", b.reasons.join("; "))
        }
    )
}

/// A watched host's line: `host NAME: STATUS (postgresql CLUSTERS, data disk N%, … ms) — reasons`.
pub fn host_line(h: &HostRow) -> String {
    let Some(status) = h.status else {
        return format!("host {}: {}", h.host, h.reason);
    };
    let clusters = if h.clusters.is_empty() {
        "-".to_string()
    } else {
        h.clusters
            .iter()
            .map(|c| format!("{}/{} :{} {}", c.version, c.name, c.port, c.state))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "host {}: {status} (postgresql {clusters}, data disk {}, {:.0} ms){}",
        h.host,
        h.disk_used_pct.map_or("-".into(), |p| format!("{p}%")),
        h.probe_ms.unwrap_or(0.0),
        if status == Status::Healthy {
            String::new()
        } else {
            format!(" — {}", h.reason)
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::DbName;
    use crate::health::Details;

    fn s(db: DbName, server: &str, status: Status, up: Option<u64>, reach: bool) -> DbSample {
        DbSample {
            db,
            server: server.into(),
            status,
            details: Details {
                reachable: reach,
                uptime_seconds: up,
                ..Default::default()
            },
        }
    }

    #[test]
    fn aggregate_is_the_specs_shape() {
        let a = s(DbName::Slm, "a:5432", Status::Healthy, Some(100), true);
        let b = s(
            DbName::SlmUsers,
            "a:5432",
            Status::Degraded,
            Some(100),
            true,
        );
        let c = s(
            DbName::AutobotUsers,
            "b:5432",
            Status::Unhealthy,
            None,
            false,
        );
        let v = round_json(&[&a, &b, &c]);
        let h = &v["health"];
        let keys: Vec<&str> = h.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "status",
                "version",
                "uptime_seconds",
                "database",
                "nodes_online",
                "nodes_total"
            ]
        );
        assert_eq!(h["status"], "unhealthy");
        assert_eq!(h["database"], "unhealthy");
        assert_eq!(h["uptime_seconds"], 100);
        assert_eq!(h["nodes_online"], 1);
        assert_eq!(h["nodes_total"], 2);
        assert_eq!(v["databases"]["slm_users"]["status"], "degraded");
        assert_eq!(v["databases"]["slm"]["database"], "postgresql");
        assert_eq!(
            sparkline(&[Some(1.0), None, Some(8.0), Some(4.0)], 3),
            "·█▅"
        );
        let t = table(&[&a, &b, &c], false);
        assert!(t.starts_with("DATABASE"), "{t}");
        assert!(t.contains("overall: unhealthy"), "{t}");
        assert_eq!(human_bytes(7_500_000), "7.2 MB");
    }

    /// `health --watch` prints its table from the monitor's snapshot: the same text as one
    /// round's table, plus the latency history once there is one; pending databases left out.
    #[test]
    fn a_snapshots_table_is_the_rounds_table() {
        use crate::health::store::SampleStore;
        let mut a = s(DbName::Slm, "a:5432", Status::Healthy, Some(100), true);
        a.details.via = Some("slm".into());
        a.details.select1_ms = Some(1.5);
        let c = s(
            DbName::AutobotUsers,
            "b:5432",
            Status::Unhealthy,
            None,
            false,
        );
        let mut st = SampleStore::new(std::time::Duration::from_secs(600));
        for db in [DbName::Slm, DbName::SlmUsers, DbName::AutobotUsers] {
            st.register(db.as_str());
        }
        st.push("slm", a.clone());
        st.push("autobot_users", c.clone());
        let snap = Snapshot::from_store(&st, None, None);
        assert_eq!(snapshot_table(&snap, false), table(&[&a, &c], false));
        assert_eq!(snapshot_table(&snap, true), table(&[&a, &c], true));
        st.push("slm", a.clone());
        let snap = Snapshot::from_store(&st, None, None);
        assert!(snapshot_table(&snap, false).contains("1.5 ms ██"));
    }

    #[test]
    fn host_and_backend_lines() {
        use crate::health::host::Cluster;
        let mut h = HostRow {
            host: "redis".into(),
            status: None,
            reason: "waiting for the first sample".into(),
            clusters: Vec::new(),
            disk_used_pct: None,
            last_error: None,
            sampled_at: None,
            probe_ms: None,
        };
        assert_eq!(host_line(&h), "host redis: waiting for the first sample");
        h.status = Some(Status::Unhealthy);
        h.reason = "cluster 15/main (port 5432) is down".into();
        h.clusters = vec![Cluster {
            version: "15".into(),
            name: "main".into(),
            port: "5432".into(),
            state: "down".into(),
            data_dir: "/d".into(),
            disk_used_pct: Some(42),
        }];
        h.disk_used_pct = Some(42);
        h.probe_ms = Some(12.4);
        assert_eq!(
            host_line(&h),
            "host redis: unhealthy (postgresql 15/main :5432 down, data disk 42%, 12 ms) — \
             cluster 15/main (port 5432) is down"
        );
        let b = ApiSample {
            url: "http://x:8000".into(),
            status: Status::Degraded,
            reasons: vec!["slow".into()],
            version: Some("2.0.1".into()),
            uptime_seconds: Some(5),
            database: None,
            nodes_online: Some(1),
            nodes_total: Some(2),
            latency_ms: 3.2,
        };
        assert_eq!(
            backend_line(&b),
            "backend http://x:8000: degraded (version 2.0.1, up 5 s, nodes 1/2, 3 ms) — slow"
        );
    }
}
