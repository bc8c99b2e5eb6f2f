//! The intake: a webhook delivery in; parsed, filtered, claimed in the ledger (deliveries come
//! at least once, through two webhooks) and dispatched to a runner. What to answer is decided
//! here; the host turns it into HTTP.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, timeout_at};

use crate::adapter::backlog::api::{BacklogClient, BacklogError};
use crate::adapter::backlog::pull_requests::open_pull_requests;
use crate::adapter::ledger::{Claim, ClaimToken, Ledger};
use crate::adapter::runner::{CodeBuildRunner, DispatchError, LocalRunner, Runner};
use crate::core::filter::{admit, admit_merge, admit_preview};
use crate::core::guard::{SourceAllowlist, WebhookSecret};
use crate::core::pull_request::open_from;
use crate::core::webhook::{self, Delivery, PullRequestEvent, WebhookError};
use crate::model::backlog::PullRequest;
use crate::model::commit::short;
use crate::model::trigger::{DeliveryKey, Ignored, Push, Trigger};
use crate::pipeline::local_plans::LocalPlans;

/// A delivery's claims and dispatches end this long after its body was read, whatever the
/// ledger and the runner do (each call's own retries are cut at the deadline); recording a
/// dispatch, or giving a claim up, waits at most [`RECORD_WITHIN`] more. So a push is answered
/// within 10 s of its body (a pull-request webhook first reads Backlog, on its client's budget).
pub const DISPATCH_WITHIN: Duration = Duration::from_millis(7_500);
/// The longest wait for a dispatch's record or a claim's release before answering; either
/// goes on in the background past it.
pub const RECORD_WITHIN: Duration = Duration::from_secs(1);

/// Everything the webhook endpoint needs, built once at start-up.
pub struct Intake {
    pub secret: WebhookSecret,
    pub allowlist: SourceAllowlist,
    pub target_branch: String,
    pub ledger: Ledger,
    pub runner: Runner,
    /// Reads pull requests: merged ones (without it, merge webhooks are left to the push
    /// webhook) and open ones, to preview (without it, there are no previews).
    pub backlog: Option<BacklogClient>,
}

/// How a delivery ended, as the sender is to learn it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Dispatched,
    /// Received before: nothing done.
    Duplicate,
    /// Well-formed, but not planned (another branch, a tag, a test send, …).
    Ignored,
    /// Not a delivery the bot can read.
    Malformed,
    UnsupportedMediaType,
    /// Something on the way is down or busy: the sender should retry.
    Unavailable,
    /// Backlog refused the bot's own request (credential, unknown pull request).
    BadGateway,
}

/// A delivery's answer, and what the log line says about it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub verdict: Verdict,
    /// One printable line: it may quote untrusted input.
    pub reason: String,
    pub build_id: Option<String>,
    pub delivery: Option<DeliveryKey>,
    pub actor: Option<String>,
    /// Logged, never answered: AWS error texts name tables, projects and accounts.
    pub detail: Option<String>,
}

impl Answer {
    fn new(verdict: Verdict, reason: impl AsRef<str>) -> Self {
        Self {
            verdict,
            reason: reply_line(reason.as_ref()),
            build_id: None,
            delivery: None,
            actor: None,
            detail: None,
        }
    }

    fn ignored(reason: impl ToString) -> Self {
        Self::new(Verdict::Ignored, reason.to_string())
    }

    fn for_trigger(mut self, trigger: &Trigger) -> Self {
        self.delivery = Some(trigger.delivery_key());
        self.actor = trigger.actor.clone();
        self
    }

    fn with_detail(mut self, detail: impl ToString) -> Self {
        self.detail = Some(detail.to_string());
        self
    }
}

impl Intake {
    /// Whether the secret path segment is this endpoint's. Nothing else is revealed without it.
    pub fn knows_secret(&self, candidate: Option<&str>) -> bool {
        candidate.is_some_and(|secret| self.secret.matches(secret))
    }

    /// Whether the source address may deliver.
    pub fn allows_source(&self, source: Option<IpAddr>) -> bool {
        self.allowlist.allows(source)
    }

