//! A follow-up in the plan's thread: what happened to a change set, without buttons.

use std::collections::BTreeMap;

use super::mrkdwn::{clip, code, escape, truncate};
use super::{ascii_id, keywords, thread_id_of};
use crate::model::commit::short;
use crate::model::notification::{
    ACTION_GROUP, Content, DESCRIPTION_MAX, GROUP_INFO, Metadata, Notification, TITLE_MAX,
};
use crate::model::outcome::{Actor, Outcome, OutcomeKind};
use crate::render::took;

/// A follow-up in the plan's thread: what happened to a change set, without buttons.
pub fn follow_up(outcome: &Outcome) -> Notification {
    let thread = thread_id_of(
        outcome.project.as_deref(),
        outcome.repository.as_deref(),
        outcome.pr,
        &outcome.commit,
    );
    let stack = format!(
        "{} ({})",
        code(&clip(&outcome.stack, 128)),
        escape(&clip(&outcome.region, 40))
    );
    let by = match &outcome.actor {
        Some(Actor::SlackUser(user)) => format!(" by <@{user}>"),
        Some(Actor::Principal(principal)) => format!(" by {}", code(&clip(principal, 200))),
        None => String::new(),
    };
    let took = took(outcome.duration_seconds);
    let status = outcome
        .stack_status
        .as_deref()
        .map(|status| format!(" ({})", code(&clip(status, 60))))
        .unwrap_or_default();
    let (icon, what, event) = match &outcome.kind {
        OutcomeKind::Executed => (
            ":white_check_mark:",
            format!("deployed{status}{took}"),
            "executed",
        ),
        OutcomeKind::RolledBack => (
            ":leftwards_arrow_with_hook:",
            format!("failed and rolled back{status}{took}"),
            "rolled-back",
        ),
        OutcomeKind::ExecutionFailed => (
            ":x:",
            format!("execution failed{status}{took}"),
            "execute-failed",
        ),
        OutcomeKind::ExecutionStarted => (
            ":arrow_forward:",
            format!("execution started{by}"),
            "execution-started",
        ),
        OutcomeKind::Discarded => (
            ":wastebasket:",
            format!("change set discarded{by}"),
            "discarded",
        ),
        OutcomeKind::Refused { action, .. } => (
            ":warning:",
            format!("{} refused{by}", escape(action)),
            "refused",
        ),
    };
    let mut lines = vec![format!(
        "*Change set* {} · *Commit* {}",
        code(&clip(&outcome.change_set, 128)),
        code(&short(&outcome.commit))
    )];
    if let OutcomeKind::Refused {
        code: error,
        message,
        ..
    } = &outcome.kind
    {
        lines.push(format!(
            "{}: {}",
            code(&clip(error, 100)),
            escape(&clip(message, 1_000))
        ));
    }
    if let Some(reason) = &outcome.reason {
        lines.push(format!("*Reason* {}", escape(&clip(reason, 2_000))));
    }
    Notification {
        version: "1.0".into(),
        source: "custom".into(),
        id: ascii_id(&format!("{thread}/event/{}", outcome.event_id), 512),
        content: Content {
            text_type: "client-markdown".into(),
            title: truncate(&format!("{icon} {stack}: {what}"), TITLE_MAX),
            description: truncate(&lines.join("\n"), DESCRIPTION_MAX),
            next_steps: vec![],
            keywords: keywords(["outcome", event]),
        },
        metadata: Metadata {
            thread_id: thread,
            summary: truncate(
                &format!("{}: {event}", escape(&clip(&outcome.stack, 128))),
                TITLE_MAX,
            ),
            event_type: format!("cfn-chatops.{event}"),
            related_resources: vec![],
            additional_context: BTreeMap::from([(ACTION_GROUP.into(), GROUP_INFO.into())]),
            enable_custom_actions: false,
        },
    }
}
