//! Long-lived processes a module keeps per connection between tasks (a `psql` session, issue
//! 19). The transport only stores them: taken out while in use, put back when idle, at most
//! [`MAX_KEPT`] idle (the oldest is dropped, which ends it), all dropped with the connection.
//! What a kept item is and how it ends is its owner's business (its `Drop`).

use std::any::Any;
use std::sync::Mutex;

use super::{Become, Process, Transport, TransportError, escalate, wrap_become};

/// Idle items kept per connection. Each holds a session channel: with the persistent shells
/// (3) this stays under OpenSSH's default of 10 sessions per connection.
pub const MAX_KEPT: usize = 3;

#[derive(Default)]
pub struct Kept {
    idle: Mutex<Vec<(String, Box<dyn Any + Send>)>>,
}

impl Kept {
    /// The idle item kept under `key`, if there is one of type `T`.
    pub fn take<T: Any + Send>(&self, key: &str) -> Option<T> {
        let item = {
            let mut idle = self.idle.lock().ok()?;
            // Key and type: a session still starting (another type) stays for its own taker.
            let at = idle.iter().position(|(k, v)| k == key && v.is::<T>())?;
            idle.remove(at).1
        };
        item.downcast::<T>().ok().map(|b| *b)
    }

    /// Drops (ends) the idle items of type `T` that `keep` refuses.
    pub fn retain<T: Any + Send>(&self, keep: impl Fn(&T) -> bool) {
        let dropped: Vec<_> = match self.idle.lock() {
            Ok(mut idle) => {
                let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut *idle)
                    .into_iter()
                    .partition(|(_, v)| v.downcast_ref::<T>().is_some_and(|t| !keep(t)));
                *idle = kept;
                gone
            }
            Err(_) => Vec::new(),
        };
        drop(dropped);
    }

    /// Whether anything is kept under `key`.
    pub fn has(&self, key: &str) -> bool {
        self.idle
            .lock()
            .is_ok_and(|idle| idle.iter().any(|(k, _)| k == key))
    }

    /// Keeps `item` under `key` for a later task; beyond [`MAX_KEPT`] the oldest is dropped.
    pub fn put<T: Any + Send>(&self, key: String, item: T) {
        let evicted = match self.idle.lock() {
            Ok(mut idle) => {
                idle.push((key, Box::new(item)));
                let over = idle.len().saturating_sub(MAX_KEPT);
                idle.drain(..over).collect::<Vec<_>>()
            }
            // A poisoned lock: the item is dropped (ended), the next task starts another.
            Err(_) => Vec::new(),
        };
        drop(evicted);
    }

    /// Drops (ends) every idle item: before the connection closes, so each can end cleanly.
    pub fn clear(&self) {
        let all = match self.idle.lock() {
            Ok(mut idle) => std::mem::take(&mut *idle),
            Err(_) => Vec::new(),
        };
        drop(all);
    }
}

/// Starts `command` on the target as the become user (when set) and returns once privileges
/// were obtained, with what the command printed on stdout right after.
pub async fn spawn_as(
    transport: &dyn Transport,
    command: &str,
    escalation: Option<&Become>,
) -> Result<(Process, Vec<u8>), TransportError> {
    let command = match escalation {
        Some(b) => wrap_become(command, b),
        None => command.to_string(),
    };
    let mut proc = transport.spawn(&command).await?;
    let first = match escalation {
        Some(b) => match escalate(&mut proc, b).await {
            Ok(first) => first,
            Err(e) => {
                let _ = proc.control.try_send(super::Control::Kill);
                return Err(e);
            }
        },
        None => Vec::new(),
    };
    Ok((proc, first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_items_are_found_by_key_and_type_and_bounded() {
        let kept = Kept::default();
        kept.put("a".into(), 1u32);
        assert_eq!(kept.take::<String>("a"), None, "wrong type: not given");
        assert_eq!(kept.take::<u32>("a"), Some(1));
        assert_eq!(kept.take::<u32>("a"), None, "taken: no longer idle");
        for i in 0..(MAX_KEPT as u32 + 2) {
            kept.put(format!("k{i}"), i);
        }
        assert_eq!(kept.take::<u32>("k0"), None, "the oldest was dropped");
        assert_eq!(kept.take::<u32>("k1"), None);
        assert_eq!(kept.take::<u32>("k2"), Some(2));
        kept.clear();
        assert_eq!(kept.take::<u32>("k4"), None);
    }

    #[test]
    fn retain_drops_only_refused_items_of_its_type() {
        let kept = Kept::default();
        kept.put("a".into(), 1u32);
        kept.put("b".into(), 2u32);
        kept.put("c".into(), String::from("x"));
        kept.retain::<u32>(|n| *n == 2);
        assert_eq!(kept.take::<u32>("a"), None, "refused: dropped");
        assert_eq!(kept.take::<u32>("b"), Some(2));
        assert_eq!(
            kept.take::<String>("c").as_deref(),
            Some("x"),
            "another type"
        );
    }
}
