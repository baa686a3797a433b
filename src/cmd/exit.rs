//! Every exit code of the commands, in one place (README: "Exit codes"). The library returns
//! typed results; the command that renders them picks one of these.

use crate::health::Status;

/// Everything went as asked (healthy, every check passed, nothing failed).
pub const OK: u8 = 0;
/// Something failed or is degraded (a migration, a doctor check, a degraded health state).
pub const FAILED: u8 = 1;
/// A host failed (ansible-playbook's code) or a database is unhealthy.
pub const UNHEALTHY: u8 = 2;
/// A host was unreachable (ansible-playbook's code).
pub const UNREACHABLE: u8 = 4;
/// Bad input (settings, URLs, inventory, arguments), as ansible-playbook.
pub const BAD_INPUT: u8 = 5;
/// Another run of the same deployment holds its lock.
pub const LOCKED: u8 = 6;
/// Stdout's reader went away: what a shell reports for a process killed by SIGPIPE (128 + 13),
/// which is how other CLIs end in `… | head -1`.
pub const CLOSED_PIPE: u8 = 141;

/// `health`'s code for the overall state: 0 healthy, 1 degraded, 2 unhealthy.
pub fn for_health(status: Status) -> u8 {
    match status {
        Status::Healthy => OK,
        Status::Degraded => FAILED,
        Status::Unhealthy => UNHEALTHY,
    }
}

/// `OK` when nothing failed, else `FAILED` (`migrate`, `doctor`).
pub fn failed_if(failed: bool) -> u8 {
    if failed { FAILED } else { OK }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_codes_as_documented() {
        assert_eq!(for_health(Status::Healthy), 0);
        assert_eq!(for_health(Status::Degraded), 1);
        assert_eq!(for_health(Status::Unhealthy), 2);
        assert_eq!(
            (UNREACHABLE, BAD_INPUT, LOCKED, CLOSED_PIPE),
            (4, 5, 6, 141)
        );
    }
}
