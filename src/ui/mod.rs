//! Rendering: a pure function of the state (`render`), one module per screen.

pub mod dashboard;
pub mod screens;
pub mod widgets;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::app::keymap;
use crate::app::state::{Dialog, State, Step};
use widgets::theme;

/// Draws the whole wizard.
pub fn render(frame: &mut Frame, state: &State) {
    let area = frame.area();
    let [bar, body, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    step_bar(frame, bar, state);
    match state.step {
        Step::Playbook => screens::playbooks::render(frame, body, state),
        Step::Variables => screens::variables::render(frame, body, state),
        Step::Hosts => screens::hosts::render(frame, body, state),
        Step::Review => screens::review::render(frame, body, state),
        Step::Execute => screens::execute::render(frame, body, state),
        Step::Health => screens::health::render(frame, body, state),
    }
    if let Some(m) = &state.message {
        frame.render_widget(
            Paragraph::new(Line::from(m.as_str())).style(theme::warn()),
            status,
        );
    }
    frame.render_widget(
        Paragraph::new(hint_line(&key_hints(state), keys.width)),
        keys,
    );
    if state.help {
        help(frame, area, state);
    }
    if let Some(d) = state.dialog {
        dialog(frame, area, d, state);
    }
}

fn step_bar(frame: &mut Frame, area: Rect, state: &State) {
    let mut spans = if area.width >= 90 {
        vec![Span::styled(" slm-wizard ", theme::title())]
    } else {
        vec![Span::raw(" ")]
    };
    for (i, s) in Step::ALL.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" → ", theme::dim()));
        }
        let label = format!("{}. {}", i + 1, s.title());
        let style = if *s == state.step {
            theme::current_step()
        } else if s.index() < state.step.index() {
            Style::default()
        } else {
            theme::dim()
        };
        spans.push(Span::styled(label, style));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The short key list at the bottom of each screen: the keymap of what it shows now, then help
/// and quit.
pub fn key_hints(state: &State) -> Vec<(&'static str, &'static str)> {
    labels(keymap::current(state).hints, keymap::GLOBAL.hints)
}

fn labels(own: &[keymap::Label], global: &[keymap::Label]) -> Vec<(&'static str, &'static str)> {
    own.iter().chain(global).map(|l| (l.keys, l.text)).collect()
}

/// The key bar: roomy when it fits, tighter when not, and never cut mid-hint: what does not
/// fit is left out from the screen's own keys (help and quit always stay; F1 lists them all).
pub fn hint_line(hints: &[(&str, &str)], width: u16) -> Line<'static> {
    let width = usize::from(width);
    let cost = |pad: usize, h: &[(&str, &str)]| -> usize {
        h.iter()
            .map(|(k, w)| k.chars().count() + w.chars().count() + 2 * pad + 2)
            .sum()
    };
    // The last hint's trailing space may fall off the edge.
    let fits = |pad: usize, h: &[(&str, &str)]| cost(pad, h).saturating_sub(1) <= width;
    let pad = if fits(1, hints) { 1 } else { 0 };
    let mut shown: Vec<(&str, &str)> = hints.to_vec();
    while !fits(pad, &shown) && shown.len() > 2 {
        shown.remove(shown.len() - 3);
    }
    let p = " ".repeat(pad);
    let spans: Vec<Span<'static>> = shown
        .iter()
        .flat_map(|(k, what)| {
            [
                Span::styled(format!("{p}{k}{p}"), theme::key()),
                Span::raw(format!(" {what} ")),
            ]
        })
        .collect();
    Line::from(spans)
}

/// All keys of a screen, for the help overlay.
pub fn help_lines(step: Step) -> Vec<(&'static str, &'static str)> {
    labels(keymap::of_step(step).help, keymap::GLOBAL.help)
}

fn help(frame: &mut Frame, area: Rect, state: &State) {
    let entries = help_lines(state.step);
    let box_w = area.width.min(100);
    // Keys right-aligned in their own column; descriptions wrap beside it, never cut.
    let key_w = entries
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        .min(usize::from(box_w) / 3);
    let text_w = usize::from(box_w.saturating_sub(2)).saturating_sub(key_w + 2);
    let mut lines: Vec<Line> = Vec::new();
    for (k, what) in entries {
        for (i, part) in widgets::wrap_words(what, text_w).into_iter().enumerate() {
            let key = if i == 0 { k } else { "" };
            lines.push(Line::from(vec![
                Span::styled(format!("{key:>key_w$}  "), theme::key_text()),
                Span::raw(part),
            ]));
        }
    }
    let h = (lines.len() as u16 + 2).min(area.height);
    let rect = area.centered(Constraint::Length(box_w), Constraint::Length(h));
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" Keys — {} (any key closes) ", state.step.title())),
        ),
        rect,
    );
}

