//! Backlog's two webhook formats, read strictly and normalised into a [`Push`].
//!
//! - Project webhook: a JSON activity; type 12 is a Git push, types 18 and 19 a pull request
//!   added and updated (<https://support.backlog.com/hc/en-us/articles/115015420967-Webhooks>).
//! - Git webhook (per repository): `application/x-www-form-urlencoded` with one field `payload`
//!   holding JSON (<https://support.backlog.com/hc/en-us/articles/115015385567-Git-Webhook>). A raw
//!   JSON body of the same shape is accepted too.
//!
//! The format is recognised from the Content-Type and the body, never from the URL.

use serde::Deserialize;
use serde_json::Value;

use super::text::deserialize_at;
use crate::model::backlog::is_merged_status;
use crate::model::commit::parse_full;
use crate::model::trigger::{Ignored, Push, Revision};

/// What a well-formed delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Push(Push),
    /// A pull request was merged (type 19, status → 3): its merge commit is looked up over REST.
    Merge(PullRequestEvent),
    /// A pull request was added (type 18) or updated otherwise (type 19): previewed when it is
    /// open, into the target branch, with a head not previewed yet (all read over REST).
    PullRequest(PullRequestEvent),
    Ignored(Ignored),
}

/// A pull request as the project webhook names it. The webhook is not trusted for the merge
/// commit, the head or the base branch: the intake reads them from the REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestEvent {
    pub project_key: String,
    pub repository: String,
    pub number: u64,
    pub actor: Option<String>,
}

/// Why a delivery cannot be read. Each message is one line and names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error(
        "unsupported content type {0}: expected application/json or application/x-www-form-urlencoded"
    )]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Malformed(String),
}

fn malformed(reason: impl Into<String>) -> WebhookError {
    WebhookError::Malformed(reason.into())
}

enum BodyKind {
    Json,
    Form,
}

/// Reads a webhook body. `content_type` is the raw header value, if any.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Delivery, WebhookError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(malformed("body is empty"));
    }
    match body_kind(content_type, body)? {
        BodyKind::Form => parse_form(body),
        BodyKind::Json => {
            let value = parse_json(body, "body")?;
            let Value::Object(object) = &value else {
                return Err(malformed("body: expected a JSON object"));
            };
            if object.contains_key("type") {
                parse_activity(value)
            } else if object.contains_key("after") || object.contains_key("ref") {
                parse_git_push(value, "")
            } else {
                Err(malformed(
                    "body is not a Backlog webhook: expected `type` (project webhook) or `after` (Git webhook)",
                ))
            }
        }
    }
}

/// Backlog's project-webhook Content-Type is undocumented, so a missing header or `text/plain`
/// is read by looking at the body; any other type is refused.
fn body_kind(content_type: Option<&str>, body: &[u8]) -> Result<BodyKind, WebhookError> {
    let essence = content_type
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Ok(BodyKind::Form),
        "application/json" | "text/json" => Ok(BodyKind::Json),
        essence if essence.starts_with("application/") && essence.ends_with("+json") => {
            Ok(BodyKind::Json)
        }
        "" | "text/plain" => {
            if body.starts_with(b"payload=") {
                Ok(BodyKind::Form)
            } else {
                Ok(BodyKind::Json)
            }
        }
        _ => Err(WebhookError::UnsupportedMediaType(
            content_type.unwrap_or_default().to_owned(),
        )),
    }
}

fn parse_form(body: &[u8]) -> Result<Delivery, WebhookError> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|err| malformed(format!("body is not a valid form: {err}")))?;
    let mut payloads = fields.into_iter().filter(|(name, _)| name == "payload");
    let Some((_, payload)) = payloads.next() else {
        return Err(malformed("form field `payload` is missing"));
    };
    if payloads.next().is_some() {
        return Err(malformed("form field `payload` is given more than once"));
    }
    let value = parse_json(payload.as_bytes(), "payload")?;
    if !value.is_object() {
        return Err(malformed("payload: expected a JSON object"));
    }
    parse_git_push(value, "payload.")
}

fn parse_json(bytes: &[u8], what: &str) -> Result<Value, WebhookError> {
    // serde_json caps nesting at 128 levels, so a deeply nested body is an error, not a crash.
    serde_json::from_slice(bytes)
        .map_err(|err| malformed(format!("{what} is not valid JSON: {err}")))
}

