//! Step 6: health — the live dashboard of the databases, and the last run's result per host.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::app::state::State;
use crate::ui::dashboard;
use crate::ui::widgets::theme;

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let h = &state.health;
    // The detail view gets the whole step; the last run shows again when it closes.
    let run_height = match &state.exec.summary {
        Some(s) if !h.detail => (s.hosts.len() as u16 + 3).min(area.height / 3),
        _ => 0,
    };
    let [dash_area, run_area] =
        Layout::vertical([Constraint::Min(6), Constraint::Length(run_height)]).areas(area);
    dashboard::render(
        frame,
        dash_area,
        &dashboard::View {
            snapshot: h.snapshot.as_deref(),
            selected: h.selected,
            detail: h.detail,
            interval: h.interval,
            retention: h.retention,
            error: h.error.as_deref(),
        },
    );

    let Some(s) = state.exec.summary.as_ref().filter(|_| run_height > 0) else {
        return;
    };
    let mut lines = Vec::new();
    for (host, c) in &s.hosts {
        let style = if c.failed + c.unreachable > 0 {
            theme::error()
        } else {
            theme::ok()
        };
        lines.push(Line::from(vec![
            Span::styled(format!("  {host:<20}"), style),
            Span::raw(format!(
                " ok={} changed={} failed={} skipped={} unreachable={}",
                c.ok, c.changed, c.failed, c.skipped, c.unreachable
            )),
        ]));
    }
    if let Some(j) = &state.exec.journal {
        lines.push(Line::from(Span::styled(
            format!(
                "journal: {}",
                crate::ui::widgets::fit_path(j, usize::from(run_area.width).saturating_sub(11))
            ),
            theme::dim(),
        )));
    }
    let title = if s.cancelled {
        " Last run (cancelled) "
    } else {
        " Last run "
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(title)),
        run_area,
    );
}