fn dialog(frame: &mut Frame, area: Rect, d: Dialog, state: &State) {
    let trust;
    let (title, text) = match d {
        Dialog::TrustHostKey => {
            let (host, fp) = state
                .hosts
                .trust_prompt
                .as_ref()
                .map_or(("?", "?"), |(h, f)| (h.as_str(), f.as_str()));
            trust = match &state.hosts.trust_jump {
                // The key is the jump host's: say so, so it is compared with the right host.
                Some(jump) => format!(
                    "{host} is reached through ProxyJump host {jump}, which is not in known_hosts yet. The key of {jump}:\n{fp}\nCompare it with {jump}'s own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on {jump}).\n\n[y] trust and record it for {jump}    [n] do not connect"
                ),
                None => format!(
                    "{host} is not in known_hosts yet. Its key:\n{fp}\nCompare it with the host's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub).\n\n[y] trust and record it    [n] do not connect"
                ),
            };
            (" New host key ", trust.as_str())
        }
        Dialog::ConfirmRun => (
            " Confirm ",
            "Run the playbook for real on these hosts?\n\n[y] run    [n] not now",
        ),
        Dialog::ConfirmRunAnyway => {
            trust = run_anyway_text(state, area.height.saturating_sub(10) as usize);
            (" The dry run failed ", trust.as_str())
        }
        Dialog::ConfirmCancel => (
            " Cancel the run? ",
            "No new tasks will start; running commands finish (c again kills them).\n\n[y] cancel the run    [n] keep running",
        ),
        Dialog::ConfirmSave => {
            trust = format!(
                "Write {} change(s) to {}?\nThe current file is kept as a .bak copy beside it; comments in it are not carried over.\n\n[y] save    [n] not now",
                state.hosts.pending.len(),
                state.hosts.path.display()
            );
            (" Save the inventory ", trust.as_str())
        }
        Dialog::ConfirmRemoveHost => {
            let names = state.hosts.host_names();
            trust = format!(
                "Remove {} from the inventory (every group)?\n\n[y] remove    [n] keep",
                names.get(state.hosts.selected).map_or("?", String::as_str)
            );
            (" Remove host ", trust.as_str())
        }
        Dialog::ConfirmKill => (
            " Kill the running commands? ",
            "Commands still running are killed now; the hosts may be left half-changed.\n\n[y] kill    [n] let them finish",
        ),
        Dialog::ConfirmRetry => (
            " Retry ",
            "Run the playbook again on the hosts that failed or were cancelled?\n\n[y] retry    [n] not now",
        ),
        Dialog::ConfirmMigrate => {
            let (db, files) = state
                .health
                .migrate_prompt
                .as_ref()
                .map_or(("?", &[][..]), |(d, f)| (d.as_str(), f.as_slice()));
            trust = format!(
                "Apply {} pending migration(s) to {db}, as its application user, each in its own transaction?\n{}\n\n[y] apply    [n] not now",
                files.len(),
                files
                    .iter()
                    .map(|f| format!("• {f}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            (" Apply migrations ", trust.as_str())
        }
        Dialog::ConfirmReplacePasswords => {
            trust = format!(
                "{}\n\nSet the newly generated passwords on these roles? Whatever uses their old passwords stops working until it gets the new ones (the playbook rewrites the SLM backend's env file).\n\n[y] set new passwords    [n] not now (give the current ones as variables)",
                state.exec.roles_exist.as_deref().unwrap_or_default()
            );
            (" Roles exist already ", trust.as_str())
        }
        Dialog::ConfirmRotate => (
            " Rotate passwords ",
            "Generate new passwords for the deployment's generated secrets, set them on the servers and rewrite the backend's env file? They are stored once the run succeeded; Health then proves the logins.\n\n[y] rotate    [n] not now",
        ),
        Dialog::ConfirmQuit => (
            " Quit? ",
            "A run is going. Quitting cancels it.\n\n[y] cancel and quit    [n] stay",
        ),
    };
    let height = match d {
        Dialog::TrustHostKey => 9,
        Dialog::ConfirmSave => 7,
        Dialog::ConfirmMigrate | Dialog::ConfirmReplacePasswords | Dialog::ConfirmRotate => {
            (wrapped_height(text, area.width.min(76).saturating_sub(2)) + 2).min(area.height)
        }
        // Wrapped at the dialog's inner width, plus the borders.
        Dialog::ConfirmRunAnyway => {
            (wrapped_height(text, area.width.min(76).saturating_sub(2)) + 2).min(area.height)
        }
        _ => 6,
    };
    let rect = area.centered(Constraint::Max(76), Constraint::Length(height));
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(title)
                .title_style(theme::title().add_modifier(Modifier::BOLD)),
        ),
        rect,
    );
}

/// The failed dry run in words: where, which task, why (at most `room` failures listed).
fn run_anyway_text(state: &State, room: usize) -> String {
    let failures = state.review.failures();
    let mut text = String::from("The dry run failed; the real run may fail the same way:\n");
    let room = room.max(1);
    for f in failures.iter().take(room) {
        let host = if f.host.is_empty() {
            String::new()
        } else {
            format!("{}: ", f.host)
        };
        text.push_str(&format!("• {host}{} — {}", f.task, f.reason));
        if let Some(earlier) = &f.after_unapplied {
            text.push_str(&format!(
                " (may only follow from \"{earlier}\", which check mode could not apply)"
            ));
        }
        text.push('\n');
    }
    if failures.len() > room {
        text.push_str(&format!(
            "… and {} more (see the dry run)\n",
            failures.len() - room
        ));
    }
    text.push_str("\n[a] run anyway    [n] back to the dry run");
    text
}

/// Lines `text` takes when word-wrapped at `width` columns (a close upper bound).
fn wrapped_height(text: &str, width: u16) -> u16 {
    let width = usize::from(width.max(1));
    text.lines()
        // Word wrapping breaks earlier than the width: one spare line per wrapped line.
        .map(|l| {
            let n = l.chars().count();
            if n > width { n.div_ceil(width) + 1 } else { 1 }
        })
        .sum::<usize>()
        .try_into()
        .unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests;
