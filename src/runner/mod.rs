//! Fleets: ansible-runner's private data dirs and streaming protocol (`slm-wizard runner …`).
//! See README "Fleets" for what was tested against the real ansible-runner.

pub mod emit;
pub mod export;
pub mod follow;
pub mod stream;
pub mod worker;

use std::io::BufRead;

use crate::engine::RunEvent;
use crate::engine::output::{CliStdout, Printer, json_line};
use stream::{Frame, Reader};

/// How `runner follow` shows the stream.
#[derive(Debug, Clone, Copy)]
pub struct FollowOptions {
    pub json: bool,
    pub color: bool,
    pub verbose: bool,
}

/// Reads an ansible-runner event stream and shows it as `slm-wizard run` shows a run (the text
/// printer, or our events as JSON lines). Returns the exit code `run` would give.
pub fn follow<R: BufRead>(input: R, opts: FollowOptions) -> i32 {
    let mut out = CliStdout::noting();
    let mut printer = Printer::new(out.clone(), opts.color, opts.verbose, true);
    let mut follower = follow::Follower::default();
    let mut reader = Reader::new(input);
    let mut show = |ev: &RunEvent, out: &mut CliStdout| {
        if opts.json {
            out.line(&json_line(ev));
        } else {
            printer.handle(ev);
        }
    };
    loop {
        match reader.next_frame() {
            Ok(Some(Frame::Json(v))) => {
                for ev in follower.translate(&v) {
                    show(&ev, &mut out);
                }
                if follower.saw_eof {
                    break;
                }
            }
            // The artifacts: what they hold came as events already.
            Ok(Some(Frame::Zip(_))) => {}
            Ok(None) => {
                show(
                    &RunEvent::Warning {
                        msg:
                            "the stream ended before its {\"eof\": true} line (the worker stopped?)"
                                .into(),
                    },
                    &mut out,
                );
                break;
            }
            Err(e) => {
                eprintln!("slm-wizard: {e}");
                return 5;
            }
        }
        if out.is_closed() {
            return crate::engine::output::EXIT_CLOSED_PIPE.into();
        }
    }
    if follower.stats.is_none()
        && let Some(st) = &follower.status
        && st != "successful"
    {
        eprintln!(
            "slm-wizard: the job ended with status {st}{}",
            follower
                .explanation
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
    if !follower.saw_eof && follower.stats.is_none() {
        return 1;
    }
    follower.exit_code()
}
