//! The live health dashboard (wizard step 6 and `slm-wizard health --watch`): a table of the
//! databases with state colour, latency sparkline, connections gauge, size, migrations and last
//! error, and a detail pane for the selected one.

use crate::ui::widgets::human_secs;
use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Gauge, Paragraph, Row as TableRow, Sparkline, Table, TableState, Wrap,
};

use crate::health::Status;
use crate::health::dashboard::{HostRow, Row, Snapshot};
use crate::health::report::{human_bytes, sparkline};
use crate::ui::widgets::theme;

/// What the dashboard needs besides the samples.
pub struct View<'a> {
    pub snapshot: Option<&'a Snapshot>,
    pub selected: usize,
    pub detail: bool,
    pub interval: Duration,
    pub retention: Duration,
    /// Why probing could not start (no settings), instead of a table.
    pub error: Option<&'a str>,
}

pub fn status_style(s: Option<Status>) -> Style {
    match s {
        Some(Status::Healthy) => theme::ok(),
        Some(Status::Degraded) => theme::warn(),
        Some(Status::Unhealthy) => theme::error(),
        None => theme::dim(),
    }
}

fn status_text(s: Option<Status>) -> &'static str {
    s.map_or("pending", Status::as_str)
}

/// `▮▮▮▯▯▯▯▯ 31/100` in `width` cells for the bar.
fn conn_gauge(used: i64, max: i64, width: usize) -> String {
    let fraction = if max > 0 {
        used.clamp(0, max) as f64 / max as f64
    } else {
        0.0
    };
    format!("{} {used}/{max}", meter(fraction, width))
}

/// `▮▮▮▯▯▯▯▯`: `fraction` (0..=1) of `width` cells filled.
fn meter(fraction: f64, width: usize) -> String {
    let filled = ((fraction.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
    format!("{}{}", "▮".repeat(filled), "▯".repeat(width - filled))
}

pub fn render(frame: &mut Frame, area: Rect, v: &View) {
    let Some(snap) = v.snapshot else {
        let text = match v.error {
            Some(e) => Line::from(Span::styled(
                format!("health probes unavailable: {e}"),
                theme::error(),
            )),
            None => Line::from(Span::styled("⟳ starting the probes…", theme::warn())),
        };
        frame.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: false })
                .block(Block::default().borders(Borders::ALL).title(" Health ")),
            area,
        );
        return;
    };
    // With the detail open the tables shrink to their rows; otherwise a short summary follows.
    let (n_db, n_hosts) = (snap.rows.len() as u16, snap.hosts.len() as u16);
    let db_c = if v.detail || n_hosts > 0 {
        Constraint::Length(n_db + 3)
    } else {
        Constraint::Min(3)
    };
    let hosts_c = match (n_hosts, v.detail) {
        (0, _) => Constraint::Length(0),
        (n, true) => Constraint::Length(n + 3),
        (n, false) => Constraint::Min(n + 3),
    };
    let detail_c = if v.detail {
        Constraint::Min(6)
    } else {
        Constraint::Length(4)
    };
    let [
        head,
        backend_area,
        error_area,
        table_area,
        hosts_area,
        detail_area,
    ] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::from(snap.backend.is_some())),
        Constraint::Length(u16::from(v.error.is_some())),
        db_c,
        hosts_c,
        detail_c,
    ])
    .areas(area);
    if let Some(b) = &snap.backend {
        let mut spans = vec![
            Span::raw(" backend "),
            Span::styled(b.status.as_str(), status_style(Some(b.status))),
            Span::raw(format!(
                " · {} · version {} · up {} · nodes {}/{} · {:.0} ms",
                b.url,
                b.version.as_deref().unwrap_or("-"),
                b.uptime_seconds
                    .map_or_else(|| "-".into(), |s| human_secs(Duration::from_secs(s))),
                b.nodes_online.map_or_else(|| "-".into(), |n| n.to_string()),
                b.nodes_total.map_or_else(|| "-".into(), |n| n.to_string()),
                b.latency_ms
            )),
        ];
        if !b.reasons.is_empty() {
            spans.push(Span::styled(
                format!(" — {}", b.reasons.join("; ")),
                status_style(Some(b.status)),
            ));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), backend_area);
    }
    if let Some(e) = v.error {
        frame.render_widget(
            Paragraph::new(Span::styled(
                format!("databases not probed: {e}"),
                theme::error(),
            )),
            error_area,
        );
    }

    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                format!(" {} ", snap.status.as_str().to_uppercase()),
                status_style(Some(snap.status)).add_modifier(ratatui::style::Modifier::REVERSED),
            ),
            Span::raw(format!(
                "  servers online {}/{} · every {} · window {} · {}",
                snap.nodes_online,
                snap.nodes_total,
                human_secs(v.interval),
                human_secs(v.retention),
                snap.taken_at
                    .with_timezone(&chrono::Local)
                    .format("%H:%M:%S"),
            )),
        ])),
        head,
    );
    table(frame, table_area, snap, v);
    if !snap.hosts.is_empty() {
        hosts_table(frame, hosts_area, snap, v);
    }
    let selected = v
        .selected
        .min((snap.rows.len() + snap.hosts.len()).saturating_sub(1));
    if let Some(row) = snap.rows.get(selected) {
        if v.detail {
            detail(frame, detail_area, row);
        } else {
            summary(frame, detail_area, row);
        }
    } else if let Some(h) = snap.hosts.get(selected - snap.rows.len()) {
        host_detail(frame, detail_area, h, v.detail);
    }
}

