//! The run's event channel (engine → printer / journal / TUI), bounded by the bytes it holds.
//!
//! Sending never blocks and never drops: the engine emits from synchronous code (the live
//! output sink runs inside the transport's read loop), and a result event must always arrive.
//! The bound is kept by back-pressure at the engine's await points instead: before a task
//! starts on a host (and before the ansible engine reads its next line) it waits for
//! [`EventSender::room`], so a consumer that falls behind (a slow terminal, a stalled pipe)
//! stalls the run rather than filling memory. What one task can add meanwhile is bounded too:
//! its live output by [`crate::engine::run::LIVE_OUTPUT_PER_TASK`], its result by the capture
//! and diff limits.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, mpsc};

use super::events::RunEvent;

/// What the channel may hold before the engine waits: a few tasks' worth of output.
pub const EVENT_BUDGET: usize = 8 << 20;

struct Budget {
    queued: AtomicUsize,
    limit: usize,
    drained: Notify,
}

/// The engine's end.
#[derive(Clone)]
pub struct EventSender {
    tx: mpsc::UnboundedSender<(RunEvent, usize)>,
    budget: Arc<Budget>,
}

/// The consumer's end: `recv`/`try_recv` as on a tokio receiver.
pub struct EventReceiver {
    rx: mpsc::UnboundedReceiver<(RunEvent, usize)>,
    budget: Arc<Budget>,
}

/// A channel holding about [`EVENT_BUDGET`] bytes before the engine waits.
pub fn event_channel() -> (EventSender, EventReceiver) {
    bounded(EVENT_BUDGET)
}

/// A channel holding about `limit` bytes before [`EventSender::room`] waits.
pub fn bounded(limit: usize) -> (EventSender, EventReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let budget = Arc::new(Budget {
        queued: AtomicUsize::new(0),
        limit,
        drained: Notify::new(),
    });
    (
        EventSender {
            tx,
            budget: budget.clone(),
        },
        EventReceiver { rx, budget },
    )
}

/// About what an event costs in a queue: its text, not its exact heap size.
pub fn weight(ev: &RunEvent) -> usize {
    const BASE: usize = 256;
    match ev {
        RunEvent::Output { data, .. } => BASE + data.len(),
        // Results carry output heads and tails, diffs, facts: measure them.
        RunEvent::TaskResult(_) => BASE + serde_json::to_vec(ev).map_or(0, |v| v.len()),
        _ => BASE,
    }
}

impl EventSender {
    /// Queues `ev` (never blocks, never drops); `Err` when the receiver is gone.
    pub fn send(&self, ev: RunEvent) -> Result<(), RunEvent> {
        let w = weight(&ev);
        self.budget.queued.fetch_add(w, Ordering::AcqRel);
        self.tx.send((ev, w)).map_err(|e| {
            self.budget.queued.fetch_sub(w, Ordering::AcqRel);
            e.0.0
        })
    }

    /// Waits until the queue holds less than its limit (or the receiver is gone).
    pub async fn room(&self) {
        loop {
            let drained = self.budget.drained.notified();
            tokio::pin!(drained);
            // Registered before the check, so a drain in between is not missed.
            drained.as_mut().enable();
            if self.budget.queued.load(Ordering::Acquire) < self.budget.limit || self.tx.is_closed()
            {
                return;
            }
            drained.await;
        }
    }

    /// Waits (up to a few seconds) until the consumer has taken every event, so what a prompt
    /// prints on the terminal comes after what the events before it printed.
    pub async fn drained(&self) {
        for _ in 0..400 {
            if self.budget.queued.load(Ordering::Acquire) == 0 || self.tx.is_closed() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // The consumer prints the last event it took right after taking it.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    /// Bytes queued now (for tests and diagnostics).
    pub fn queued(&self) -> usize {
        self.budget.queued.load(Ordering::Acquire)
    }
}

impl EventReceiver {
    pub async fn recv(&mut self) -> Option<RunEvent> {
        let (ev, w) = self.rx.recv().await?;
        self.taken(w);
        Some(ev)
    }

    pub fn try_recv(&mut self) -> Result<RunEvent, mpsc::error::TryRecvError> {
        let (ev, w) = self.rx.try_recv()?;
        self.taken(w);
        Ok(ev)
    }

    fn taken(&self, w: usize) {
        let before = self.budget.queued.fetch_sub(w, Ordering::AcqRel);
        if before >= self.budget.limit && before - w < self.budget.limit {
            self.budget.drained.notify_waiters();
        }
    }
}

impl Drop for EventReceiver {
    fn drop(&mut self) {
        // Nobody reads any more: whoever waits for room must not wait forever.
        self.rx.close();
        self.budget.drained.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(n: usize) -> RunEvent {
        RunEvent::Output {
            host: "h".into(),
            task_id: 1,
            stream: crate::transport::Stream::Stdout,
            data: "x".repeat(n),
        }
    }

    #[tokio::test]
    async fn a_full_channel_makes_the_sender_wait_until_the_consumer_reads() {
        let (tx, mut rx) = bounded(10_000);
        tx.room().await; // empty: at once
        for _ in 0..5 {
            tx.send(output(4_000)).unwrap();
        }
        // Nothing is dropped past the limit: all five are queued.
        assert!(tx.queued() >= 20_000);
        let waiter = {
            let tx = tx.clone();
            tokio::spawn(async move { tx.room().await })
        };
        tokio::task::yield_now().await;
        assert!(
            !waiter.is_finished(),
            "room while the queue is over its limit"
        );
        let mut got = 0;
        while tx.queued() >= 10_000 {
            rx.recv().await.unwrap();
            got += 1;
        }
        waiter.await.unwrap();
        while rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, 5);
        assert_eq!(tx.queued(), 0);
    }

    #[tokio::test]
    async fn a_gone_consumer_does_not_block_the_sender() {
        let (tx, rx) = bounded(10);
        tx.send(output(100)).unwrap();
        drop(rx);
        tx.room().await;
        assert!(tx.send(output(1)).is_err());
    }
}
