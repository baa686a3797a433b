//! Helpers shared by the integration tests: the binary and sandboxes (`cmd`), tmux sessions for
//! the wizard (`tmux`), a throwaway sshd (`sshd`), and the namespace test hosts (`hosts`).

pub mod cmd;
pub mod hosts;
pub mod sshd;
pub mod tmux;
