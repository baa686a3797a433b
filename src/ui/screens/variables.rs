//! Step 2: the survey form.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::app::state::{Field, FieldValue, Form, State};
use crate::ui::widgets::{mask, theme};

/// The one-line text of a field's value.
fn value_spans(f: &Field, focused: bool) -> Vec<Span<'static>> {
    let cursor = if focused { "▏" } else { "" };
    match &f.value {
        FieldValue::Text(i) => {
            let v = i.value();
            let shown = if f.question.secret && !f.revealed {
                mask(v)
            } else {
                v.to_string()
            };
            let mut s = vec![Span::raw(format!("[{shown}{cursor}]"))];
            if f.generated_later {
                s.push(Span::styled("  (generated if empty)", theme::dim()));
            }
            s
        }
        FieldValue::Bool(b) => vec![Span::raw(if *b { "[x] yes" } else { "[ ] no" })],
        FieldValue::Choice(c) => {
            let mut s = vec![Span::raw("‹ ")];
            for (i, ch) in f.question.choices.iter().enumerate() {
                if Some(i) == *c {
                    s.push(Span::styled(format!("({ch})"), theme::selected()));
                } else {
                    s.push(Span::raw(ch.clone()));
                }
                s.push(Span::raw(" "));
            }
            s.push(Span::raw("›"));
            s
        }
        FieldValue::List {
            items,
            selected,
            input,
        } => {
            let mut s = Vec::new();
            for (i, it) in items.iter().enumerate() {
                let text = if f.question.secret && !f.revealed {
                    mask(it)
                } else {
                    it.clone()
                };
                let style = if focused && i == *selected {
                    theme::selected()
                } else {
                    ratatui::style::Style::default()
                };
                s.push(Span::styled(text, style));
                s.push(Span::raw(", "));
            }
            s.push(Span::raw(format!("[+ {}{cursor}]", input.value())));
            s
        }
    }
}

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let title = state
        .chosen_playbook()
        .map(|p| format!(" Variables — {} ", p.title))
        .unwrap_or_else(|| " Variables ".into());
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let form = &state.form;
    if form.fields.is_empty() {
        frame.render_widget(
            Paragraph::new("This playbook has no survey: nothing to answer. Enter continues."),
            inner,
        );
        return;
    }
    let inherited = form
        .fields
        .get(form.focus)
        .map(|f| state.hosts.inventory_values(&f.question.variable))
        .unwrap_or_default();
    if inherited.is_empty() || form.fields[form.focus].question.secret {
        render_form(frame, inner, form);
        return;
    }
    // The inventory sets the focused variable: say where, and which value wins.
    let [form_area, note] =
        Layout::vertical([Constraint::Min(4), Constraint::Length(4)]).areas(inner);
    render_form(frame, form_area, form);
    let per_host: Vec<String> = inherited
        .iter()
        .map(|(v, hosts)| format!("{} on {}", v, hosts.join(", ")))
        .collect();
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(Span::styled(
                format!("the inventory sets this: {}", per_host.join("; ")),
                theme::warn(),
            )),
            Line::from(Span::styled(
                "left at its default here, the inventory's value applies; changed here, yours applies to every host",
                theme::dim(),
            )),
        ])
        .wrap(Wrap { trim: true })
        .block(Block::default().borders(Borders::TOP)),
        note,
    );
}

/// A survey form: one line per field, the focused field's description and error below.
pub fn render_form(frame: &mut Frame, inner: Rect, form: &Form) {
    // The focused field's problem comes first under the list and gets the room it needs.
    let error_lines = form
        .fields
        .get(form.focus)
        .and_then(|f| f.error.as_ref())
        .map_or(0, |e| {
            (e.chars().count() + 2).div_ceil(usize::from(inner.width.max(1))) as u16
        });
    let [list, detail] = Layout::vertical([
        Constraint::Min(2),
        Constraint::Length((4 + error_lines).min(inner.height / 2).max(4)),
    ])
    .areas(inner);
    // Each field takes one line (label + value, ✗ marker); the focused one's details go below.
    let label_w = form
        .fields
        .iter()
        .map(|f| f.question.name.chars().count())
        .max()
        .unwrap_or(0)
        .min(30);
    let height = list.height as usize;
    let start = form.focus.saturating_sub(height.saturating_sub(1));
    let lines: Vec<Line> = form
        .fields
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(i, f)| {
            let focused = i == form.focus;
            let mark = if f.error.is_some() {
                Span::styled("✗ ", theme::error())
            } else {
                Span::styled("✓ ", theme::ok())
            };
            let name: String = f.question.name.chars().take(label_w).collect();
            let label_style = if focused {
                theme::selected()
            } else {
                theme::focus()
            };
            let mut spans = vec![
                Span::raw(if focused { "›" } else { " " }),
                mark,
                Span::styled(format!("{name:<label_w$}"), label_style),
                Span::raw("  "),
            ];
            spans.extend(value_spans(f, focused));
            Line::from(spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), list);
    if let Some(f) = form.fields.get(form.focus) {
        let mut lines = Vec::new();
        if let Some(e) = &f.error {
            lines.push(Line::from(Span::styled(format!("✗ {e}"), theme::error())));
        }
        lines.push(Line::from(vec![
            Span::styled(format!("{}: ", f.question.variable), theme::key_text()),
            Span::raw(f.question.description.clone()),
        ]));
        let mut expect = format!("expects {}", f.question.expected());
        if let Some(d) = &f.question.default
            && !f.question.secret
        {
            expect.push_str(&format!("; default {d}"));
        }
        if f.question.secret {
            expect.push_str("; secret (Ctrl-R reveal, Ctrl-G generate)");
        }
        lines.push(Line::from(Span::styled(expect, theme::dim())));
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: true })
                .block(Block::default().borders(Borders::TOP)),
            detail,
        );
    }
}