fn hosts_table(frame: &mut Frame, area: Rect, snap: &Snapshot, v: &View) {
    let wide = area.width >= 130;
    let rows: Vec<TableRow> = snap
        .hosts
        .iter()
        .map(|h| {
            let style = status_style(h.status);
            let clusters = if h.clusters.is_empty() {
                "-".to_string()
            } else {
                h.clusters
                    .iter()
                    .map(|c| format!("{}/{} :{} {}", c.version, c.name, c.port, c.state))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let disk = h.disk_used_pct.map_or_else(
                || "-".into(),
                |p| format!("{} {p}%", meter(f64::from(p) / 100.0, 8)),
            );
            let state = match h.status {
                Some(Status::Healthy) | None => status_text(h.status).to_string(),
                _ => h.reason.clone(),
            };
            TableRow::new(vec![
                Cell::from(Span::styled("●", style)),
                Cell::from(h.host.clone()),
                Cell::from(clusters),
                Cell::from(disk),
                Cell::from(Span::styled(state, style)),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(1),
        Constraint::Length(14),
        Constraint::Length(if wide { 34 } else { 24 }),
        Constraint::Length(13),
        Constraint::Min(10),
    ];
    let t = Table::new(rows, widths)
        .header(
            TableRow::new(vec!["", "HOST", "POSTGRESQL", "DATA DISK", "STATE"]).style(theme::dim()),
        )
        .row_highlight_style(theme::selected())
        .highlight_symbol("▶")
        .highlight_spacing(ratatui::widgets::HighlightSpacing::Always)
        .block(Block::default().borders(Borders::ALL).title(" Hosts "));
    let selected = v.selected.checked_sub(snap.rows.len());
    let mut ts = TableState::default().with_selected(selected);
    frame.render_stateful_widget(t, area, &mut ts);
}

fn host_detail(frame: &mut Frame, area: Rect, h: &HostRow, full: bool) {
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{} ", h.host), theme::focus()),
        Span::styled(status_text(h.status), status_style(h.status)),
        Span::raw(format!(": {}", h.reason)),
    ])];
    if full {
        for c in &h.clusters {
            lines.push(Line::from(format!(
                "cluster {}/{} port {} {} · data {} · disk {}",
                c.version,
                c.name,
                c.port,
                c.state,
                c.data_dir,
                c.disk_used_pct
                    .map_or_else(|| "-".into(), |p| format!("{p}% used"))
            )));
        }
        if let (Some(at), Some(ms)) = (h.sampled_at, h.probe_ms) {
            lines.push(Line::from(format!(
                "sampled {} in {ms:.0} ms",
                at.with_timezone(&chrono::Local).format("%H:%M:%S")
            )));
        }
    }
    if let Some((at, e)) = &h.last_error {
        lines.push(Line::from(Span::styled(
            format!(
                "last error {}: {e}",
                at.with_timezone(&chrono::Local).format("%H:%M:%S")
            ),
            if full { theme::error() } else { theme::dim() },
        )));
    }
    let block = if full {
        Block::default()
            .borders(Borders::ALL)
            .title(format!(" {} — detail ", h.host))
    } else {
        Block::default().borders(Borders::TOP)
    };
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(block),
        area,
    );
}

