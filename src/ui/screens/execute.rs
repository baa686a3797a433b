//! Step 5: the run — lanes, task table, live output, counters.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};

use crate::app::state::{Lane, Phase, State};
use crate::ui::widgets::{bar, duration, theme};

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let x = &state.exec;
    let lanes_h = (x.hosts.len() as u16).clamp(1, 6) + 2;
    let migrations_h = if x.migrations.phase.is_some() {
        (x.migrations.rows.len().max(1) as u16 + u16::from(x.migrations.error.is_some())).min(4) + 2
    } else {
        0
    };
    let [head, note, lanes, migrations, mid] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(lanes_h),
        Constraint::Length(migrations_h),
        Constraint::Min(4),
    ])
    .areas(area);
    if migrations_h > 0 {
        render_migrations(frame, migrations, &x.migrations);
    }

    // The engine's final counts once the run is over, else the live ones.
    let t = match &x.summary {
        Some(s) => {
            let mut t = crate::engine::events::Counts::default();
            for c in s.hosts.values() {
                t.ok += c.ok;
                t.changed += c.changed;
                t.failed += c.failed;
                t.skipped += c.skipped;
                t.unreachable += c.unreachable;
            }
            t
        }
        None => x.totals(),
    };
    let phase = match x.phase {
        Phase::Running if x.cancel_requested => Span::styled("cancelling", theme::warn()),
        Phase::Running => Span::styled("running", theme::warn()),
        Phase::Done if x.summary.as_ref().is_some_and(|s| s.cancelled) => {
            Span::styled("cancelled", theme::warn())
        }
        Phase::Done if t.failed + t.unreachable > 0 => {
            Span::styled("finished with failures", theme::error())
        }
        Phase::Done => Span::styled("finished", theme::ok()),
        Phase::Failed => Span::styled("could not start", theme::error()),
        Phase::Idle => Span::raw("idle"),
    };
    let secs = x.elapsed.as_secs();
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::raw(" "),
            phase,
            Span::raw(format!(
                "  {:02}:{:02}  ok={} changed={} failed={} skipped={} unreachable={}",
                secs / 60,
                secs % 60,
                t.ok,
                t.changed,
                t.failed,
                t.skipped,
                t.unreachable
            )),
        ])),
        head,
    );

    let note_text = match (&x.journal, x.phase) {
        (Some(j), _) => format!(
            " journal: {}",
            crate::ui::widgets::fit_path(j, usize::from(note.width).saturating_sub(10))
        ),
        (None, Phase::Running) if !x.cancel_requested => {
            " c cancels the run (asks first)".to_string()
        }
        _ => String::new(),
    };
    frame.render_widget(Paragraph::new(Span::styled(note_text, theme::dim())), note);

    let bar_w = (lanes.width as usize).saturating_sub(60).clamp(10, 40);
    let no_lane = Lane::default();
    let lane_lines: Vec<Line> = x
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let l = x.lanes.get(h).unwrap_or(&no_lane);
            let status = if l.stopped.is_some() || l.counts.failed + l.counts.unreachable > 0 {
                Some(crate::engine::Status::Failed)
            } else if l.done >= l.total && l.total > 0 {
                Some(crate::engine::Status::Ok)
            } else {
                None
            };
            let sel = if i == x.selected_host { "› " } else { "  " };
            Line::from(vec![
                Span::raw(format!("{sel}{h:<16} ")),
                Span::styled(bar(l.done, l.total, bar_w), theme::status(status)),
                Span::raw(format!(" {:>3}/{:<3} ", l.done, l.total)),
                Span::styled(
                    l.stopped.clone().or(l.current.clone()).unwrap_or_default(),
                    theme::dim(),
                ),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lane_lines).block(Block::default().borders(Borders::ALL).title(" Hosts ")),
        lanes,
    );

    // Side by side when there is room, else the table above the output.
    let [table_area, out_area] = if mid.width >= 120 {
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(mid)
    } else {
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(mid)
    };
    let inner_w = table_area.width.saturating_sub(2);
    let (host_w, status_w, time_w) = (if inner_w >= 60 { 16 } else { 10 }, 11, 6);
    let task_w = inner_w.saturating_sub(host_w + status_w + time_w + 3);
    let visible = table_area.height.saturating_sub(3) as usize;
    let rows: Vec<Row> = x
        .tasks
        .iter()
        .skip(x.tasks.len().saturating_sub(visible))
        .map(|r| {
            let st = match r.status {
                Some(s) => s.label(),
                None if x.phase == Phase::Running => "running",
                None => "unfinished",
            };
            Row::new(vec![
                Span::raw(r.task.clone()),
                Span::raw(r.host.clone()),
                Span::styled(st, theme::status(r.status)),
                Span::raw(if r.status.is_some() {
                    duration(r.duration_ms)
                } else {
                    String::new()
                }),
            ])
        })
        .collect();
    frame.render_widget(
        Table::new(
            rows,
            // Exact widths: an over-constrained layout is solved differently from run to run.
            [
                Constraint::Length(task_w),
                Constraint::Length(host_w),
                Constraint::Length(status_w),
                Constraint::Length(time_w),
            ],
        )
        .header(Row::new(vec!["task", "host", "status", "time"]).style(theme::key_text()))
        .block(Block::default().borders(Borders::ALL).title(" Tasks ")),
        table_area,
    );

    let host = x.hosts.get(x.selected_host);
    let mut lines: Vec<Line> = Vec::new();
    if let Some(e) = &x.error {
        // One screen line per line of the error (the run lock's refusal has several).
        lines.extend(
            e.lines()
                .map(|l| Line::from(Span::styled(l.to_string(), theme::error()))),
        );
    }
    let needle = x.filter.value().to_lowercase();
    let out: Vec<&String> = host
        .and_then(|h| x.lanes.get(h))
        .map(|l| {
            l.output
                .iter()
                .filter(|line| needle.is_empty() || line.to_lowercase().contains(&needle))
                .collect()
        })
        .unwrap_or_default();
    let height = out_area.height.saturating_sub(2) as usize;
    let end = out.len().saturating_sub(x.output_scroll as usize);
    let start = end.saturating_sub(height.saturating_sub(lines.len()));
    lines.extend(out[start..end].iter().map(|s| Line::from(s.as_str())));
    if x.phase != Phase::Running {
        if let Some(s) = &x.summary {
            lines.push(Line::from(Span::styled("── summary ──", theme::key_text())));
            for (h, c) in &s.hosts {
                lines.push(Line::from(format!(
                    "{h}: ok={} changed={} failed={} unreachable={}",
                    c.ok, c.changed, c.failed, c.unreachable
                )));
            }
        }
        if x.summary.is_some() && !state.failed_hosts().is_empty() {
            lines.push(Line::from(Span::styled(
                "r: retry the failed or cancelled hosts",
                theme::dim(),
            )));
        }
        if x.summary.is_some() {
            lines.push(Line::from(Span::styled(
                "Enter: go to Health",
                theme::dim(),
            )));
        }
        let keep = height.max(1);
        if lines.len() > keep {
            lines.drain(..lines.len() - keep);
        }
    }
    let follow = if x.output_scroll == 0 {
        ""
    } else {
        " (scrolled; End follows)"
    };
    let filter = match (x.filtering, needle.is_empty()) {
        (true, _) => format!(" /{}▏ ", x.filter.value()),
        (false, false) => format!(" /{} — {} lines (Esc clears) ", x.filter.value(), out.len()),
        (false, true) => String::new(),
    };
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(
                    " Output — {}{follow} ",
                    host.map(String::as_str).unwrap_or("-")
                ))
                .title_bottom(filter),
        ),
        out_area,
    );
}

/// The phase after the run: each database's schema migrations.
fn render_migrations(frame: &mut Frame, area: Rect, m: &crate::app::state::Migrations) {
    use crate::app::state::MigrationState;
    let mut lines: Vec<Line> = m
        .rows
        .iter()
        .map(|(db, st)| {
            let style = match st {
                MigrationState::Running => theme::warn(),
                MigrationState::Failed(_) => theme::error(),
                _ => theme::ok(),
            };
            Line::from(Span::styled(
                crate::app::update::migration_text(db, st),
                style,
            ))
        })
        .collect();
    if let Some(e) = &m.error {
        lines.push(Line::from(Span::styled(
            format!("not applied: {e}"),
            theme::error(),
        )));
    } else if lines.is_empty() {
        lines.push(Line::from(Span::styled(
            "finding the databases…",
            theme::warn(),
        )));
    }
    let title = match m.phase {
        Some(Phase::Running) => " Migrations — applying ",
        Some(Phase::Failed) => " Migrations — failed ",
        _ => " Migrations ",
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}
