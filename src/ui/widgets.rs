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