    /// Parse, filter, de-duplicate, dispatch.
    pub async fn deliver(&self, content_type: Option<&str>, body: &[u8]) -> Answer {
        let deadline = Instant::now() + DISPATCH_WITHIN;
        let triggers = match webhook::parse(content_type, body) {
            Ok(Delivery::Push(push)) => self.push_triggers(push).await,
            Ok(Delivery::Merge(merge)) => self.merge_trigger(merge).await.map(|t| vec![t]),
            Ok(Delivery::PullRequest(event)) => self.preview_trigger(event).await.map(|t| vec![t]),
            Ok(Delivery::Ignored(reason)) => return Answer::ignored(reason),
            Err(err @ WebhookError::UnsupportedMediaType(_)) => {
                return Answer::new(Verdict::UnsupportedMediaType, err.to_string());
            }
            Err(err @ WebhookError::Malformed(_)) => {
                return Answer::new(Verdict::Malformed, err.to_string());
            }
        };
        let triggers = match triggers {
            Ok(triggers) => triggers,
            Err(answer) => return answer,
        };
        // One push can bring new heads to several pull requests: each is its own delivery,
        // all answered within one deadline.
        let mut answers = Vec::with_capacity(triggers.len());
        for trigger in triggers {
            answers.push(self.dispatch(&trigger, deadline).await);
        }
        combined(answers)
    }

    /// A push to the target branch is planned; a push to another branch previews the open pull
    /// requests from it into the target branch.
    async fn push_triggers(&self, push: Push) -> Result<Vec<Trigger>, Answer> {
        let (project, repository, after, actor) = (
            push.project_key.clone(),
            push.repository.clone(),
            push.after.clone(),
            push.actor.clone(),
        );
        let (branch, after, backlog) = match admit(push, &self.target_branch) {
            Ok(trigger) => return Ok(vec![trigger]),
            Err(Ignored::OtherBranch { branch, target }) => match (&self.backlog, after) {
                (Some(backlog), Some(after)) => (branch, after, backlog),
                _ => return Err(Answer::ignored(Ignored::OtherBranch { branch, target })),
            },
            Err(reason) => return Err(Answer::ignored(reason)),
        };
        let open = open_pull_requests(backlog, &project, &repository)
            .await
            .map_err(|err| {
                backlog_failure(err, "could not list the open pull requests from Backlog")
            })?;
        let from = open_from(&open, &branch, &self.target_branch);
        if from.is_empty() {
            return Err(Answer::ignored(Ignored::NoOpenPullRequest {
                branch,
                target: self.target_branch.clone(),
            }));
        }
        let mut triggers = Vec::new();
        let mut refused = Vec::new();
        for pr in from {
            let event = PullRequestEvent {
                project_key: project.clone(),
                repository: repository.clone(),
                number: pr.number,
                actor: actor.clone(),
            };
            match admit_preview(event, pr, &self.target_branch, Some(&after)) {
                Ok(trigger) => triggers.push(trigger),
                Err(reason) => refused.push(reason.to_string()),
            }
        }
        if triggers.is_empty() {
            return Err(Answer::new(Verdict::Ignored, refused.join("; ")));
        }
        Ok(triggers)
    }

    /// Gives a claim up after its dispatch failed, so the sender's retry can plan it: awaited
    /// up to [`RECORD_WITHIN`], then left to finish by itself.
    async fn release(&self, key: &DeliveryKey, token: &ClaimToken) {
        let (ledger, key, token) = (self.ledger.clone(), key.clone(), token.clone());
        in_background(RECORD_WITHIN, async move {
            if let Err(err) = ledger.release_delivery(&key, &token).await {
                tracing::error!(delivery = %key, error = %err, "claim not released; a retry takes it over after the lease");
            }
        })
        .await;
    }

    /// A pull request added or updated: previewed at its head, read over REST.
    async fn preview_trigger(&self, event: PullRequestEvent) -> Result<Trigger, Answer> {
        let Some(backlog) = &self.backlog else {
            return Err(Answer::ignored(Ignored::PreviewNeedsBacklogApi(
                event.number,
            )));
        };
        let pr = self.read_pull_request(backlog, &event).await?;
        admit_preview(event, &pr, &self.target_branch, None).map_err(Answer::ignored)
    }

    async fn read_pull_request(
        &self,
        backlog: &BacklogClient,
        event: &PullRequestEvent,
    ) -> Result<PullRequest, Answer> {
        backlog
            .pull_request(&event.project_key, &event.repository, event.number)
            .await
            .map_err(|err| {
                backlog_failure(
                    err,
                    &format!("could not read pull request #{} from Backlog", event.number),
                )
            })
    }