fn typed<'de, T: Deserialize<'de>>(value: &'de Value, prefix: &str) -> Result<T, WebhookError> {
    deserialize_at(value, prefix).map_err(|err| malformed(err.to_string()))
}

// ---- Project webhook (JSON activity) ----

#[derive(Deserialize)]
struct ActivityHead {
    id: Option<i64>,
    #[serde(rename = "type")]
    kind: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GitPushActivity {
    project: ActivityProject,
    content: GitPushContent,
    created_user: Option<ActivityUser>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivityProject {
    project_key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivityUser {
    user_id: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct GitPushContent {
    repository: NamedRepository,
    #[serde(rename = "ref")]
    git_ref: String,
    change_type: Option<String>,
    revision_count: Option<u64>,
    #[serde(default)]
    revisions: Vec<ActivityRevision>,
}

#[derive(Deserialize)]
struct NamedRepository {
    name: String,
}

#[derive(Deserialize)]
struct ActivityRevision {
    rev: String,
    comment: Option<String>,
}

const GIT_PUSH: i64 = 12;
const PULL_REQUEST_ADDED: i64 = 18;
const PULL_REQUEST_UPDATED: i64 = 19;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PullRequestActivity {
    project: ActivityProject,
    content: PullRequestContent,
    created_user: Option<ActivityUser>,
}

#[derive(Deserialize)]
struct PullRequestContent {
    number: u64,
    repository: NamedRepository,
    #[serde(default)]
    changes: Vec<PullRequestChange>,
}

/// `changes[]` values are strings in the webhook (`"3"`), whatever they mean.
#[derive(Deserialize)]
struct PullRequestChange {
    field: String,
    /// Strings as seen; read loosely so an odd value in an unrelated change cannot refuse
    /// the whole delivery.
    #[serde(default)]
    new_value: Value,
}

/// A status id as the webhook writes it: a string (`"3"`) or, loosely, a number.
fn status_id(value: &Value) -> Option<u64> {
    value
        .as_str()
        .and_then(|id| id.parse().ok())
        .or(value.as_u64())
}

/// Types 18 and 19: a merge (type 19 with status → 3) or anything else that may bring a new
/// head (added, updated).
fn parse_pull_request(value: &Value, kind: i64) -> Result<Delivery, WebhookError> {
    let activity: PullRequestActivity = typed(value, "")?;
    let merged = kind == PULL_REQUEST_UPDATED
        && activity.content.changes.iter().any(|change| {
            change.field == "status" && status_id(&change.new_value).is_some_and(is_merged_status)
        });
    let project_key = project_key(&activity.project.project_key, "project.projectKey")?;
    let repository = repository_name(&activity.content.repository.name, "content.repository.name")?;
    if is_test_send(&project_key, &repository) {
        return Ok(Delivery::Ignored(Ignored::TestSend));
    }
    let event = PullRequestEvent {
        project_key,
        repository,
        number: activity.content.number,
        actor: activity
            .created_user
            .and_then(|user| user.name.or(user.user_id)),
    };
    Ok(if merged {
        Delivery::Merge(event)
    } else {
        Delivery::PullRequest(event)
    })
}

fn parse_activity(value: Value) -> Result<Delivery, WebhookError> {
    let head: ActivityHead = typed(&value, "")?;
    if head.id == Some(0) {
        return Ok(Delivery::Ignored(Ignored::TestSend));
    }
    if head.kind == PULL_REQUEST_ADDED || head.kind == PULL_REQUEST_UPDATED {
        return parse_pull_request(&value, head.kind);
    }
    if head.kind != GIT_PUSH {
        return Ok(Delivery::Ignored(Ignored::ActivityType(head.kind)));
    }
    let activity: GitPushActivity = typed(&value, "")?;
    let project_key = project_key(&activity.project.project_key, "project.projectKey")?;
    let repository = repository_name(&activity.content.repository.name, "content.repository.name")?;
    if is_test_send(&project_key, &repository) {
        return Ok(Delivery::Ignored(Ignored::TestSend));
    }
    let git_ref = git_ref(&activity.content.git_ref, "content.ref")?;
    let revisions = revisions(activity.content.revisions, "content.revisions")?;
    // Whether Backlog truncates long pushes is undocumented: never guess the head of one.
    if let Some(count) = activity.content.revision_count
        && count != revisions.len() as u64
    {
        return Ok(Delivery::Ignored(Ignored::RevisionsTruncated {
            listed: revisions.len(),
            count,
        }));
    }
    let actor = activity
        .created_user
        .and_then(|user| user.name.or(user.user_id));
    Ok(Delivery::Push(Push {
        project_key,
        repository,
        git_ref,
        before: None,
        // Type 12 has no before/after. Backlog's sample payloads of one push list revisions
        // oldest first in both formats (the order is undocumented), so the pushed head is the
        // last one.
        after: revisions.last().map(|revision| revision.id.clone()),
        deleted: activity.content.change_type.as_deref() == Some("delete"),
        revisions,
        pr_number: None,
        actor,
    }))
}

/// The "Test" button sends sample data, not a real activity. Its contents are undocumented;
/// public captures show activity id 10, project key `TEST` and repository `app`. Such a body
/// (project `TEST` *and* repository `app`) is a test send, as is any activity with id 0.
fn is_test_send(project_key: &str, repository: &str) -> bool {
    project_key == "TEST" && repository == "app"
}

// ---- Git webhook (per repository) ----

#[derive(Deserialize)]
struct GitWebhookPush {
    before: Option<String>,
    after: String,
    #[serde(rename = "ref")]
    git_ref: String,
    repository: GitWebhookRepository,
    #[serde(default)]
    revisions: Vec<GitWebhookRevision>,
}

#[derive(Deserialize)]
struct GitWebhookRepository {
    url: String,
    name: String,
}

#[derive(Deserialize)]
struct GitWebhookRevision {
    id: String,
    message: Option<String>,
    author: Option<GitWebhookAuthor>,
}

#[derive(Deserialize)]
struct GitWebhookAuthor {
    name: Option<String>,
}

fn parse_git_push(value: Value, prefix: &str) -> Result<Delivery, WebhookError> {
    let push: GitWebhookPush = typed(&value, prefix)?;
    let field = |name: &str| format!("{prefix}{name}");
    let url_field = field("repository.url");
    let (key_in_url, repository_in_url) =
        repository_path(&push.repository.url).ok_or_else(|| {
            malformed(format!(
                "{url_field}: no project key in the URL (expected …/git/PROJECT/repository)"
            ))
        })?;
    let project_key = project_key(key_in_url, &url_field)?;
    let repository = repository_name(&push.repository.name, &field("repository.name"))?;
    if repository_in_url != repository {
        return Err(malformed(format!(
            "{url_field}: names repository {repository_in_url}, not {repository}"
        )));
    }
    let git_ref = git_ref(&push.git_ref, &field("ref"))?;
    let after = commit_id(&push.after, &field("after"))?;
    let before = push
        .before
        .filter(|before| !before.is_empty())
        .map(|before| commit_id(&before, &field("before")))
        .transpose()?;
    let revisions = revisions(push.revisions, &field("revisions"))?;
    // The Git webhook names no pusher; the author of the pushed head stands in for one.
    let actor = revisions
        .last()
        .and_then(|revision| revision.author.clone());
    Ok(Delivery::Push(Push {
        project_key,
        repository,
        git_ref,
        before,
        after: Some(after),
        deleted: false,
        revisions,
        pr_number: None,
        actor,
    }))
}

/// `https://space.backlog.com/git/INFRA/cfn-templates` → (`INFRA`, `cfn-templates`). Only the
/// path is read; a `.git` suffix is dropped.
fn repository_path(url: &str) -> Option<(&str, &str)> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.split(['?', '#']).next()?;
    let mut segments = path
        .split('/')
        .skip(1)
        .skip_while(|segment| *segment != "git");
    segments.next()?;
    let key = segments.next().filter(|key| !key.is_empty())?;
    let repository = segments.next()?;
    let repository = repository.strip_suffix(".git").unwrap_or(repository);
    (!repository.is_empty()).then_some((key, repository))
}

/// A pushed commit as either format lists it.
trait PushedRevision {
    fn into_revision(self, field: &str) -> Result<Revision, WebhookError>;
}

impl PushedRevision for ActivityRevision {
    fn into_revision(self, field: &str) -> Result<Revision, WebhookError> {
        Ok(Revision {
            id: commit_id(&self.rev, &format!("{field}.rev"))?,
            message: self.comment.unwrap_or_default(),
            author: None,
        })
    }
}

impl PushedRevision for GitWebhookRevision {
    fn into_revision(self, field: &str) -> Result<Revision, WebhookError> {
        Ok(Revision {
            id: commit_id(&self.id, &format!("{field}.id"))?,
            message: self.message.unwrap_or_default(),
            author: self.author.and_then(|author| author.name),
        })
    }
}

fn revisions<R: PushedRevision>(items: Vec<R>, path: &str) -> Result<Vec<Revision>, WebhookError> {
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| item.into_revision(&format!("{path}[{index}]")))
        .collect()
}

// ---- Field checks: these values reach git, CodeBuild and DynamoDB keys ----

/// Backlog project keys: upper-case letters, digits and `_`, starting with a letter.
fn project_key(value: &str, field: &str) -> Result<String, WebhookError> {
    let valid = (1..=64).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_uppercase())
        && value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(value.to_owned())
    } else {
        Err(malformed(format!(
            "{field}: not a Backlog project key (upper-case letters, digits and _)"
        )))
    }
}

