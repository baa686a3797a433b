//! PLACEHOLDER until the SSH transport lands.
use super::{Process, Transport, TransportError};
use futures::future::BoxFuture;
use std::path::PathBuf;
use std::time::Duration;
#[derive(PartialEq, Eq)]
pub enum StrictHostKeyChecking {
    Yes,
    AcceptNew,
    No,
}
pub struct SshParams {
    pub identity_files: Vec<PathBuf>,
    pub password: Option<crate::secrets::Secret>,
    pub strict: StrictHostKeyChecking,
    pub connect_timeout: Duration,
}
impl SshParams {
    pub fn new(_h: String, _p: u16, _u: String) -> Self {
        Self {
            identity_files: vec![],
            password: None,
            strict: StrictHostKeyChecking::Yes,
            connect_timeout: Duration::from_secs(10),
        }
    }
    pub fn from_ssh_args(&mut self, _a: &str) -> Result<(), String> {
        Ok(())
    }
}
pub struct SshTransport;
impl SshTransport {
    pub async fn connect(_p: SshParams) -> Result<Self, TransportError> {
        Err(TransportError::Other("ssh not yet".into()))
    }
}
impl Transport for SshTransport {
    fn spawn<'a>(&'a self, _c: &'a str) -> BoxFuture<'a, Result<Process, TransportError>> {
        Box::pin(async { Err(TransportError::Other("x".into())) })
    }
}
