//! Stdout of the headless commands, with what a closed pipe means for them.

use std::io::Write;

use super::exit;

/// Stdout for the headless commands. Rust ignores SIGPIPE, so a reader that went away (`| head`)
/// shows up as EPIPE on a write: `println!` panics on it (exit 101), and ignoring it would keep
/// `health --watch --json` writing forever. This writer ends the process quietly instead
/// ([`CliStdout::exiting`]), or notes it for a caller that must wind down first
/// ([`CliStdout::noting`]: a run stops starting tasks). Other write errors are returned as usual.
#[derive(Debug, Clone)]
pub struct CliStdout {
    closed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    exit: bool,
}

impl CliStdout {
    /// Exits with [`exit::CLOSED_PIPE`], without a message, at the first write the reader missed.
    pub fn exiting() -> Self {
        Self {
            closed: Default::default(),
            exit: true,
        }
    }

    /// Returns the EPIPE error and remembers it: see [`CliStdout::is_closed`].
    pub fn noting() -> Self {
        Self {
            closed: Default::default(),
            exit: false,
        }
    }

    /// Whether the reader went away (writes are dropped from then on).
    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Writes one line and flushes it (errors other than a closed pipe are ignored, as `println!`
    /// would have panicked on them without helping anyone).
    pub fn line(&mut self, line: &str) {
        let _ = writeln!(self, "{line}").and_then(|()| self.flush());
    }

    fn check<T>(&self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
            if self.exit {
                std::process::exit(i32::from(exit::CLOSED_PIPE));
            }
        }
        r
    }
}

impl Write for CliStdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.is_closed() {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        let r = std::io::stdout().write(buf);
        self.check(r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.is_closed() {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        let r = std::io::stdout().flush();
        self.check(r)
    }
}
