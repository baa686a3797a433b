//! `slm-wizard runs`: the recent runs from their journals; `runs show ID` replays one.

use std::io::IsTerminal;
use std::process::ExitCode;

use super::{bad_input, print_line};
use crate::cli::{RunsArgs, RunsCommand};
use crate::cmd::exit;
use crate::cmd::stdout::CliStdout;
use crate::engine::RunEvent;
use crate::engine::history::{self, Record};
use crate::engine::output::Printer;

pub fn runs_command(args: RunsArgs) -> ExitCode {
    let dir = crate::paths::runs_dir();
    match args.command {
        None => list(&dir, args.json, args.limit),
        Some(RunsCommand::Show {
            id,
            json,
            verbose,
            diff,
        }) => show(&dir, &id, json, verbose, diff),
    }
}

fn list(dir: &std::path::Path, json: bool, limit: usize) -> ExitCode {
    let mut runs = match history::list(dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("slm-wizard: {}: {e}", dir.display());
            return ExitCode::from(1);
        }
    };
    if limit > 0 {
        runs.truncate(limit);
    }
    if json {
        for r in &runs {
            print_line(&serde_json::to_string(r).unwrap_or_default());
        }
        return ExitCode::SUCCESS;
    }
    if runs.is_empty() {
        eprintln!("no runs journaled yet in {}", dir.display());
        return ExitCode::SUCCESS;
    }
    let id_width = runs.iter().map(|r| r.id.len()).max().unwrap_or(2).max(2);
    print_line(&format!(
        "{:id_width$}  {:20}  {:8}  {:12}  PLAYBOOK",
        "ID", "STARTED", "ENGINE", "RESULT"
    ));
    for r in &runs {
        let result = if r.check {
            format!("{} (check)", r.result)
        } else {
            r.result.clone()
        };
        let engine = if r.engine.is_empty() { "-" } else { &r.engine };
        print_line(&format!(
            "{:id_width$}  {:20}  {:8}  {:12}  {}",
            r.id, r.started, engine, result, r.playbook
        ));
    }
    ExitCode::SUCCESS
}

/// Prints the journal's records as `run` printed its events; the exit code is the run's (from
/// its `stats`), 1 for a run that did not end.
fn show(dir: &std::path::Path, id: &str, json: bool, verbose: bool, diff: bool) -> ExitCode {
    let run = match history::find(dir, id) {
        Ok(r) => r,
        Err(e) => return bad_input(&e),
    };
    let out = CliStdout::noting();
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut printer = Printer::new(out.clone(), color, verbose, diff);
    let mut code = 1;
    let replayed = history::replay(&run.path, |line, record| {
        if out.is_closed() {
            return;
        }
        match record {
            Record::Event(ev) => {
                if let RunEvent::Stats { hosts, cancelled } = &ev {
                    let summary = crate::engine::RunSummary {
                        hosts: hosts.clone(),
                        cancelled: *cancelled,
                    };
                    code = summary.exit_code();
                }
                if json {
                    out.clone().line(line);
                } else {
                    printer.handle(&ev);
                }
            }
            Record::Other(v) if json => {
                if !v.is_null() {
                    out.clone().line(line);
                }
            }
            Record::Other(v) => {
                if let Some(msg) = v["msg"].as_str() {
                    out.clone()
                        .line(&format!("{}: {msg}", v["event"].as_str().unwrap_or("note")));
                }
            }
        }
    });
    if let Err(e) = replayed {
        return bad_input(&e);
    }
    if out.is_closed() {
        return ExitCode::from(exit::CLOSED_PIPE);
    }
    if !json {
        eprintln!("journal: {}", run.path.display());
    }
    ExitCode::from(code as u8)
}
