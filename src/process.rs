//! Whether the process that left something behind (a lock record, a run journal, the ansible
//! engine's private run dir) still runs: one answer for all of them.
//!
//! A pid alone is not enough: pids are reused, so a process that started after the one that
//! left the trace would keep it "alive" (a journal never pruned, a lock record never taken
//! over, a run dir with a vault file never removed). The start time (field 22 of
//! `/proc/PID/stat`, clock ticks after boot) tells them apart.

/// A process, by pid and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessRef {
    pub pid: u32,
    /// `None` for traces written before start times were recorded.
    pub start_time: Option<u64>,
}

impl ProcessRef {
    /// This process.
    pub fn current() -> Self {
        let pid = std::process::id();
        Self {
            pid,
            start_time: start_time(pid),
        }
    }

    /// Whether this process still runs: the pid exists and, when the start time is known, it is
    /// the same one (a reused pid is another process).
    pub fn is_alive(&self) -> bool {
        match (start_time(self.pid), self.start_time) {
            (Some(now), Some(then)) => now == then,
            // An old trace without a start time: the pid is all there is to go by.
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// `PID.START` (or `PID` when the start time is unknown): for names of files and dirs.
    pub fn tag(&self) -> String {
        match self.start_time {
            Some(t) => format!("{}.{t}", self.pid),
            None => self.pid.to_string(),
        }
    }

    /// Reads a [`tag`](Self::tag) (`PID.START` or a bare `PID`).
    pub fn parse_tag(tag: &str) -> Option<Self> {
        let (pid, start) = match tag.split_once('.') {
            Some((p, s)) => (p, Some(s.parse().ok()?)),
            None => (tag, None),
        };
        Some(Self {
            pid: pid.parse().ok()?,
            start_time: start,
        })
    }
}

/// Field 22 (starttime) of `/proc/PID/stat`; `None` when the process does not exist.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ')' come field 3 (state) onwards: starttime is field 22, the 20th of these.
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_pid_is_not_alive() {
        let me = ProcessRef::current();
        assert!(me.start_time.is_some());
        assert!(me.is_alive());
        let reused = ProcessRef {
            start_time: me.start_time.map(|t| t + 1),
            ..me
        };
        assert!(!reused.is_alive(), "same pid, other start time");
        let gone = ProcessRef {
            pid: 999_999_999,
            start_time: None,
        };
        assert!(!gone.is_alive());
        // Without a start time the pid decides.
        assert!(
            ProcessRef {
                start_time: None,
                ..me
            }
            .is_alive()
        );
    }

    #[test]
    fn tags_round_trip() {
        let me = ProcessRef::current();
        assert_eq!(ProcessRef::parse_tag(&me.tag()), Some(me));
        assert_eq!(
            ProcessRef::parse_tag("42"),
            Some(ProcessRef {
                pid: 42,
                start_time: None
            })
        );
        for bad in ["", "x", "42.", "42.x", "-1"] {
            assert_eq!(ProcessRef::parse_tag(bad), None, "{bad}");
        }
    }
}