fn table(frame: &mut Frame, area: Rect, snap: &Snapshot, v: &View) {
    let wide = area.width >= 130;
    let spark_width = if wide { 24 } else { 10 };
    let header = if wide {
        vec![
            "",
            "DATABASE",
            "SERVER",
            "SELECT 1",
            "LATENCY",
            "CONNS",
            "SIZE",
            "MIGRATIONS",
            "LAST ERROR",
        ]
    } else {
        vec![
            "", "DATABASE", "SELECT 1", "LATENCY", "CONNS", "SIZE", "STATE",
        ]
    };
    let rows: Vec<TableRow> = snap
        .rows
        .iter()
        .map(|r| {
            let style = status_style(r.status);
            let select1 = r
                .details
                .as_ref()
                .and_then(|d| d.select1_ms)
                .map_or_else(|| "-".into(), |ms| format!("{ms:.1} ms"));
            let conns = r.connections.map_or_else(
                || "-".into(),
                |(u, m)| conn_gauge(u, m, if wide { 8 } else { 4 }),
            );
            let size = r.size_bytes.map_or_else(|| "-".into(), human_bytes);
            let mut cells = vec![
                Cell::from(Span::styled("●", style)),
                Cell::from(r.key.clone()),
            ];
            if wide {
                cells.push(Cell::from(r.server.clone()));
            }
            cells.push(Cell::from(select1));
            cells.push(Cell::from(Span::styled(
                sparkline(&r.latency_ms, spark_width),
                theme::ok(),
            )));
            cells.push(Cell::from(conns));
            cells.push(Cell::from(size));
            if wide {
                let migr = r.migrations.as_ref().map_or_else(
                    || "-".into(),
                    |m| match m.pending {
                        0 => format!("{} ok", m.applied),
                        n => format!("{} ok, {n} pending", m.applied),
                    },
                );
                cells.push(Cell::from(migr));
                let err = match (&r.status, &r.last_error) {
                    (Some(Status::Healthy), None) => String::new(),
                    (Some(Status::Healthy), Some((at, e))) => format!(
                        "{} {e}",
                        at.with_timezone(&chrono::Local).format("%H:%M:%S")
                    ),
                    _ => r.reason.clone(),
                };
                cells.push(Cell::from(Span::styled(err, style)));
            } else {
                cells.push(Cell::from(Span::styled(status_text(r.status), style)));
            }
            TableRow::new(cells)
        })
        .collect();
    let widths: Vec<Constraint> = if wide {
        vec![
            Constraint::Length(1),
            Constraint::Length(14),
            Constraint::Length(22),
            Constraint::Length(9),
            Constraint::Length(spark_width as u16),
            Constraint::Length(16),
            Constraint::Length(9),
            Constraint::Length(16),
            Constraint::Min(10),
        ]
    } else {
        vec![
            Constraint::Length(1),
            Constraint::Length(14),
            Constraint::Length(9),
            Constraint::Length(spark_width as u16),
            Constraint::Length(11),
            Constraint::Length(9),
            Constraint::Min(7),
        ]
    };
    let t = Table::new(rows, widths)
        .header(TableRow::new(header).style(theme::dim()))
        .row_highlight_style(theme::selected())
        .highlight_symbol("▶")
        .highlight_spacing(ratatui::widgets::HighlightSpacing::Always)
        .block(Block::default().borders(Borders::ALL).title(" Databases "));
    let selected = (v.selected < snap.rows.len()).then_some(v.selected);
    let mut ts = TableState::default().with_selected(selected);
    frame.render_stateful_widget(t, area, &mut ts);
}

/// The selected row's state and reason (below the table when the detail view is closed).
fn summary(frame: &mut Frame, area: Rect, r: &Row) {
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{} ", r.key), theme::focus()),
        Span::styled(status_text(r.status), status_style(r.status)),
        Span::raw(format!(": {}", r.reason)),
    ])];
    if let Some((at, e)) = &r.last_error
        && r.status == Some(Status::Healthy)
    {
        lines.push(Line::from(Span::styled(
            format!(
                "last error {}: {e}",
                at.with_timezone(&chrono::Local).format("%H:%M:%S")
            ),
            theme::dim(),
        )));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::TOP)),
        area,
    );
}

