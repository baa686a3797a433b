//! Small shared pieces: colours (honouring NO_COLOR), masks, progress text.

pub mod theme {
    use ratatui::style::{Color, Modifier, Style};

    use crate::engine::Status;

    fn color() -> bool {
        std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    }

    fn fg(c: Color) -> Style {
        if color() {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    pub fn title() -> Style {
        fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    pub fn current_step() -> Style {
        Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED)
    }
    pub fn dim() -> Style {
        fg(Color::DarkGray)
    }
    pub fn key() -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }
    pub fn key_text() -> Style {
        fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    pub fn warn() -> Style {
        fg(Color::Yellow)
    }
    pub fn error() -> Style {
        fg(Color::Red)
    }
    pub fn ok() -> Style {
        fg(Color::Green)
    }
    pub fn focus() -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }
    pub fn selected() -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }
    pub fn status(s: Option<Status>) -> Style {
        match s {
            None => fg(Color::Cyan),
            Some(Status::Ok) => fg(Color::Green),
            Some(Status::Changed) => fg(Color::Yellow),
            Some(Status::Failed) | Some(Status::Unreachable) => fg(Color::Red),
            Some(Status::Skipped) => fg(Color::DarkGray),
        }
    }
}

/// A secret as the screen shows it.
pub fn mask(s: &str) -> String {
    "•".repeat(s.chars().count().min(24))
}

/// `[#####.....]` progress text of `width` cells.
pub fn bar(done: usize, total: usize, width: usize) -> String {
    let filled = (done.min(total) * width).checked_div(total).unwrap_or(0);
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

pub fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

/// A probe interval or a window, as the dashboard's header and the status line both say it.
pub fn human_secs(d: std::time::Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s} s")
    } else if s < 3600.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// A path for a line of `width` columns: `~` for the home directory, then cut from the left
/// (`…` marks the cut) so the file name always shows; never wrapped mid-name.
pub fn fit_path(path: &std::path::Path, width: usize) -> String {
    let mut text = path.display().to_string();
    if let Some(home) = std::env::var_os("HOME").filter(|h| h.len() > 1)
        && let Ok(rest) = path.strip_prefix(&home)
    {
        text = format!("~/{}", rest.display());
    }
    fit_left(&text, width)
}

/// `text` cut to `width` characters from the left (`…` marks the cut).
pub fn fit_left(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n <= width {
        return text.to_string();
    }
    let keep = width.saturating_sub(1);
    let tail: String = text.chars().skip(n - keep).collect();
    format!("…{tail}")
}

/// Word-wraps `text` to `width` columns (a word longer than the width is cut into pieces).
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = line.chars().count();
            let sep = usize::from(used > 0);
            if used + sep + word.len() <= width {
                if sep == 1 {
                    line.push(' ');
                }
                line.extend(word.iter());
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            let rest = word.split_off(width);
            lines.push(word.into_iter().collect());
            word = rest;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}
