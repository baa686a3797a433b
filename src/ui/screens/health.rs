//! Step 6: health — the latest probe round of the databases, and the last run's result.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::app::state::{Phase, State};
use crate::ui::widgets::theme;

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let hosts = state.exec.summary.as_ref().map_or(0, |s| s.hosts.len()) as u16;
    let [probe_area, run_area] =
        Layout::vertical([Constraint::Min(4), Constraint::Length(hosts + 4)]).areas(area);

    let mut lines = Vec::new();
    match (&state.health.report, state.health.phase) {
        (_, Phase::Running) => lines.push(Line::from(Span::styled(
            "⟳ probing the databases…",
            theme::warn(),
        ))),
        (Some(Ok(table)), _) => lines.extend(table.lines().map(|l| Line::from(l.to_string()))),
        (Some(Err(e)), _) => {
            lines.push(Line::from(Span::styled(
                format!("health probes unavailable: {e}"),
                theme::error(),
            )));
        }
        (None, _) => lines.push(Line::from("not probed yet")),
    }
    lines.push(Line::from(Span::styled(
        "r probes again; the live dashboard: slm-wizard health --watch",
        theme::dim(),
    )));
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Health — latest round "),
        ),
        probe_area,
    );

    let mut lines = Vec::new();
    match &state.exec.summary {
        Some(s) => {
            lines.push(Line::from(Span::styled(
                if s.cancelled {
                    "last run (cancelled)"
                } else {
                    "last run"
                },
                theme::key_text(),
            )));
            for (h, c) in &s.hosts {
                let style = if c.failed + c.unreachable > 0 {
                    theme::error()
                } else {
                    theme::ok()
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("  {h:<20}"), style),
                    Span::raw(format!(
                        " ok={} changed={} failed={} skipped={} unreachable={}",
                        c.ok, c.changed, c.failed, c.skipped, c.unreachable
                    )),
                ]));
            }
            if let Some(j) = &state.exec.journal {
                lines.push(Line::from(format!("journal: {}", j.display())));
            }
        }
        None => lines.push(Line::from("no run yet")),
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" Run ")),
        run_area,
    );
}