    /// Claims the delivery in the ledger and starts its plan, by `deadline` whatever the ledger
    /// and the runner do (each call's own retries and timeouts are cut short at it).
    async fn dispatch(&self, trigger: &Trigger, deadline: Instant) -> Answer {
        let key = trigger.delivery_key();
        // Past the deadline, nothing more is asked (a call is sent before its timeout is
        // looked at).
        if Instant::now() >= deadline {
            return late("Backlog or the ledger").for_trigger(trigger);
        }
        // Every "unavailable" asks Backlog to retry; the retry finds nothing recorded (or, when
        // the claim was written but its answer came too late, takes it over after the lease).
        let claimed = timeout_at(
            deadline,
            self.ledger.claim_delivery(trigger, self.runner.name()),
        )
        .await;
        let Ok(claimed) = claimed else {
            return late("the ledger").for_trigger(trigger);
        };
        let token = match claimed {
            Ok(Claim::Claimed(token)) => token,
            Ok(Claim::Duplicate) => {
                let answer = match (trigger.is_preview(), trigger.pr_number) {
                    (true, Some(number)) => Answer::ignored(Ignored::HeadUnchanged {
                        number,
                        head: trigger.after.clone(),
                    }),
                    _ => Answer::new(Verdict::Duplicate, format!("{key} was already received")),
                };
                return answer.for_trigger(trigger);
            }
            Ok(Claim::InFlight) => {
                // If that dispatch fails, this sender's retry must still be able to plan it.
                return Answer::new(
                    Verdict::Unavailable,
                    format!("{key} is being dispatched by another delivery; retry"),
                )
                .for_trigger(trigger);
            }
            Err(err) => {
                return Answer::new(Verdict::Unavailable, "ledger unavailable; retry")
                    .for_trigger(trigger)
                    .with_detail(err);
            }
        };
        let started = match &self.runner {
            Runner::CodeBuild(codebuild) => {
                self.start_build(codebuild, trigger, &token, deadline).await
            }
            Runner::Local(local) => self.queue_plan(local, trigger, &token, deadline).await,
        };
        let build_id = match started {
            Ok(build_id) => build_id,
            Err(answer) => {
                self.release(&key, &token).await;
                return answer.for_trigger(trigger);
            }
        };
        let what = match (&trigger.preview_into, trigger.pr_number) {
            (Some(into), Some(pr)) => format!(
                "previewing pull request #{pr} into {into} at {}",
                short(&trigger.after)
            ),
            _ => format!("planning {key} on {}", trigger.branch),
        };
        let mut answer = Answer::new(Verdict::Dispatched, what).for_trigger(trigger);
        answer.build_id = build_id;
        answer
    }

    /// Starts a CodeBuild build, then records it: the build id.
    async fn start_build(
        &self,
        codebuild: &CodeBuildRunner,
        trigger: &Trigger,
        token: &ClaimToken,
        deadline: Instant,
    ) -> Result<Option<String>, Answer> {
        let dispatched = timeout_at(deadline, codebuild.dispatch(trigger))
            .await
            .map_err(|_| late(&format!("the {} runner", self.runner.name())))?
            .map_err(|err| runner_failed(self.runner.name(), err))?;
        // The build is running: its record is awaited briefly, then goes on by itself (an
        // unrecorded dispatch could be taken over after the claim's lease, and CodeBuild's
        // idempotency token returns the same build).
        let ledger = self.ledger.clone();
        let (key, token, build_id) = (
            trigger.delivery_key(),
            token.clone(),
            dispatched.build_id.clone(),
        );
        in_background(RECORD_WITHIN, async move {
            if let Err(err) = ledger
                .confirm_delivery(&key, &token, build_id.as_deref())
                .await
            {
                tracing::warn!(delivery = %key, error = %err, "dispatch not recorded");
            }
        })
        .await;
        Ok(dispatched.build_id)
    }

    /// Queues the plan for the local runner, in the ledger (so that neither a stop nor a
    /// crash loses it), before answering: nothing is answered "dispatched" that is not queued.
    async fn queue_plan(
        &self,
        local: &LocalRunner,
        trigger: &Trigger,
        token: &ClaimToken,
        deadline: Instant,
    ) -> Result<Option<String>, Answer> {
        local
            .check()
            .map_err(|err| runner_failed(self.runner.name(), err))?;
        let arguments = LocalRunner::arguments(trigger);
        let key = trigger.delivery_key();
        let queued = timeout_at(deadline, self.ledger.queue_plan(&key, token, &arguments)).await;
        // Woken even when the answer was lost or late: the write may have been applied.
        local.queued();
        queued.map_err(|_| late("the ledger"))?.map_err(|err| {
            Answer::new(Verdict::Unavailable, "ledger unavailable; retry").with_detail(err)
        })?;
        Ok(None)
    }

