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
    // Paths are never wrapped mid-name: shortened from the left when the column is narrow.
    let width = usize::from(left.width.saturating_sub(2));
    let mut path_line = |label: &'static str, path: &std::path::Path| {
        let path = path.display().to_string();
        if label.len() + path.chars().count() <= width {
            lines.push(Line::from(vec![
                Span::styled(label, theme::key_text()),
                Span::raw(path),
            ]));
        } else {
            lines.push(Line::from(Span::styled(
                label.trim_end(),
                theme::key_text(),
            )));
            lines.push(Line::from(crate::ui::widgets::fit_left(&path, width)));
        }
    };
    if let Some(p) = state.chosen_playbook() {
        path_line("playbook ", &p.path);
    }
    path_line("inventory ", &state.hosts.path);
    lines.push(Line::from(Span::styled("variables", theme::key_text())));
    let given = state.form.values();
    for f in &state.form.fields {
        let var = &f.question.variable;
        // Left at its default here, the inventory's value is the one that runs: show that.
        let inherited = if given.contains_key(var) || f.question.secret {
            Vec::new()
        } else {
            state.hosts.inventory_values(var)
        };
        let value = if inherited.is_empty() {
            f.display()
        } else {
            inherited
                .iter()
                .map(|(v, hosts)| format!("{v} (inventory: {})", hosts.join(", ")))
                .collect::<Vec<_>>()
                .join("; ")
        };
        lines.push(Line::from(vec![
            Span::raw(format!("  {var} = ")),
            Span::styled(value, theme::dim()),
        ]));
    }
    lines.push(Line::from(Span::styled("hosts", theme::key_text())));
    for (g, hosts) in &state.hosts.groups {
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        lines.push(Line::from(format!("  {g}: {}", names.join(", "))));
    }
    // The engine, once the dry run knows it (or when chosen by hand); `e` cycles the choice.
    let chosen = state.engine != crate::config::Engine::Auto;
    if state.review.engine.is_some() || chosen {
        let used = match &state.review.engine {
            Some((name, _)) => format!("{} → {name}", state.engine.name()),
            None => state.engine.name().to_string(),
        };
        lines.push(Line::from(vec![
            Span::styled("engine ", theme::key_text()),
            Span::raw(used),
            Span::styled("  (e: change)", theme::dim()),
        ]));
        if let Some((_, Some(reason))) = &state.review.engine {
            lines.push(Line::from(Span::styled(
                format!("  native engine refused: {reason}"),
                theme::warn(),
            )));
        }
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
        Phase::Done => {
            let failed = r.failures().len();
            lines.push(if failed == 0 {
                Line::from(Span::styled(
                    "dry run finished — Enter to confirm the real run",
                    theme::ok(),
                ))
            } else {
                Line::from(Span::styled(
                    format!("dry run finished with {failed} failure(s) — see below"),
                    theme::error(),
                ))
            });
        }
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
