//! The linear strategy's lockstep: a task runs on every host of the batch that has it before
//! any host starts a later one, as ansible-core's linear strategy does (so `any_errors_fatal`
//! stops the others before their next task, and a host that failed is out of
//! `ansible_play_hosts` when the others get there). Under `free` there is no gate.
//!
//! Each task has a key, its place in the play in definition order: the section, then its index
//! at each level (a block's parts are 0 block, 1 rescue, 2 always; an include loop adds the
//! iteration; the handlers a flush runs follow the flush point). Every host meets its tasks in
//! increasing key order, so the lowest key a host waits at is the batch's next step, and the
//! gate lets a host through once no other host is still before it or busy with another step.

use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// A task's place in the play (compared lexicographically; a prefix comes first).
pub(super) type Key = Vec<u32>;

/// The key of the handlers a play section flushes at its end: after all of its tasks.
pub(super) const SECTION_END: u32 = u32::MAX;

#[derive(Clone, Debug, PartialEq)]
enum Slot {
    /// At the gate of this task.
    Waiting(Key),
    /// Past the gate of this task, until the host reaches its next gate. Every host starts here
    /// with an empty key, which matches no task: nobody passes before all have arrived.
    Running(Key),
    Done,
}

/// The gate of one batch.
pub(super) struct Lockstep {
    hosts: Vec<String>,
    slots: Mutex<Vec<Slot>>,
    /// `forks` bounds the hosts that run a step at once (not the hosts of the batch).
    forks: Arc<Semaphore>,
}

