//! `run`'s answers to `vars_prompt`, on the terminal as ansible-playbook asks them: a private
//! question through `/dev/tty` without echo (Python's getpass), another on stdout with the
//! answer read from stdin (Python's input()); `confirm` asks twice until both match. With stdin
//! not a terminal nothing is asked (the engine then warns and takes the default).

use std::io::{BufRead, IsTerminal, Write};

use crate::engine::prompt::{Answer, Ask, Prompter};

/// The terminal prompter; `quiet_stdout` (`--json`): visible prompts go to stderr instead.
pub fn terminal(quiet_stdout: bool) -> Prompter {
    Prompter::new(move |ask: &Ask| {
        if !std::io::stdin().is_terminal() {
            return Ok(Answer::NotInteractive);
        }
        let once = |msg: &str| -> std::io::Result<String> {
            if ask.private {
                super::read_secret(msg)
            } else {
                read_visible(msg, quiet_stdout)
            }
        };
        loop {
            let first = once(&ask.msg)?;
            if !ask.confirm {
                return Ok(Answer::Typed(first));
            }
            let second = once(&format!("confirm {}", ask.msg))?;
            if first == second {
                return Ok(Answer::Typed(first));
            }
            super::print_line("***** VALUES ENTERED DO NOT MATCH ****");
        }
    })
}

fn read_visible(msg: &str, quiet_stdout: bool) -> std::io::Result<String> {
    if quiet_stdout {
        let mut err = std::io::stderr();
        write!(err, "{msg}")?;
        err.flush()?;
    } else {
        let mut out = std::io::stdout();
        write!(out, "{msg}")?;
        out.flush()?;
    }
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "no answer (end of input)",
        ));
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
