//! The HTTP surface: `POST /webhook/{secret}` and `GET /healthz`. The same router is served
//! locally by `cfn-chatops serve` and on Lambda behind API Gateway or a function URL.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use lambda_http::request::RequestContext;
use serde::Serialize;

use super::filter::{admit, admit_merge};
use super::guard::{SourceAllowlist, WebhookSecret};
use super::runner::Runner;
use super::trigger::{DeliveryKey, Ignored, Trigger};
use crate::backlog::api::BacklogClient;
use crate::backlog::webhook::{self, Delivery, Merge, WebhookError};
use crate::ledger::{Claim, Ledger};

/// Bodies above this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyStatus {
    Dispatched,
    Duplicate,
    Ignored,
    Error,
}

impl ReplyStatus {
    fn as_str(self) -> &'static str {
        match self {
            ReplyStatus::Dispatched => "dispatched",
            ReplyStatus::Duplicate => "duplicate",
            ReplyStatus::Ignored => "ignored",
            ReplyStatus::Error => "error",
        }
    }
}

/// The small JSON body of every answer but 404.
#[derive(Debug, Clone, Serialize)]
pub struct Reply {
    pub status: ReplyStatus,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
}

/// How one delivery ended: the HTTP answer and what the log line says about it.
struct Answer {
    code: StatusCode,
    reply: Option<Reply>,
    delivery: Option<DeliveryKey>,
    actor: Option<String>,
    /// Logged, never answered: AWS error texts name tables, projects and accounts.
    detail: Option<String>,
}

impl Answer {
    fn reply(code: StatusCode, status: ReplyStatus, reason: impl AsRef<str>) -> Self {
        Self {
            code,
            reply: Some(Reply {
                status,
                reason: one_line(reason.as_ref()),
                build_id: None,
            }),
            delivery: None,
            actor: None,
            detail: None,
        }
    }

    fn ignored(reason: impl ToString) -> Self {
        Self::reply(StatusCode::OK, ReplyStatus::Ignored, reason.to_string())
    }

    fn error(code: StatusCode, reason: impl AsRef<str>) -> Self {
        Self::reply(code, ReplyStatus::Error, reason)
    }

    /// No body and no detail, exactly like an unknown route.
    fn not_found() -> Self {
        Self {
            code: StatusCode::NOT_FOUND,
            reply: None,
            delivery: None,
            actor: None,
            detail: None,
        }
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

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        match self.reply {
            Some(reply) => (self.code, Json(reply)).into_response(),
            None => self.code.into_response(),
        }
    }
}

