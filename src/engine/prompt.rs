//! How a run asks for `vars_prompt` answers. The engine decides what to ask (and when: as a play
//! starts, after the earlier plays' output); whoever started the run does the asking — `run`
//! on its terminal, as ansible-playbook does. The wizard gives no [`Prompter`]: its form's
//! answers are extra vars, and a question nobody answered is refused at plan time.

use std::sync::Arc;

/// One question, as ansible-core's `Display.do_var_prompt` words it.
#[derive(Debug, Clone)]
pub struct Ask {
    /// The variable it sets.
    pub var: String,
    /// What is shown: `"Prompt [default]: "`, `"Prompt: "` or `"input for VAR: "`.
    pub msg: String,
    /// No echo (`private`, the default).
    pub private: bool,
    /// Ask twice until both answers match.
    pub confirm: bool,
}

/// What the prompter got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Typed(String),
    /// stdin is not a terminal: nothing was asked (ansible-playbook warns and takes the default).
    NotInteractive,
}

type AskFn = dyn Fn(&Ask) -> std::io::Result<Answer> + Send + Sync;

/// Asks on behalf of the engine; called from a blocking thread.
#[derive(Clone)]
pub struct Prompter(Arc<AskFn>);

impl Prompter {
    pub fn new(f: impl Fn(&Ask) -> std::io::Result<Answer> + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    pub fn ask(&self, ask: &Ask) -> std::io::Result<Answer> {
        (self.0)(ask)
    }
}

impl std::fmt::Debug for Prompter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prompter")
    }
}

/// The text ansible-playbook shows for a question.
pub fn message(var: &str, prompt: Option<&str>, default: Option<&str>) -> String {
    match (prompt.filter(|p| !p.is_empty()), default) {
        (Some(p), Some(d)) => format!("{p} [{d}]: "),
        (Some(p), None) => format!("{p}: "),
        (None, _) => format!("input for {var}: "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_as_ansible_words_it() {
        assert_eq!(message("v", Some("Name"), Some("x")), "Name [x]: ");
        assert_eq!(message("v", Some("Name"), None), "Name: ");
        assert_eq!(message("v", None, Some("x")), "input for v: ");
        assert_eq!(message("v", Some(""), None), "input for v: ");
    }
}
