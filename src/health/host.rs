//! Per-host probes over the host's own connection (SSH or local): the PostgreSQL clusters
//! (`pg_lsclusters`) and how full each data directory's file system is. One script, one round
//! trip per sample; the connection is kept between samples and reopened after a failure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::Status;
use crate::engine::connect::{ConnectOptions, connector};
use crate::transport::{self, ExecRequest, Transport};

/// A data directory fuller than this degrades the host.
pub const DISK_DEGRADED_PCT: u8 = 90;

/// Lists the clusters with the use% of each data directory's file system (`-` if unknown).
const SCRIPT: &str = r#"command -v pg_lsclusters >/dev/null 2>&1 || { echo NO-POSTGRESQL; exit 0; }
pg_lsclusters --no-header | while read -r v c p st o d rest; do
u=$(df -P "$d" 2>/dev/null | { read -r _; read -r _ _ _ _ pct _; echo "$pct"; })
echo "$v $c $p $st $d ${u:--}"
done"#;

/// An inventory host to watch, with its connection variables.
#[derive(Debug, Clone)]
pub struct HostTarget {
    pub name: String,
    pub vars: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub version: String,
    pub name: String,
    pub port: String,
    /// `online`, `down`, `online,recovery`, …
    pub state: String,
    pub data_dir: String,
    pub disk_used_pct: Option<u8>,
}

impl Cluster {
    pub fn online(&self) -> bool {
        self.state.starts_with("online")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostSample {
    pub host: String,
    pub status: Status,
    pub reasons: Vec<String>,
    pub clusters: Vec<Cluster>,
    pub sampled_at: DateTime<Utc>,
    pub probe_ms: f64,
}

impl HostSample {
    pub fn reason(&self) -> String {
        if self.reasons.is_empty() {
            "ok".into()
        } else {
            self.reasons.join("; ")
        }
    }

    /// The fullest data directory's file system.
    pub fn disk_used_pct(&self) -> Option<u8> {
        self.clusters.iter().filter_map(|c| c.disk_used_pct).max()
    }

    fn failed(host: &str, why: String, started: Instant) -> Self {
        HostSample {
            host: host.to_string(),
            status: Status::Unhealthy,
            reasons: vec![why],
            clusters: Vec::new(),
            sampled_at: Utc::now(),
            probe_ms: started.elapsed().as_secs_f64() * 1000.0,
        }
    }
}

/// Judges the script's output.
pub fn parse(host: &str, output: &str) -> (Status, Vec<String>, Vec<Cluster>) {
    if output.lines().any(|l| l.trim() == "NO-POSTGRESQL") {
        return (
            Status::Unhealthy,
            vec!["PostgreSQL is not installed (no pg_lsclusters)".into()],
            Vec::new(),
        );
    }
    let clusters: Vec<Cluster> = output
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 6).then(|| Cluster {
                version: f[0].into(),
                name: f[1].into(),
                port: f[2].into(),
                state: f[3].into(),
                data_dir: f[4].into(),
                disk_used_pct: f[5].trim_end_matches('%').parse().ok(),
            })
        })
        .collect();
    let mut unhealthy = Vec::new();
    let mut degraded = Vec::new();
    if clusters.is_empty() {
        unhealthy.push(format!("{host} has no PostgreSQL cluster"));
    }
    for c in &clusters {
        if !c.online() {
            unhealthy.push(format!(
                "cluster {}/{} (port {}) is {}",
                c.version, c.name, c.port, c.state
            ));
        }
        if let Some(p) = c.disk_used_pct
            && p > DISK_DEGRADED_PCT
        {
            degraded.push(format!(
                "disk of {} is {p}% full (> {DISK_DEGRADED_PCT}%)",
                c.data_dir
            ));
        }
    }
    let (status, reasons) = Status::judge(unhealthy, degraded);
    (status, reasons, clusters)
}

/// The latest sample and the last failure of every watched host.
#[derive(Debug, Default)]
pub struct HostStore {
    hosts: IndexMap<String, HostSeries>,
}

#[derive(Debug, Default, Clone)]
pub struct HostSeries {
    pub latest: Option<HostSample>,
    pub last_error: Option<(DateTime<Utc>, String)>,
}

impl HostStore {
    pub fn register(&mut self, host: &str) {
        self.hosts.entry(host.to_string()).or_default();
    }