pub fn router(intake: Arc<Intake>) -> Router {
    Router::new()
        .route("/webhook/{secret}", post(webhook).fallback(not_found))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .with_state(intake)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

async fn webhook(
    State(intake): State<Arc<Intake>>,
    secret: Result<Path<String>, axum::extract::rejection::PathRejection>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let answer = intake.answer(secret.ok().map(|Path(s)| s), request).await;
    let reply = answer.reply.as_ref();
    // One line per delivery. The route is logged as a template: the path holds the secret.
    tracing::info!(
        route = "/webhook/{secret}",
        code = answer.code.as_u16(),
        status = reply.map(|r| r.status.as_str()),
        reason = reply.map(|r| r.reason.as_str()),
        delivery = answer.delivery.as_ref().map(DeliveryKey::as_str),
        actor = answer.actor.as_deref(),
        build_id = reply.and_then(|r| r.build_id.as_deref()),
        error = answer.detail.as_deref(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "webhook delivery"
    );
    answer.into_response()
}

impl Intake {
    async fn answer(&self, secret: Option<String>, request: Request) -> Answer {
        // The secret first: without it, nothing about this endpoint is revealed.
        if !secret.is_some_and(|secret| self.secret.matches(&secret)) {
            return Answer::not_found();
        }
        if !self.allowlist.allows(source_address(&request)) {
            return Answer::error(StatusCode::FORBIDDEN, "source address not allowed");
        }
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let body = match read_body(request).await {
            Ok(body) => body,
            Err(answer) => return answer,
        };
        self.deliver(content_type.as_deref(), &body).await
    }

    /// Parse, filter, de-duplicate, dispatch.
    async fn deliver(&self, content_type: Option<&str>, body: &[u8]) -> Answer {
        let trigger = match webhook::parse(content_type, body) {
            Ok(Delivery::Push(push)) => admit(push, &self.target_branch),
            Ok(Delivery::Merge(merge)) => match self.merge_trigger(merge).await {
                Ok(admitted) => admitted,
                Err(answer) => return answer,
            },
            Ok(Delivery::Ignored(reason)) => return Answer::ignored(reason),
            Err(err @ WebhookError::UnsupportedMediaType(_)) => {
                return Answer::error(StatusCode::UNSUPPORTED_MEDIA_TYPE, err.to_string());
            }
            Err(err @ WebhookError::Malformed(_)) => {
                return Answer::error(StatusCode::BAD_REQUEST, err.to_string());
            }
        };
        let trigger = match trigger {
            Ok(trigger) => trigger,
            Err(reason) => return Answer::ignored(reason),
        };
        let key = trigger.delivery_key();
        // Every 503 asks Backlog to retry; the retry finds nothing recorded.
        let token = match self
            .ledger
            .claim_delivery(&trigger, self.runner.name())
            .await
        {
            Ok(Claim::Claimed(token)) => token,
            Ok(Claim::Duplicate) => {
                return Answer::reply(
                    StatusCode::OK,
                    ReplyStatus::Duplicate,
                    format!("{key} was already received"),
                )
                .for_trigger(&trigger);
            }
            Ok(Claim::InFlight) => {
                // If that dispatch fails, this sender's retry must still be able to plan it.
                return Answer::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("{key} is being dispatched by another delivery; retry"),
                )
                .for_trigger(&trigger);
            }
            Err(err) => {
                return Answer::error(StatusCode::SERVICE_UNAVAILABLE, "ledger unavailable; retry")
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
                let mut answer = Answer::reply(
                    StatusCode::OK,
                    ReplyStatus::Dispatched,
                    format!("planning {key} on {}", trigger.branch),
                )
                .for_trigger(&trigger);
                if let Some(reply) = answer.reply.as_mut() {
                    reply.build_id = dispatched.build_id;
                }
                answer
            }
            Err(err) => {
                if let Err(release) = self.ledger.release_delivery(&key, &token).await {
                    tracing::error!(delivery = %key, error = %release, "claim not released; a retry can take it over after the lease");
                }
                Answer::error(
                    StatusCode::SERVICE_UNAVAILABLE,
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
}

impl Intake {
    /// Reads the merged pull request over REST (the webhook body is not trusted for the merge
    /// commit or the base branch). Backlog failing is a 5xx, so the sender may retry.
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
                let code = if err.is_retryable() {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::BAD_GATEWAY
                };
                Err(Answer::error(
                    code,
                    format!("could not read pull request #{} from Backlog", merge.number),
                )
                .with_detail(err))
            }
        }
    }
}

/// On Lambda, API Gateway's view of the caller (it cannot be forged by a header); locally, the
/// TCP peer. `X-Forwarded-For` is never read: any client can write it.
fn source_address(request: &Request) -> Option<IpAddr> {
    if let Some(context) = request.extensions().get::<RequestContext>() {
        return match context {
            RequestContext::ApiGatewayV2(context) => {
                context.http.source_ip.as_deref()?.parse().ok()
            }
            _ => None,
        };
    }
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip())
}

async fn read_body(request: Request) -> Result<Vec<u8>, Answer> {
    let too_large = || {
        Answer::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body is larger than {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let mut body = request.into_body();
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        discard_rest(body).await;
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| {
            Answer::error(
                StatusCode::BAD_REQUEST,
                format!("body could not be read: {err}"),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > MAX_BODY_BYTES {
                discard_rest(body).await;
                return Err(too_large());
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// Reads and drops what is left of a refused body, within a bound, before answering: a server
/// that answers and closes mid-upload makes the client see a reset instead of the 413.
async fn discard_rest(mut body: axum::body::Body) {
    const MAX_DISCARD_BYTES: usize = 8 * MAX_BODY_BYTES;
    const MAX_DISCARD_TIME: Duration = Duration::from_secs(2);
    let drain = async {
        let mut discarded = 0;
        while discarded < MAX_DISCARD_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => {
                    discarded += frame.data_ref().map_or(0, |data| data.len());
                }
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(MAX_DISCARD_TIME, drain).await;
}

/// Reasons quote untrusted input: keep them to one printable line of bounded length.
fn one_line(text: &str) -> String {
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
