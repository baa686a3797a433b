//! The wizard loop's action channel, bounded. Three ways in:
//! - input (keys, mouse, resize, signals, health snapshots) waits for room in a bounded queue:
//!   when the loop falls behind, the reader stops reading the terminal (keys wait in the tty,
//!   none is dropped) and the monitor waits;
//! - ticks are coalesced: however many the loop missed, it gets one `Tick` with their sum;
//! - replies to the loop's own effects never wait (the loop sends some itself, and waiting on
//!   its own queue would deadlock): there is one per effect the loop started, and run events
//!   come through the run budget ([`super::executor::RunBudget`]), so this queue is bounded by
//!   what the loop asked for.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use crate::app::Action;

/// Input actions queued and not handled yet, at most.
pub const INPUT_QUEUE: usize = 256;

/// Ticks not handled yet, as their total in milliseconds.
#[derive(Default)]
struct Ticks {
    pending_ms: AtomicU64,
    notify: Notify,
}

impl Ticks {
    fn take(&self) -> Option<Action> {
        let ms = self.pending_ms.swap(0, Ordering::AcqRel);
        (ms > 0).then(|| Action::Tick(Duration::from_millis(ms)))
    }
}

/// The loop has ended (its receiver is gone).
#[derive(Debug, PartialEq, Eq)]
pub struct Closed;

#[derive(Clone)]
pub struct ActionSender {
    input: mpsc::Sender<Action>,
    replies: mpsc::UnboundedSender<Action>,
    ticks: Arc<Ticks>,
}

pub struct ActionReceiver {
    input: mpsc::Receiver<Action>,
    replies: mpsc::UnboundedReceiver<Action>,
    ticks: Arc<Ticks>,
}

pub fn action_channel() -> (ActionSender, ActionReceiver) {
    let (itx, irx) = mpsc::channel(INPUT_QUEUE);
    let (rtx, rrx) = mpsc::unbounded_channel();
    let ticks = Arc::new(Ticks::default());
    (
        ActionSender {
            input: itx,
            replies: rtx,
            ticks: ticks.clone(),
        },
        ActionReceiver {
            input: irx,
            replies: rrx,
            ticks,
        },
    )
}

impl ActionSender {
    /// Queues an input action once there is room (back-pressure, never dropped).
    pub async fn input(&self, action: Action) -> Result<(), Closed> {
        self.input.send(action).await.map_err(|_| Closed)
    }

    /// Adds `d` to the pending tick; the loop gets one `Tick` for all it has not handled.
    pub fn tick(&self, d: Duration) -> Result<(), Closed> {
        if self.replies.is_closed() {
            return Err(Closed);
        }
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.ticks.pending_ms.fetch_add(ms, Ordering::AcqRel);
        // One stored permit at most: ticks missed while the loop was busy wake it once.
        self.ticks.notify.notify_one();
        Ok(())
    }

    /// A reply to an effect of the loop (never waits; see the module doc).
    pub fn send(&self, action: Action) -> Result<(), Closed> {
        self.replies.send(action).map_err(|_| Closed)
    }
}

impl ActionReceiver {
    /// The next action; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<Action> {
        loop {
            if let Some(a) = self.try_recv() {
                return Some(a);
            }
            let replies_open = tokio::select! {
                biased;
                a = self.replies.recv() => match a {
                    Some(a) => return Some(a),
                    None => false,
                },
                a = self.input.recv() => return a,
                _ = self.ticks.notify.notified() => true,
            };
            if !replies_open {
                // Every sender is gone: what is left of the input, then the end.
                return self.input.recv().await;
            }
        }
    }

    /// An action that is ready now: replies first (they free budget and finish what the user
    /// started), then input in its order, then the coalesced tick.
    pub fn try_recv(&mut self) -> Option<Action> {
        self.replies
            .try_recv()
            .ok()
            .or_else(|| self.input.try_recv().ok())
            .or_else(|| self.ticks.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    fn key(c: char) -> Action {
        Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
    }

    #[tokio::test]
    async fn missed_ticks_come_as_one() {
        let (tx, mut rx) = action_channel();
        for _ in 0..10_000 {
            tx.tick(Duration::from_secs(1)).unwrap();
        }
        let Some(Action::Tick(d)) = rx.recv().await else {
            panic!("a tick")
        };
        assert_eq!(d, Duration::from_secs(10_000));
        assert!(rx.try_recv().is_none(), "one tick for all of them");
        // A later tick wakes a waiting loop.
        let waiting = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        tx.tick(Duration::from_secs(1)).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(got, Some(Action::Tick(d)) if d == Duration::from_secs(1)));
    }

    #[tokio::test]
    async fn keys_wait_for_room_and_none_is_dropped() {
        let (tx, mut rx) = action_channel();
        let typist = {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..INPUT_QUEUE * 4 {
                    let c = char::from(b'a' + (i % 26) as u8);
                    tx.input(key(c)).await.unwrap();
                }
            })
        };
        // The loop is busy: the typist fills the queue, then waits.
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert!(!typist.is_finished(), "queued past the bound");
        assert_eq!(rx.input.len(), INPUT_QUEUE);
        // Replies still go through while the input queue is full.
        tx.send(Action::Resize).unwrap();
        assert!(matches!(rx.recv().await, Some(Action::Resize)));
        let mut got = Vec::new();
        while got.len() < INPUT_QUEUE * 4 {
            match rx.recv().await {
                Some(Action::Key(k)) => got.push(k.code),
                other => panic!("{other:?}"),
            }
        }
        typist.await.unwrap();
        let want: Vec<KeyCode> = (0..INPUT_QUEUE * 4)
            .map(|i| KeyCode::Char(char::from(b'a' + (i % 26) as u8)))
            .collect();
        assert_eq!(got, want, "every key, in order");
    }

    #[tokio::test]
    async fn senders_see_the_loop_gone() {
        let (tx, rx) = action_channel();
        drop(rx);
        assert_eq!(tx.send(Action::Resize), Err(Closed));
        assert_eq!(tx.tick(Duration::from_secs(1)), Err(Closed));
        assert_eq!(tx.input(Action::Resize).await, Err(Closed));
    }
}
