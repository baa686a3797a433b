//! Step 1: choose a playbook.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph, Wrap};

use std::path::Path;

use crate::app::state::State;
use crate::ui::widgets::theme;

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let [filter, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let f = state.filter.value();
    let filter_line = if state.filtering || !f.is_empty() {
        Line::from(vec![
            Span::styled(" filter: ", theme::key_text()),
            Span::raw(f.to_string()),
            Span::styled(if state.filtering { "▏" } else { "" }, theme::dim()),
        ])
    } else {
        Line::from(Span::styled(
            format!(" playbooks in {}   (/ to filter)", dirs_text(state)),
            theme::dim(),
        ))
    };
    frame.render_widget(Paragraph::new(filter_line), filter);

    let [list_area, detail] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(6)]).areas(rest);
    let visible = state.visible_playbooks();
    let items: Vec<ListItem> = visible
        .iter()
        .map(|&i| {
            let p = &state.playbooks[i];
            let file = shown_path(state, &p.path);
            let mut spans = vec![Span::styled(p.title.clone(), theme::focus())];
            spans.push(Span::styled(format!("  {file}"), theme::dim()));
            if p.error.is_some() {
                spans.push(Span::styled("  (survey error)", theme::error()));
            } else if p.derived() {
                spans.push(Span::styled("  (form from the playbook)", theme::dim()));
            } else if p.survey.is_none() {
                spans.push(Span::styled("  (no survey)", theme::dim()));
            }
            ListItem::new(Line::from(spans))
        })
        .collect();
    let empty = items.is_empty();
    let mut ls =
        ListState::default().with_selected(visible.iter().position(|i| *i == state.selected));
    frame.render_stateful_widget(
        List::new(items)
            .block(Block::default().borders(Borders::ALL).title(" Playbook "))
            .highlight_style(theme::selected())
            .highlight_symbol("› "),
        list_area,
        &mut ls,
    );
    if empty {
        let msg = if state.playbooks.is_empty() {
            format!("no playbooks found in {}", dirs_text(state))
        } else {
            "no playbook matches the filter".to_string()
        };
        frame.render_widget(
            Paragraph::new(Span::styled(msg, theme::warn())),
            list_area.inner(ratatui::layout::Margin::new(2, 1)),
        );
    }
    let text = visible
        .contains(&state.selected)
        .then(|| state.playbooks.get(state.selected))
        .flatten()
        .map(|p| match &p.error {
            Some(e) => e.clone(),
            None if p.description.is_empty() => "(no description)".into(),
            None => p.description.clone(),
        })
        .unwrap_or_default();
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: true }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Description "),
        ),
        detail,
    );
}

/// The playbook directories, as the header says them ("playbooks/", "a/, b/").
fn dirs_text(state: &State) -> String {
    state
        .playbook_dirs
        .iter()
        .map(|d| format!("{}/", d.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A playbook's path below the directory it was found in (found recursively), else as given.
fn shown_path(state: &State, path: &Path) -> String {
    state
        .playbook_dirs
        .iter()
        .find_map(|d| path.strip_prefix(d).ok())
        .filter(|rel| !rel.as_os_str().is_empty())
        .unwrap_or(path)
        .display()
        .to_string()
}