impl Lockstep {
    pub(super) fn new(hosts: &[String], forks: usize) -> Self {
        Self {
            hosts: hosts.to_vec(),
            slots: Mutex::new(vec![Slot::Running(Vec::new()); hosts.len()]),
            forks: Arc::new(Semaphore::new(forks.max(1))),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `host` may run the task at `key`, then takes one of the batch's fork slots
    /// into `permit` for it (the slot of the previous step is given back first). `wake` is
    /// notified whenever a host's place changes.
    pub(super) async fn step(
        &self,
        host: &str,
        key: &Key,
        permit: &mut Option<OwnedSemaphorePermit>,
        wake: &Notify,
    ) {
        let Some(i) = self.leave_fork(host, permit) else {
            return;
        };
        self.wait_for(i, key, wake).await;
        *permit = self.forks.clone().acquire_owned().await.ok();
    }

    /// Waits until every other host of the batch is done with the task at `key` (the task
    /// `host` just ran): the step's results are all in, as ansible-core's linear strategy has
    /// them when it checks `any_errors_fatal`. The host holds no fork slot meanwhile.
    pub(super) async fn settle(
        &self,
        host: &str,
        key: &Key,
        permit: &mut Option<OwnedSemaphorePermit>,
        wake: &Notify,
    ) {
        let Some(i) = self.leave_fork(host, permit) else {
            return;
        };
        // Just after the task and before whatever follows it (a plain task has no steps below).
        let mut after = key.clone();
        after.push(u32::MAX);
        self.wait_for(i, &after, wake).await;
    }

    /// Gives up the host's fork slot while it waits, so a waiting host never holds one a running
    /// host needs; the host's index in the batch, `None` when it is not in this batch.
    fn leave_fork(&self, host: &str, permit: &mut Option<OwnedSemaphorePermit>) -> Option<usize> {
        *permit = None;
        self.hosts.iter().position(|h| h == host)
    }

    /// Puts host `i` at the gate of `key` and waits until it may pass.
    async fn wait_for(&self, i: usize, key: &Key, wake: &Notify) {
        self.slots()[i] = Slot::Waiting(key.clone());
        wake.notify_waiters();
        loop {
            let woken = wake.notified();
            tokio::pin!(woken);
            // Registered before the check, so a change between the two is not lost.
            woken.as_mut().enable();
            {
                let mut slots = self.slots();
                if may_run(&slots, i, key) {
                    slots[i] = Slot::Running(key.clone());
                    return;
                }
            }
            woken.await;
        }
    }

    /// `host` is done with the play: the others no longer wait for it.
    pub(super) fn done(&self, host: &str, wake: &Notify) {
        if let Some(i) = self.hosts.iter().position(|h| h == host) {
            self.slots()[i] = Slot::Done;
        }
        wake.notify_waiters();
    }

    /// The first host of the batch (in inventory order) that runs the step at `key`: where
    /// ansible-core's linear strategy runs a `run_once` task.
    pub(super) fn first_at(&self, key: &Key) -> Option<String> {
        let slots = self.slots();
        self.hosts
            .iter()
            .zip(slots.iter())
            .find(|(_, s)| at(s, key))
            .map(|(h, _)| h.clone())
    }

    /// Whether `host` is still at the step `key` (waiting at its gate or running it).
    pub(super) fn is_at(&self, host: &str, key: &Key) -> bool {
        let slots = self.slots();
        self.hosts
            .iter()
            .position(|h| h == host)
            .is_some_and(|i| at(&slots[i], key))
    }
}

fn at(slot: &Slot, key: &Key) -> bool {
    matches!(slot, Slot::Waiting(k) | Slot::Running(k) if k == key)
}

/// Host `i` may run the task at `key` when every other host is done, waits at this task or a
/// later one, or already runs this one.
fn may_run(slots: &[Slot], i: usize, key: &Key) -> bool {
    slots.iter().enumerate().all(|(j, s)| {
        j == i
            || match s {
                Slot::Done => true,
                Slot::Waiting(k) => k >= key,
                Slot::Running(k) => k == key,
            }
    })
}

/// Marks its host done when dropped, so a host that ends its play in any way (a panic too)
/// never holds the others at a gate.
pub(super) struct DoneOnDrop {
    pub(super) lockstep: Arc<Lockstep>,
    pub(super) host: String,
    pub(super) wake: Arc<super::Shared>,
}

impl Drop for DoneOnDrop {
    fn drop(&mut self) {
        self.lockstep.done(&self.host, &self.wake.progress);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(k: &[u32]) -> Slot {
        Slot::Waiting(k.to_vec())
    }
    fn r(k: &[u32]) -> Slot {
        Slot::Running(k.to_vec())
    }

    #[test]
    fn keys_follow_definition_order() {
        // A block's tasks, then its rescue, then its always, then the next item; the handlers
        // of a section's end after all of its tasks, before the next section.
        let order: Vec<Key> = vec![
            vec![0],
            vec![2, 0, 0, 0],
            vec![2, 0, 0, 1],
            vec![2, 0, 1, 0],
            vec![2, 0, 2, 0],
            vec![2, 1],
            vec![2, 1, 0],
            vec![2, 2],
            vec![2, SECTION_END, 0],
            vec![3, 0],
        ];
        assert!(order.windows(2).all(|p| p[0] < p[1]));
    }

    #[test]
    fn a_host_waits_for_hosts_before_it_and_for_other_steps_running() {
        let k = vec![2, 1];
        // Nobody has arrived yet: the start slot matches no task.
        assert!(!may_run(&[w(&k), r(&[])], 0, &k));
        // The other host is at an earlier task (a rescue), or runs another one.
        assert!(!may_run(&[w(&k), w(&[2, 0, 1, 0])], 0, &k));
        assert!(!may_run(&[w(&k), r(&[2, 0, 1, 0])], 0, &k));
        // It waits at a later task, runs this one, or is done.
        assert!(may_run(&[w(&k), w(&[2, 2])], 0, &k));
        assert!(may_run(&[w(&k), w(&k)], 0, &k));
        assert!(may_run(&[w(&k), r(&k)], 0, &k));
        assert!(may_run(&[w(&k), Slot::Done], 0, &k));
    }

    #[tokio::test]
    async fn hosts_run_a_step_together_and_the_later_one_waits() {
        let hosts = vec!["h1".to_string(), "h2".to_string()];
        let ls = Arc::new(Lockstep::new(&hosts, 2));
        let wake = Arc::new(Notify::new());
        let (ls2, wake2) = (ls.clone(), wake.clone());
        // h2 skips ahead to a later task; it must not pass while h1 still has an earlier one.
        let h2 = tokio::spawn(async move {
            let mut p = None;
            ls2.step("h2", &vec![2, 5], &mut p, &wake2).await;
        });
        let mut p = None;
        ls.step("h1", &vec![2, 3], &mut p, &wake).await;
        assert_eq!(ls.first_at(&vec![2, 3]).as_deref(), Some("h1"));
        assert!(!h2.is_finished());
        ls.done("h1", &wake);
        tokio::time::timeout(std::time::Duration::from_secs(5), h2)
            .await
            .expect("h2 passes once h1 is done")
            .expect("h2 ran");
        assert!(ls.is_at("h2", &vec![2, 5]));
    }
}
