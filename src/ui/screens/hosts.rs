//! Step 3: the inventory (read-only in this version) and "test connection".

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::app::state::{ConnTest, State};
use crate::ui::widgets::theme;

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let h = &state.hosts;
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "inventory {}  (read-only; t tests the selected host, T all)",
            h.path.display()
        ),
        theme::dim(),
    ))];
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
}
