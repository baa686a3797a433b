//! Step 3: the inventory — hosts added, edited, removed, moved and saved — and "test connection".

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::app::state::{ConnTest, State};
use crate::ui::widgets::theme;

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let h = &state.hosts;
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "inventory {}  (t/T test one/all · a add · e edit · d remove · m move · s save · w save as)",
            h.path.display()
        ),
        theme::dim(),
    ))];
    if !h.pending.is_empty() {
        lines.push(Line::from(Span::styled(
            format!(
                "● {} unsaved change{} — s writes them to {} (a backup is kept), w to a new file",
                h.pending.len(),
                if h.pending.len() == 1 { "" } else { "s" },
                h.path.display()
            ),
            theme::warn(),
        )));
    }
    if let Some(input) = &h.save_as {
        lines.push(Line::from(vec![
            Span::styled("save as: ", theme::key_text()),
            Span::raw(format!("{}▏", input.value())),
            Span::styled("  (Enter writes, Esc cancels)", theme::dim()),
        ]));
    }
    if let Some(e) = &h.error {
        lines.push(Line::from(Span::styled(e.clone(), theme::error())));
    }
    let selected = h.host_names().get(h.selected).cloned();
    for (group, hosts) in &h.groups {
        lines.push(Line::from(Span::styled(
            format!(
                "▾ {group} ({} host{})",
                hosts.len(),
                if hosts.len() == 1 { "" } else { "s" }
            ),
            theme::key_text(),
        )));
        for r in hosts {
            let sel = if selected.as_deref() == Some(r.name.as_str()) {
                "  › "
            } else {
                "    "
            };
            let mut spans = vec![
                Span::raw(format!("{sel}{:<20}", r.name)),
                Span::raw(format!(" {:<18}", r.address)),
                Span::styled(format!(" {}", r.connection), theme::dim()),
            ];
            if !r.user.is_empty() {
                spans.push(Span::styled(format!("  user {}", r.user), theme::dim()));
            }
            use crate::app::state::LastRun;
            match state.session.last_run.get(&r.name) {
                Some(LastRun::Failed) => {
                    spans.push(Span::styled("  ✗ last run failed", theme::error()))
                }
                Some(LastRun::Unreachable) => {
                    spans.push(Span::styled("  ✗ last run: unreachable", theme::error()))
                }
                Some(LastRun::Changed) => {
                    spans.push(Span::styled("  ~ last run repaired drift", theme::warn()))
                }
                Some(LastRun::Ok) => spans.push(Span::styled("  ✓ last run ok", theme::dim())),
                None => {}
            }
            match h.tests.get(&r.name) {
                Some(ConnTest::Running) => spans.push(Span::styled("  ⟳ testing…", theme::warn())),
                Some(ConnTest::Ok(s)) => spans.push(Span::styled(format!("  ✓ {s}"), theme::ok())),
                Some(ConnTest::Failed(e)) => {
                    spans.push(Span::styled(format!("  ✗ {e}"), theme::error()))
                }
                None => {}
            }
            lines.push(Line::from(spans));
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((h.scroll, 0))
            .block(Block::default().borders(Borders::ALL).title(" Hosts ")),
        area,
    );
    if let Some(edit) = &h.edit {
        let title = match &edit.original {
            Some((name, _)) => format!(" Edit {name} — Ctrl-S applies, Esc cancels "),
            None => " New host — Ctrl-S adds it, Esc cancels ".to_string(),
        };
        let rect = area.centered(Constraint::Max(90), Constraint::Length(15));
        frame.render_widget(Clear, rect);
        let block = Block::default().borders(Borders::ALL).title(title);
        let inner = block.inner(rect);
        frame.render_widget(block, rect);
        super::variables::render_form(frame, inner, &edit.form);
    }
}
