//! The local runner's queue: a push answered `dispatched` is queued in the ledger (with its
//! claim's confirmation, in one write), and [`LocalPlans::work`] runs the queued plans one at a
//! time (plans of one clone would fight over it), oldest first, recording on each delivery how
//! its plan ended. A stop leaves what did not finish queued, and so does a crash: the next
//! start of the server runs it. A failed plan's delivery may be claimed again, so a
//! redelivery re-runs it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::adapter::ledger::{Ledger, PlanEnd, QueuedPlan};
use crate::adapter::runner::{LocalRun, LocalRunner};

/// The first pause after the ledger or the runner failed; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(500);
const MAX_PAUSE: Duration = Duration::from_secs(30);
/// An idle worker reads the queue again this often, besides being woken.
const IDLE_REREAD: Duration = Duration::from_secs(60);
/// A plan killed by a signal is taken as stopped with the server if the server's stop follows
/// within this.
const SIGNALLED_STOP_WITHIN: Duration = Duration::from_secs(2);

pub struct LocalPlans {
    pub ledger: Ledger,
    pub runner: Arc<LocalRunner>,
}

impl LocalPlans {
    /// Runs queued plans until `stop` changes (or its sender is gone). A plan running then
    /// gets `drain` to finish; past it, it is killed and stays queued.
    pub async fn work(self, mut stop: watch::Receiver<()>, drain: Duration) {
        let mut pause = FIRST_PAUSE;
        loop {
            let next = tokio::select! {
                biased;
                _ = stop.changed() => return,
                next = self.ledger.next_queued_plan() => next,
            };
            let plan = match next {
                // Read just as the server stops: it stays queued.
                Ok(Some(_)) if stop.has_changed().unwrap_or(true) => return,
                Ok(Some(plan)) => plan,
                Ok(None) => {
                    tokio::select! {
                        _ = stop.changed() => return,
                        () = self.runner.wait_for_queued() => continue,
                        // A queue write whose answer came too late may land after this read.
                        () = tokio::time::sleep(IDLE_REREAD) => continue,
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "queued plans could not be read; retrying");
                    if paused(&mut stop, &mut pause).await {
                        return;
                    }
                    continue;
                }
            };
            match self.run(&plan, &mut stop, drain).await {
                Ran::Recorded => pause = FIRST_PAUSE,
                Ran::Stopped => return,
                Ran::Again => {
                    if paused(&mut stop, &mut pause).await {
                        return;
                    }
                }
            }
        }
    }

    async fn run(&self, plan: &QueuedPlan, stop: &mut watch::Receiver<()>, drain: Duration) -> Ran {
        let mut stopping = stop.clone();
        let killed = async move {
            let _ = stopping.changed().await;
            tokio::time::sleep(drain).await;
        };
        let status = match self
            .runner
            .run(&plan.delivery, &plan.arguments, killed)
            .await
        {
            LocalRun::Exited(status) => status,
            LocalRun::Stopped => return Ran::Stopped,
            LocalRun::NotStarted(err) => {
                tracing::error!(delivery = plan.delivery, error = %err, "local plan could not run; it stays queued");
                return Ran::Again;
            }
        };
        // Killed by a signal as the server stops (a service manager may signal every process
        // of the service, the server's own signal arriving a moment later): not the plan's
        // failure; it runs again at the next start.
        if status.code().is_none()
            && tokio::time::timeout(SIGNALLED_STOP_WITHIN, stop.changed())
                .await
                .is_ok()
        {
            tracing::warn!(delivery = plan.delivery, %status, "local plan signalled as the server stops: it runs again at the next start");
            return Ran::Stopped;
        }
        let end = if status.success() {
            tracing::info!(delivery = plan.delivery, %status, "local plan finished");
            PlanEnd::Planned
        } else {
            tracing::warn!(delivery = plan.delivery, %status, "local plan failed");
            PlanEnd::Failed(status.to_string())
        };
        // The plan is not run again for a ledger that failed once: its end is retried.
        let mut pause = FIRST_PAUSE;
        loop {
            match self.ledger.finish_queued_plan(plan, &end).await {
                Ok(()) => return Ran::Recorded,
                Err(err) => {
                    tracing::warn!(delivery = plan.delivery, error = %err, "the plan's end was not recorded; retrying (stopped first, it runs again at the next start)");
                    if paused(stop, &mut pause).await {
                        return Ran::Stopped;
                    }
                }
            }
        }
    }
}

/// What became of one queued plan.
enum Ran {
    /// It ran to its end, recorded on its delivery and taken off the queue.
    Recorded,
    /// The server is stopping; it stays queued.
    Stopped,
    /// It stays queued and is tried again after a pause.
    Again,
}

/// Waits `pause` (doubling it for next time) unless `stop` changes first: `true` if it did.
async fn paused(stop: &mut watch::Receiver<()>, pause: &mut Duration) -> bool {
    let wait = *pause;
    *pause = (*pause * 2).min(MAX_PAUSE);
    tokio::select! {
        _ = stop.changed() => true,
        () = tokio::time::sleep(wait) => false,
    }
}