    pub fn push(&mut self, s: HostSample) {
        let e = self.hosts.entry(s.host.clone()).or_default();
        if s.status == Status::Unhealthy {
            e.last_error = Some((s.sampled_at, s.reason()));
        }
        e.latest = Some(s);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &HostSeries)> {
        self.hosts.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// Probes one host on a kept connection (opened when missing, dropped after a failure).
pub struct HostProber {
    target: HostTarget,
    opts: ConnectOptions,
    conn: Option<Arc<dyn Transport>>,
}

impl HostProber {
    pub fn new(target: HostTarget, opts: ConnectOptions) -> Self {
        Self {
            target,
            opts,
            conn: None,
        }
    }

    pub fn host(&self) -> &str {
        &self.target.name
    }

    /// One sample within `timeout` (connecting included).
    pub async fn probe(&mut self, timeout: Duration) -> HostSample {
        let started = Instant::now();
        let host = self.target.name.clone();
        match tokio::time::timeout(timeout, self.sample()).await {
            Ok(Ok(out)) => {
                let (status, reasons, clusters) = parse(&host, &out);
                HostSample {
                    host,
                    status,
                    reasons,
                    clusters,
                    sampled_at: Utc::now(),
                    probe_ms: started.elapsed().as_secs_f64() * 1000.0,
                }
            }
            Ok(Err(e)) => {
                self.conn = None;
                HostSample::failed(&host, e, started)
            }
            Err(_) => {
                self.conn = None;
                HostSample::failed(
                    &host,
                    format!("no answer within {:.0} s", timeout.as_secs_f64()),
                    started,
                )
            }
        }
    }

    async fn sample(&mut self) -> Result<String, String> {
        let conn = match &self.conn {
            Some(c) => c.clone(),
            None => {
                let c = connector(self.opts.clone())(
                    self.target.name.clone(),
                    self.target.vars.clone(),
                )
                .await
                .map_err(|e| format!("cannot reach the host: {e}"))?;
                self.conn = Some(c.clone());
                c
            }
        };
        let req = ExecRequest {
            script: SCRIPT,
            stdin: None,
            stdin_file: None,
            escalation: None,
            timeout: None,
        };
        let out = transport::exec(&*conn, req, &mut |_, _| {})
            .await
            .map_err(|e| e.to_string())?;
        if out.rc != 0 {
            return Err(format!(
                "pg_lsclusters failed (rc {}): {}",
                out.rc,
                out.stderr.trim()
            ));
        }
        Ok(out.stdout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_disk_and_missing_postgresql() {
        let (s, r, c) = parse("h", "15 main 5432 online /var/lib/postgresql/15/main 42%\n");
        assert_eq!((s, r.len()), (Status::Healthy, 0));
        assert_eq!(c[0].disk_used_pct, Some(42));
        assert!(c[0].online());

        let (s, r, _) = parse("h", "15 main 5432 down /var/lib/postgresql/15/main 42%\n");
        assert_eq!(s, Status::Unhealthy);
        assert_eq!(r, vec!["cluster 15/main (port 5432) is down".to_string()]);

        let (s, r, _) = parse("h", "15 main 5432 online /data 95%\n");
        assert_eq!(s, Status::Degraded);
        assert!(r[0].contains("95% full"), "{r:?}");

        let (s, _, c) = parse("h", "15 main 5432 online,recovery /data -\n");
        assert_eq!((s, c[0].disk_used_pct), (Status::Healthy, None));

        let (s, r, _) = parse("h", "NO-POSTGRESQL\n");
        assert_eq!(s, Status::Unhealthy);
        assert!(r[0].contains("not installed"));
        let (s, r, _) = parse("h", "");
        assert_eq!(s, Status::Unhealthy);
        assert!(r[0].contains("no PostgreSQL cluster"));
    }

    #[test]
    fn store_keeps_the_last_failure() {
        let mut st = HostStore::default();
        st.register("a");
        let (status, reasons, clusters) = parse("a", "15 main 5432 down /d 1%\n");
        let mut s = HostSample {
            host: "a".into(),
            status,
            reasons,
            clusters,
            sampled_at: Utc::now(),
            probe_ms: 1.0,
        };
        st.push(s.clone());
        s.status = Status::Healthy;
        s.reasons.clear();
        st.push(s);
        let (_, series) = st.iter().next().unwrap();
        assert_eq!(series.latest.as_ref().unwrap().status, Status::Healthy);
        assert!(series.last_error.as_ref().unwrap().1.contains("down"));
    }
}
