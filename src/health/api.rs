//! The optional probe of the SLM backend: `GET /api/health` and `/api/health/database` (the
//! spec's shapes), over plain HTTP from the server itself, within the probe timeout.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Status;

/// What the backend said about itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiSample {
    pub url: String,
    pub status: Status,
    /// Why it is not healthy (empty when healthy).
    pub reasons: Vec<String>,
    pub version: Option<String>,
    pub uptime_seconds: Option<u64>,
    /// `database` of `/api/health/database` (or of `/api/health`).
    pub database: Option<String>,
    pub nodes_online: Option<u64>,
    pub nodes_total: Option<u64>,
    pub latency_ms: f64,
}

/// `http://host[:port][/prefix]` split into the address and the path prefix.
fn parse_base(url: &str) -> Result<(String, String, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("--api-url {url}: only http:// URLs are probed (e.g. http://127.0.0.1:8000)")
    })?;
    let (authority, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(format!("--api-url {url}: no host"));
    }
    let addr = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((addr, authority.to_string(), prefix.to_string()))
}

/// One GET; returns the status code and the body.
async fn get(addr: &str, host: &str, path: &str) -> Result<(u16, Vec<u8>), String> {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    // HTTP/1.0 and no keep-alive: the body ends when the server closes, no chunking.
    let req = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: application/json\r\nUser-Agent: slm-wizard\r\n\r\n"
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut buf = Vec::new();
    s.take(1 << 20)
        .read_to_end(&mut buf)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{addr}{path}: not an HTTP response"))?;
    let head = String::from_utf8_lossy(&buf[..split]);
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("{addr}{path}: not an HTTP response"))?;
    Ok((code, buf[split + 4..].to_vec()))
}

async fn get_json(addr: &str, host: &str, path: &str) -> Result<Value, String> {
    let (code, body) = get(addr, host, path).await?;
    if code != 200 {
        return Err(format!("{path} answered HTTP {code}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{path} is not JSON: {e}"))
}

/// Probes the backend at `base` within `timeout`.
pub async fn probe(base: &str, timeout: Duration) -> ApiSample {
    let started = Instant::now();
    let mut s = ApiSample {
        url: base.to_string(),
        status: Status::Unhealthy,
        reasons: Vec::new(),
        version: None,
        uptime_seconds: None,
        database: None,
        nodes_online: None,
        nodes_total: None,
        latency_ms: 0.0,
    };
    let (addr, host, prefix) = match parse_base(base) {
        Ok(p) => p,
        Err(e) => {
            s.reasons.push(e);
            return s;
        }
    };
    let both = async {
        let health = get_json(&addr, &host, &format!("{prefix}/api/health")).await?;
        let db = get_json(&addr, &host, &format!("{prefix}/api/health/database")).await;
        Ok::<_, String>((health, db))
    };
    match tokio::time::timeout(timeout, both).await {
        Err(_) => s
            .reasons
            .push(format!("no answer within {:.0} s", timeout.as_secs_f64())),
        Ok(Err(e)) => s.reasons.push(e),
        Ok(Ok((health, db))) => {
            let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64);
            s.version = text(&health, "version");
            s.uptime_seconds = num(&health, "uptime_seconds");
            s.nodes_online = num(&health, "nodes_online");
            s.nodes_total = num(&health, "nodes_total");
            s.database = text(&health, "database");
            let overall = text(&health, "status").unwrap_or_default();
            match &db {
                Ok(d) => {
                    if let Some(st) = text(d, "status") {
                        s.database = Some(st);
                    }
                }
                Err(e) => s.reasons.push(e.clone()),
            }
            s.status = match overall.as_str() {
                "healthy" => Status::Healthy,
                "degraded" => Status::Degraded,
                other => {
                    s.reasons
                        .push(format!("the backend reports status '{other}'"));
                    Status::Unhealthy
                }
            };
            if s.database.as_deref().is_some_and(|d| d != "healthy") {
                s.reasons.push(format!(
                    "the backend sees its database as {}",
                    s.database.as_deref().unwrap_or("?")
                ));
                s.status = s.status.max(Status::Degraded);
            }
            if db.is_err() {
                s.status = s.status.max(Status::Degraded);
            }
        }
    }
    s.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            parse_base("http://127.0.0.1:8000").unwrap(),
            (
                "127.0.0.1:8000".into(),
                "127.0.0.1:8000".into(),
                String::new()
            )
        );
        assert_eq!(
            parse_base("http://slm.local/backend/").unwrap(),
            ("slm.local:80".into(), "slm.local".into(), "/backend".into())
        );
        assert!(
            parse_base("https://x")
                .unwrap_err()
                .contains("only http://")
        );
        assert!(parse_base("http://").is_err());
    }

    /// A canned backend on a free port: answers each request with the body its path maps to.
    async fn serve(routes: Vec<(&'static str, u16, &'static str)>) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                let routes = routes.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = c.read(&mut buf).await.unwrap_or(0);
                    let req = String::from_utf8_lossy(&buf[..n]).to_string();
                    let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
                    let (code, body) = routes
                        .iter()
                        .find(|(p, _, _)| *p == path)
                        .map_or((404, ""), |(_, c, b)| (*c, *b));
                    let resp = format!(
                        "HTTP/1.0 {code} X\r\nContent-Type: application/json\r\n\r\n{body}"
                    );
                    let _ = c.write_all(resp.as_bytes()).await;
                });
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn healthy_degraded_and_down() {
        let ok = serve(vec![
            (
                "/api/health",
                200,
                r#"{"status":"healthy","version":"1.4.2","uptime_seconds":3600,"database":"healthy","nodes_online":3,"nodes_total":3}"#,
            ),
            (
                "/api/health/database",
                200,
                r#"{"status":"healthy","database":"postgresql"}"#,
            ),
        ])
        .await;
        let s = probe(&ok, Duration::from_secs(3)).await;
        assert_eq!(s.status, Status::Healthy, "{s:?}");
        assert_eq!(s.version.as_deref(), Some("1.4.2"));
        assert_eq!((s.nodes_online, s.nodes_total), (Some(3), Some(3)));
        assert_eq!(s.uptime_seconds, Some(3600));

        let sick_db = serve(vec![
            ("/api/health", 200, r#"{"status":"healthy"}"#),
            (
                "/api/health/database",
                200,
                r#"{"status":"unhealthy","database":"postgresql"}"#,
            ),
        ])
        .await;
        let s = probe(&sick_db, Duration::from_secs(3)).await;
        assert_eq!(s.status, Status::Degraded, "{s:?}");
        assert!(s.reasons[0].contains("unhealthy"), "{s:?}");

        let broken = serve(vec![("/api/health", 500, "oops")]).await;
        let s = probe(&broken, Duration::from_secs(3)).await;
        assert_eq!(s.status, Status::Unhealthy);
        assert!(s.reasons[0].contains("HTTP 500"), "{s:?}");

        // Nothing listening.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let gone = format!("http://{}", l.local_addr().unwrap());
        drop(l);
        let s = probe(&gone, Duration::from_secs(3)).await;
        assert_eq!(s.status, Status::Unhealthy);
        assert!(s.reasons[0].contains("cannot connect"), "{s:?}");
    }
}
