//! The intake: a webhook delivery in; parsed, filtered, claimed in the ledger (deliveries come
//! at least once, through two webhooks) and dispatched to a runner. What to answer is decided
//! here; the host turns it into HTTP.

use std::net::IpAddr;

use crate::adapter::backlog::api::BacklogClient;
use crate::adapter::ledger::{Claim, Ledger};
use crate::adapter::runner::Runner;
use crate::core::filter::{admit, admit_merge};
use crate::core::guard::{SourceAllowlist, WebhookSecret};
use crate::core::webhook::{self, Delivery, Merge, WebhookError};
use crate::model::trigger::{DeliveryKey, Ignored, Trigger};

/// Everything the webhook endpoint needs, built once at start-up.
pub struct Intake {
    pub secret: WebhookSecret,
    pub allowlist: SourceAllowlist,
    pub target_branch: String,
    pub ledger: Ledger,
    pub runner: Runner,
    /// Reads merged pull requests; without it, merge webhooks are left to the push webhook.
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
        let trigger = match webhook::parse(content_type, body) {
            Ok(Delivery::Push(push)) => admit(push, &self.target_branch),
            Ok(Delivery::Merge(merge)) => match self.merge_trigger(merge).await {
                Ok(admitted) => admitted,
                Err(answer) => return answer,
            },
            Ok(Delivery::Ignored(reason)) => return Answer::ignored(reason),
            Err(err @ WebhookError::UnsupportedMediaType(_)) => {
                return Answer::new(Verdict::UnsupportedMediaType, err.to_string());
            }
            Err(err @ WebhookError::Malformed(_)) => {
                return Answer::new(Verdict::Malformed, err.to_string());
            }
        };
        let trigger = match trigger {
            Ok(trigger) => trigger,
            Err(reason) => return Answer::ignored(reason),
        };
        let key = trigger.delivery_key();
        // Every "unavailable" asks Backlog to retry; the retry finds nothing recorded.
        let token = match self
            .ledger
            .claim_delivery(&trigger, self.runner.name())
            .await
        {
            Ok(Claim::Claimed(token)) => token,
            Ok(Claim::Duplicate) => {
                return Answer::new(Verdict::Duplicate, format!("{key} was already received"))
                    .for_trigger(&trigger);
            }
            Ok(Claim::InFlight) => {
                // If that dispatch fails, this sender's retry must still be able to plan it.
                return Answer::new(
                    Verdict::Unavailable,
                    format!("{key} is being dispatched by another delivery; retry"),
                )
                .for_trigger(&trigger);
            }
            Err(err) => {
                return Answer::new(Verdict::Unavailable, "ledger unavailable; retry")
                    .for_trigger(&trigger)
                    .with_detail(err);
            }
        };
        match self.runner.dispatch(&trigger).await {
            Ok(dispatched) => {
                if let Err(err) = self
                    .ledger
                    .confirm_delivery(&key, &token, dispatched.build_id.as_deref())
                    .await
                {
                    // The plan is running; an unconfirmed claim only goes stale after its lease.
                    tracing::warn!(delivery = %key, error = %err, "dispatch not recorded");
                }
                let mut answer = Answer::new(
                    Verdict::Dispatched,
                    format!("planning {key} on {}", trigger.branch),
                )
                .for_trigger(&trigger);
                answer.build_id = dispatched.build_id;
                answer
            }
            Err(err) => {
                if let Err(release) = self.ledger.release_delivery(&key, &token).await {
                    tracing::error!(delivery = %key, error = %release, "claim not released; a retry can take it over after the lease");
                }
                Answer::new(
                    Verdict::Unavailable,
                    format!(
                        "{} runner could not start the plan; retry",
                        self.runner.name()
                    ),
                )
                .for_trigger(&trigger)
                .with_detail(err)
            }
        }
    }

    /// Reads the merged pull request over REST (the webhook body is not trusted for the merge
    /// commit or the base branch). Backlog failing is an error answer, so the sender may retry.
    async fn merge_trigger(&self, merge: Merge) -> Result<Result<Trigger, Ignored>, Answer> {
        let Some(backlog) = &self.backlog else {
            return Ok(Err(Ignored::MergeNeedsBacklogApi(merge.number)));
        };
        match backlog
            .pull_request(&merge.project_key, &merge.repository, merge.number)
            .await
        {
            Ok(pr) => Ok(admit_merge(merge, &pr, &self.target_branch)),
            Err(err) => {
                let verdict = if err.is_retryable() {
                    Verdict::Unavailable
                } else {
                    Verdict::BadGateway
                };
                Err(Answer::new(
                    verdict,
                    format!("could not read pull request #{} from Backlog", merge.number),
                )
                .with_detail(err))
            }
        }
    }
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