fn detail(frame: &mut Frame, area: Rect, r: &Row) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {} — detail ", r.key));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [text_area, gauge_area, spark_area] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(3),
    ])
    .areas(inner);
    let mut lines = vec![Line::from(vec![
        Span::raw("state      "),
        Span::styled(status_text(r.status), status_style(r.status)),
        Span::raw(format!(" — {}", r.reason)),
    ])];
    if let Some(d) = &r.details {
        let ms = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.1} ms"));
        let kv = |k: &str, v: String| Line::from(format!("{k:<11}{v}"));
        lines.push(kv("target", d.target.clone()));
        if let Some(via) = &d.via {
            lines.push(kv("via", format!("SSH tunnel through {via}")));
        }
        lines.push(kv(
            "latency",
            format!(
                "connect {}{} · SELECT 1 {} · probe {:.0} ms",
                ms(d.connect_ms),
                match &d.pool {
                    Some(p) if p.reused => " (pooled)",
                    Some(_) => " (login)",
                    None => "",
                },
                ms(d.select1_ms),
                d.probe_ms
            ),
        ));
        if let Some(p) = &d.pool {
            lines.push(kv(
                "pool",
                format!(
                    "{} open · app pool {} + {} overflow{} · recycle {}",
                    p.open,
                    p.size,
                    p.max_overflow,
                    if p.pools_on_server > 1 {
                        format!(" × {} databases on this server", p.pools_on_server)
                    } else {
                        String::new()
                    },
                    p.recycle_seconds
                        .map_or_else(|| "never".into(), |s| human_secs(Duration::from_secs(s)))
                ),
            ));
        }
        lines.push(kv(
            "server",
            format!(
                "{} · up {}",
                d.server_version.as_deref().unwrap_or("-"),
                d.uptime_seconds
                    .map_or_else(|| "-".into(), |s| human_secs(Duration::from_secs(s)))
            ),
        ));
        if let Some(m) = &d.migrations {
            lines.push(kv(
                "migrations",
                format!(
                    "{} applied, {} pending, latest {}{}",
                    m.applied,
                    m.pending,
                    m.latest.as_deref().unwrap_or("-"),
                    if m.drift > 0 {
                        format!(", {} changed or missing", m.drift)
                    } else {
                        String::new()
                    }
                ),
            ));
        }
        lines.push(kv(
            "security",
            match &d.security {
                Some(s) => format!(
                    "{} (superuser: {}, PUBLIC CONNECT: {}) · SSL {}",
                    if s.ok { "ok" } else { "FAILED" },
                    s.superuser,
                    s.public_connect,
                    d.ssl.map_or("-", |b| if b { "on" } else { "off" })
                ),
                None => "-".into(),
            },
        ));
        lines.push(kv(
            "sampled",
            format!(
                "{} ({} samples kept)",
                d.sampled_at
                    .with_timezone(&chrono::Local)
                    .format("%H:%M:%S"),
                r.samples
            ),
        ));
    }
    if let Some((at, e)) = &r.last_error {
        lines.push(Line::from(Span::styled(
            format!(
                "last error {}: {e}",
                at.with_timezone(&chrono::Local).format("%H:%M:%S")
            ),
            theme::error(),
        )));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), text_area);
    let (ratio, label) = match r.connections {
        Some((u, m)) if m > 0 => (
            (u as f64 / m as f64).clamp(0.0, 1.0),
            format!("connections {u} of {m}"),
        ),
        _ => (0.0, "connections -".to_string()),
    };
    frame.render_widget(
        Gauge::default()
            .ratio(ratio)
            .label(label)
            .gauge_style(status_style(r.status)),
        gauge_area,
    );
    // Sparkline bars are integers: microseconds keep sub-millisecond latencies visible.
    let points: Vec<u64> = r
        .latency_ms
        .iter()
        .map(|v| v.map_or(0, |ms| (ms * 1000.0) as u64))
        .collect();
    let tail = &points[points.len().saturating_sub(spark_area.width as usize)..];
    frame.render_widget(
        Sparkline::default()
            .data(tail)
            .style(theme::ok())
            .block(Block::default().title("SELECT 1 latency over the window")),
        spark_area,
    );
}
