//! Step 4: what will run, and the check-mode dry run per host.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::app::state::{Phase, State};
use crate::ui::widgets::theme;

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(area);
    let mut lines = Vec::new();
    if let Some(p) = state.chosen_playbook() {
        lines.push(Line::from(vec![
            Span::styled("playbook ", theme::key_text()),
            Span::raw(p.path.display().to_string()),
        ]));
    }
    lines.push(Line::from(vec![
        Span::styled("inventory ", theme::key_text()),
        Span::raw(state.hosts.path.display().to_string()),
    ]));
    lines.push(Line::from(Span::styled("variables", theme::key_text())));
    for f in &state.form.fields {
        lines.push(Line::from(vec![
            Span::raw(format!("  {} = ", f.question.variable)),
            Span::styled(f.display(), theme::dim()),
        ]));
    }
    lines.push(Line::from(Span::styled("hosts", theme::key_text())));
    for (g, hosts) in &state.hosts.groups {
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        lines.push(Line::from(format!("  {g}: {}", names.join(", "))));
    }
    if let Some(limit) = &state.limit {
        lines.push(Line::from(vec![
            Span::styled("limited to ", theme::key_text()),
            Span::styled(format!("{limit} (repair)"), theme::warn()),
        ]));
    }
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" What will run "),
        ),
        left,
    );

    let r = &state.review;
    let host = r.hosts.get(r.selected_host);
    let title = match host {
        Some(h) => format!(
            " Dry run (check + diff) — {h} [{}/{}] ",
            r.selected_host + 1,
            r.hosts.len()
        ),
        None => " Dry run (check + diff) ".to_string(),
    };
    let mut lines: Vec<Line> = Vec::new();
    match r.phase {
        Phase::Running => lines.push(Line::from(Span::styled(
            "⟳ dry run in progress…",
            theme::warn(),
        ))),
        Phase::Failed => lines.push(Line::from(Span::styled(
            format!("dry run failed: {}", r.error.clone().unwrap_or_default()),
            theme::error(),
        ))),
        Phase::Done => lines.push(Line::from(Span::styled(
            "dry run finished — Enter to confirm the real run",
            theme::ok(),
        ))),
        Phase::Idle => {}
    }
    if let Some(h) = host {
        if let Some(c) = r.counts.get(h) {
            lines.push(Line::from(format!(
                "ok={} changed={} failed={} skipped={} unreachable={}",
                c.ok, c.changed, c.failed, c.skipped, c.unreachable
            )));
        }
        let items = r.per_host.get(h).map(Vec::as_slice).unwrap_or_default();
        if items.is_empty() && r.phase == Phase::Done {
            lines.push(Line::from("nothing would change on this host"));
        }
        for it in items {
            let verb = match it.status {
                crate::engine::Status::Changed => "would change",
                other => other.label(),
            };
            lines.push(Line::from(vec![
                Span::styled(format!("{verb}: "), theme::status(Some(it.status))),
                Span::styled(it.task.clone(), theme::focus()),
            ]));
            if let Some(m) = &it.msg {
                lines.push(Line::from(Span::styled(format!("  {m}"), theme::dim())));
            }
            for d in &it.diff {
                let style = if d.starts_with('+') && !d.starts_with("+++") {
                    theme::ok()
                } else if d.starts_with('-') && !d.starts_with("---") {
                    theme::error()
                } else {
                    theme::dim()
                };
                lines.push(Line::from(Span::styled(format!("  {d}"), style)));
            }
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((r.scroll, 0))
            .block(Block::default().borders(Borders::ALL).title(title)),
        right,
    );
}
