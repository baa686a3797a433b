//! A process's control path. Stdin goes in order through a bounded queue, so a large upload
//! waits for the target to take it instead of sitting whole in memory; kill goes on a path of
//! its own, so it never waits behind queued stdin and can be sent from `Drop` (`try_send`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc::error::{SendError, TrySendError};
use tokio::sync::{Notify, mpsc};

use super::Control;

/// Stdin chunks (at most 256 KiB each) queued per process before the sender waits.
pub const STDIN_QUEUE: usize = 4;

#[derive(Default)]
struct KillFlag {
    fired: AtomicBool,
    /// The process's end is gone: a kill has nobody to reach.
    closed: AtomicBool,
    notify: Notify,
}

/// The engine's end: [`Control::Stdin`] and [`Control::CloseStdin`] queue (bounded),
/// [`Control::Kill`] takes effect at once.
#[derive(Clone)]
pub struct ControlSender {
    data: mpsc::Sender<Control>,
    kill: Arc<KillFlag>,
}

/// The transport's end.
pub struct ControlReceiver {
    data: mpsc::Receiver<Control>,
    kill: KillWatch,
    kill_delivered: bool,
}

/// Waits for a kill; dropping it tells senders the process is gone.
pub struct KillWatch {
    flag: Arc<KillFlag>,
}

/// A control path whose stdin queue holds [`STDIN_QUEUE`] chunks.
pub fn control_channel() -> (ControlSender, ControlReceiver) {
    let (tx, rx) = mpsc::channel(STDIN_QUEUE);
    let flag = Arc::new(KillFlag::default());
    (
        ControlSender {
            data: tx,
            kill: flag.clone(),
        },
        ControlReceiver {
            data: rx,
            kill: KillWatch { flag },
            kill_delivered: false,
        },
    )
}

impl ControlSender {
    /// Queues stdin (waiting while the queue is full), or kills at once.
    pub async fn send(&self, c: Control) -> Result<(), SendError<Control>> {
        match c {
            Control::Kill => self.kill().map_err(|()| SendError(Control::Kill)),
            c => self.data.send(c).await,
        }
    }

    /// [`ControlSender::send`] without waiting: stdin fails when the queue is full, a kill
    /// never does while the process runs.
    pub fn try_send(&self, c: Control) -> Result<(), TrySendError<Control>> {
        match c {
            Control::Kill => self
                .kill()
                .map_err(|()| TrySendError::Closed(Control::Kill)),
            c => self.data.try_send(c),
        }
    }

    fn kill(&self) -> Result<(), ()> {
        if self.kill.closed.load(Ordering::SeqCst) {
            return Err(());
        }
        self.kill.fired.store(true, Ordering::SeqCst);
        self.kill.notify.notify_waiters();
        Ok(())
    }
}

impl ControlReceiver {
    /// The next message; a kill comes first (once), whatever stdin is queued before it.
    pub async fn recv(&mut self) -> Option<Control> {
        if self.kill_delivered {
            return self.data.recv().await;
        }
        tokio::select! {
            biased;
            () = self.kill.wait() => {
                self.kill_delivered = true;
                Some(Control::Kill)
            }
            msg = self.data.recv() => msg,
        }
    }

    /// The stdin queue and the kill watch apart, for a transport that writes stdin from a task
    /// of its own.
    pub fn split(self) -> (mpsc::Receiver<Control>, KillWatch) {
        (self.data, self.kill)
    }
}

impl KillWatch {
    /// Returns once a kill was sent (at once if it already was).
    pub async fn wait(&self) {
        loop {
            let notified = self.flag.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.flag.fired.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for KillWatch {
    fn drop(&mut self) {
        self.flag.closed.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn kill_passes_a_full_stdin_queue() {
        let (tx, mut rx) = control_channel();
        for _ in 0..STDIN_QUEUE {
            tx.try_send(Control::Stdin(vec![0; 8])).unwrap();
        }
        assert!(matches!(
            tx.try_send(Control::Stdin(vec![1])),
            Err(TrySendError::Full(_))
        ));
        tx.try_send(Control::Kill).unwrap();
        assert!(matches!(rx.recv().await, Some(Control::Kill)));
        // The queued stdin is still there, in order, and the kill is delivered once.
        for _ in 0..STDIN_QUEUE {
            assert!(matches!(rx.recv().await, Some(Control::Stdin(d)) if d == [0; 8]));
        }
        drop(tx);
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn kill_wakes_a_waiting_watch_and_fails_once_the_process_is_gone() {
        let (tx, rx) = control_channel();
        let (_data, watch) = rx.split();
        let waiter = tokio::spawn(async move {
            watch.wait().await;
            watch
        });
        tokio::task::yield_now().await;
        tx.send(Control::Kill).await.unwrap();
        let watch = waiter.await.unwrap();
        drop(watch);
        assert!(tx.send(Control::Kill).await.is_err());
        assert!(tx.try_send(Control::Kill).is_err());
    }
}