    /// The worker that runs the local runner's queued plans, if that is the runner.
    pub fn local_plans(&self) -> Option<LocalPlans> {
        match &self.runner {
            Runner::Local(runner) => Some(LocalPlans {
                ledger: self.ledger.clone(),
                runner: Arc::clone(runner),
            }),
            Runner::CodeBuild(_) => None,
        }
    }

    /// Reads the merged pull request over REST (the webhook body is not trusted for the merge
    /// commit or the base branch). Backlog failing is an error answer, so the sender may retry.
    async fn merge_trigger(&self, merge: PullRequestEvent) -> Result<Trigger, Answer> {
        let Some(backlog) = &self.backlog else {
            return Err(Answer::ignored(Ignored::MergeNeedsBacklogApi(merge.number)));
        };
        let pr = self.read_pull_request(backlog, &merge).await?;
        admit_merge(merge, &pr, &self.target_branch).map_err(Answer::ignored)
    }
}

/// A service that did not answer within the delivery's deadline: the sender retries.
fn late(what: &str) -> Answer {
    Answer::new(
        Verdict::Unavailable,
        format!("{what} did not answer in time; retry"),
    )
}

/// The runner could not start the plan: the sender retries (the error goes to the log).
fn runner_failed(runner: &str, err: DispatchError) -> Answer {
    Answer::new(
        Verdict::Unavailable,
        format!("{runner} runner could not start the plan; retry"),
    )
    .with_detail(err)
}

/// Runs `work` on its own task and waits for it up to `wait`; past that it goes on unawaited.
async fn in_background(wait: Duration, work: impl Future<Output = ()> + Send + 'static) {
    let _ = tokio::time::timeout(wait, tokio::spawn(work)).await;
}

/// Backlog failing: retry later (5xx, 429, unreachable), or its refusal of the bot's request.
fn backlog_failure(err: BacklogError, what: &str) -> Answer {
    let verdict = if err.is_retryable() {
        Verdict::Unavailable
    } else {
        Verdict::BadGateway
    };
    Answer::new(verdict, what).with_detail(err)
}

/// The answer to a delivery that asked for several plans: the most urgent verdict (a retry
/// first: the dispatched ones are duplicates then), with every reason.
fn combined(mut answers: Vec<Answer>) -> Answer {
    if answers.len() == 1 {
        return answers.remove(0);
    }
    let rank = |verdict: Verdict| match verdict {
        Verdict::Unavailable | Verdict::BadGateway => 0,
        Verdict::Dispatched => 1,
        Verdict::Duplicate => 2,
        _ => 3,
    };
    let reason = answers
        .iter()
        .map(|answer| answer.reason.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let build_ids: Vec<String> = answers
        .iter()
        .filter_map(|answer| answer.build_id.clone())
        .collect();
    let mut first = answers
        .into_iter()
        .min_by_key(|answer| rank(answer.verdict))
        .expect("at least one answer");
    first.reason = reply_line(&reason);
    if !build_ids.is_empty() {
        first.build_id = Some(build_ids.join(","));
    }
    first
}

/// Reasons quote untrusted input: keep them to one printable line of bounded length.
pub fn reply_line(text: &str) -> String {
    const MAX_CHARS: usize = 300;
    let mut line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_CHARS)
        .collect();
    if text.chars().count() > MAX_CHARS {
        line.push('…');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_of_several_plans_answers_the_most_urgent_verdict_with_every_reason() {
        let dispatched = |n: u64| {
            let mut answer = Answer::new(Verdict::Dispatched, format!("previewing #{n}"));
            answer.build_id = Some(format!("build:{n}"));
            answer
        };
        let both = combined(vec![dispatched(1), dispatched(2)]);
        assert_eq!(both.verdict, Verdict::Dispatched);
        assert_eq!(both.reason, "previewing #1; previewing #2");
        assert_eq!(both.build_id.as_deref(), Some("build:1,build:2"));
        // One that must be retried makes Backlog retry; the dispatched one is a duplicate then.
        let retry = combined(vec![
            dispatched(1),
            Answer::new(Verdict::Unavailable, "ledger unavailable; retry"),
        ]);
        assert_eq!(retry.verdict, Verdict::Unavailable);
        assert_eq!(retry.reason, "previewing #1; ledger unavailable; retry");
        let seen = combined(vec![
            Answer::ignored("head abc1234 of pull request #1 was previewed already"),
            Answer::new(Verdict::Duplicate, "x was already received"),
        ]);
        assert_eq!(seen.verdict, Verdict::Duplicate);
    }
}