fn repository_name(value: &str, field: &str) -> Result<String, WebhookError> {
    let valid = (1..=100).contains(&value.len())
        && !value.starts_with(['.', '-'])
        && !value.contains("..")
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(value.to_owned())
    } else {
        Err(malformed(format!(
            "{field}: not a repository name (letters, digits, - _ and .)"
        )))
    }
}

/// The rules of `git check-ref-format`, plus no component starting with `-` (it would read as
/// an option on a command line).
fn git_ref(value: &str, field: &str) -> Result<String, WebhookError> {
    let valid = value.starts_with("refs/")
        && value.len() <= 255
        && !value.contains("..")
        && !value.contains("@{")
        && value.split('/').all(|component| {
            !component.is_empty()
                && !component.starts_with(['.', '-'])
                && !component.ends_with(".lock")
                && !component.ends_with('.')
        })
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"~^:?*[\\".contains(&b));
    if valid {
        Ok(value.to_owned())
    } else {
        Err(malformed(format!("{field}: not a git ref name")))
    }
}

/// A full commit id, lower-cased.
fn commit_id(value: &str, field: &str) -> Result<String, WebhookError> {
    parse_full(value).ok_or_else(|| malformed(format!("{field}: not a full commit id")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::filter::admit;

    const TYPE12: &str = include_str!("../../tests/fixtures/backlog/project-type12-push.json");
    const TYPE18: &str = include_str!("../../tests/fixtures/backlog/project-type18-pr-added.json");
    const TYPE19: &str = include_str!("../../tests/fixtures/backlog/project-type19-pr-merged.json");
    const TEST_SEND: &str = include_str!("../../tests/fixtures/backlog/project-test-send.json");
    const GIT_JSON: &str = include_str!("../../tests/fixtures/backlog/git-webhook-push.json");
    const GIT_FORM: &str = include_str!("../../tests/fixtures/backlog/git-webhook-push.form");
    const SEED003: &str = include_str!("../../tests/fixtures/backlog/git-webhook-seed003.json");
    const JSON: Option<&str> = Some("application/json");
    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    fn push(content_type: Option<&str>, body: &str) -> Push {
        match parse(content_type, body.as_bytes()) {
            Ok(Delivery::Push(push)) => push,
            other => panic!("expected a push, got {other:?}"),
        }
    }

    fn reason(content_type: Option<&str>, body: &str) -> String {
        match parse(content_type, body.as_bytes()) {
            Err(WebhookError::Malformed(reason)) => reason,
            other => panic!("expected a malformed body, got {other:?}"),
        }
    }

    #[test]
    fn type_12_example_from_the_reference() {
        let push = push(JSON, TYPE12);
        assert_eq!(push.project_key, "INFRA");
        assert_eq!(push.repository, "cfn-templates");
        assert_eq!(push.git_ref, "refs/heads/main");
        assert_eq!(push.before, None);
        assert_eq!(
            push.after.as_deref(),
            Some("d3adb33fc0ffee00112233445566778899aabbcc")
        );
        assert_eq!(push.revisions.len(), 2);
        assert_eq!(
            push.revisions[0].message,
            "INFRA-42 Raise worker Lambda timeout to 60s"
        );
        assert_eq!(push.actor.as_deref(), Some("Aiko Tanaka"));
        assert!(!push.deleted);
    }

    #[test]
    fn git_webhook_reads_the_same_from_the_wire_form_and_from_raw_json() {
        let from_form = push(FORM, GIT_FORM);
        assert_eq!(from_form, push(JSON, GIT_JSON));
        assert_eq!(from_form, push(None, GIT_FORM), "sniffed without a header");
        assert_eq!(from_form.project_key, "INFRA");
        assert_eq!(
            from_form.before.as_deref(),
            Some("4b1f0c2d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c")
        );
        assert_eq!(from_form.revisions[1].author.as_deref(), Some("Ken Sato"));
        assert_eq!(from_form.actor.as_deref(), Some("Ken Sato"));
        // %20 for spaces decodes like +.
        let percent = GIT_FORM.replace('+', "%20");
        assert_eq!(push(FORM, &percent), from_form);
    }

    #[test]
    fn both_routes_of_one_push_share_the_delivery_key() {
        let by_project = admit(push(JSON, TYPE12), "main").unwrap();
        let by_git = admit(push(FORM, GIT_FORM), "main").unwrap();
        assert_eq!(by_project.delivery_key(), by_git.delivery_key());
        assert_eq!(
            by_project.delivery_key().as_str(),
            "INFRA/cfn-templates@d3adb33fc0ffee00112233445566778899aabbcc"
        );
    }

    #[test]
    fn seed_003_sample_is_a_push_to_master() {
        let push = push(JSON, SEED003);
        assert_eq!(
            (push.project_key.as_str(), push.repository.as_str()),
            ("DORA", "himitsu")
        );
        assert_eq!(
            push.revisions[1].message,
            "DORA-1 竹でできているヘリコプターが壊れました #fixed"
        );
        assert!(admit(push.clone(), "master").is_ok());
        assert!(matches!(
            admit(push, "main"),
            Err(Ignored::OtherBranch { .. })
        ));
    }

    #[test]
    fn other_activity_types_and_test_sends_are_ignored() {
        let delivery = |body: &str| parse(JSON, body.as_bytes()).unwrap();
        let event = PullRequestEvent {
            project_key: "INFRA".into(),
            repository: "cfn-templates".into(),
            number: 57,
            actor: Some("Ken Sato".into()),
        };
        let added = delivery(TYPE18);
        assert!(
            matches!(&added, Delivery::PullRequest(pr) if pr.number == 58 && pr.project_key == "INFRA"),
            "{added:?}"
        );
        assert_eq!(delivery(TYPE19), Delivery::Merge(event.clone()));
        // Closed without merging, or another field changed: not a merge, but maybe a new head
        // (the REST API says which).
        for changes in [
            r#""changes": [ { "field": "status", "new_value": "2", "old_value": "1" } ]"#,
            r#""changes": [ { "field": "description", "new_value": "3", "old_value": "x" } ]"#,
        ] {
            let update = TYPE19.replace(
                r#""changes": [ { "field": "status", "new_value": "3", "old_value": "1" } ]"#,
                changes,
            );
            assert_ne!(update, TYPE19);
            assert_eq!(delivery(&update), Delivery::PullRequest(event.clone()));
        }
        assert_eq!(delivery(TEST_SEND), Delivery::Ignored(Ignored::TestSend));
        let id_zero = TYPE12.replace("\"id\": 3141592", "\"id\": 0");
        assert_eq!(delivery(&id_zero), Delivery::Ignored(Ignored::TestSend));
        // A real project keyed TEST with another repository is not a test send.
        let real = TEST_SEND.replace("\"name\": \"app\"", "\"name\": \"infra\"");
        assert!(matches!(delivery(&real), Delivery::Push(_)));
        let truncated = TYPE12.replace("\"revision_count\": 2", "\"revision_count\": 30");
        assert_eq!(
            delivery(&truncated),
            Delivery::Ignored(Ignored::RevisionsTruncated {
                listed: 2,
                count: 30
            })
        );
    }

    #[test]
    fn malformed_bodies_name_the_field_at_fault() {
        let wrong_type = TYPE12.replace("\"type\": 12", "\"type\": \"12\"");
        assert!(reason(JSON, &wrong_type).starts_with("type: invalid type: string"));

        let rev_number = TYPE12.replace(
            "\"rev\": \"7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b\"",
            "\"rev\": 5",
        );
        assert_eq!(
            reason(JSON, &rev_number),
            "content.revisions[0].rev: invalid type: integer `5`, expected a string"
        );

        let short_rev = TYPE12.replace("7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b", "7e6d5c4");
        assert_eq!(
            reason(JSON, &short_rev),
            "content.revisions[0].rev: not a full commit id"
        );

        let mut no_project: Value = serde_json::from_str(TYPE12).unwrap();
        no_project.as_object_mut().unwrap().remove("project");
        assert_eq!(
            reason(JSON, &no_project.to_string()),
            "missing field `project`"
        );

        let mut no_after: Value = serde_json::from_str(GIT_JSON).unwrap();
        no_after.as_object_mut().unwrap().remove("after");
        let form = serde_urlencoded::to_string([("payload", no_after.to_string())]).unwrap();
        assert_eq!(reason(FORM, &form), "payload: missing field `after`");

        let bad_url = GIT_JSON.replace("/git/INFRA/", "/repos/INFRA/");
        assert!(reason(JSON, &bad_url).starts_with("repository.url: no project key"));
        let other_repo = GIT_JSON.replace("/git/INFRA/cfn-templates\"", "/git/INFRA/other\"");
        assert_eq!(
            reason(JSON, &other_repo),
            "repository.url: names repository other, not cfn-templates"
        );

        assert!(reason(JSON, &TYPE12[..TYPE12.len() / 2]).starts_with("body is not valid JSON"));
        assert!(reason(JSON, "[1, 2]").starts_with("body: expected a JSON object"));
        assert!(reason(JSON, "{\"hello\": 1}").starts_with("body is not a Backlog webhook"));
        assert!(reason(JSON, "   ").starts_with("body is empty"));
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(reason(JSON, &deep).contains("recursion limit exceeded"));
        assert_eq!(reason(FORM, "other=1"), "form field `payload` is missing");
        assert_eq!(
            reason(FORM, "payload=%7B&payload=%7B"),
            "form field `payload` is given more than once"
        );
        assert!(reason(FORM, "payload=not-json").starts_with("payload is not valid JSON"));
    }

    #[test]
    fn project_key_and_repository_come_from_the_url_path() {
        assert_eq!(
            repository_path("https://example-space.backlog.com/git/INFRA/cfn-templates"),
            Some(("INFRA", "cfn-templates"))
        );
        assert_eq!(
            repository_path("https://demo.backlog.jp/git/DORA/himitsu.git"),
            Some(("DORA", "himitsu"))
        );
        assert_eq!(
            repository_path("https://demo.backlog.jp/DORA/himitsu"),
            None
        );
        assert_eq!(repository_path("https://demo.backlog.jp/git/DORA"), None);
        assert_eq!(repository_path("https://demo.backlog.jp/git/DORA/"), None);
        assert_eq!(
            repository_path("https://demo.backlog.jp/x?next=/git/DORA/himitsu"),
            None
        );
    }

    #[test]
    fn field_checks_refuse_what_could_reach_a_command_line() {
        assert!(repository_name("-upload-pack=evil", "f").is_err());
        assert!(repository_name("../etc", "f").is_err());
        assert!(repository_name("cfn templates", "f").is_err());
        assert!(repository_name("cfn-templates_v2.0", "f").is_ok());
        assert!(project_key("IN FRA", "f").is_err());
        assert!(project_key("infra", "f").is_err());
        assert!(project_key("1NFRA", "f").is_err());
        assert!(project_key("INFRA_2", "f").is_ok());
        for bad in [
            "refs/heads/a b",
            "refs/heads/../x",
            "main",
            "refs/heads/-x",
            "refs/heads/.hidden",
            "refs/heads/x.lock",
            "refs/heads/a@{1}",
            "refs/heads//x",
            "refs/heads/x/",
        ] {
            assert!(git_ref(bad, "f").is_err(), "{bad}");
        }
        assert!(git_ref("refs/heads/feature/INFRA-42_alarms.v2", "f").is_ok());
        assert_eq!(
            commit_id("D3ADB33FC0FFEE00112233445566778899AABBCC", "f").unwrap(),
            "d3adb33fc0ffee00112233445566778899aabbcc"
        );
        assert!(commit_id("d3adb33", "f").is_err());
    }

    #[test]
    fn content_types_are_recognised_with_parameters_and_sniffed_when_absent() {
        let json = br#"{"type": 13}"#;
        for content_type in [
            Some("application/json"),
            Some("application/json; charset=UTF-8"),
            Some("Application/JSON"),
            Some("text/plain;charset=utf-8"),
            None,
        ] {
            assert_eq!(
                parse(content_type, json).unwrap(),
                Delivery::Ignored(Ignored::ActivityType(13)),
                "{content_type:?}"
            );
        }
        let err = parse(Some("text/xml"), json).unwrap_err();
        assert_eq!(err, WebhookError::UnsupportedMediaType("text/xml".into()));
    }
}
