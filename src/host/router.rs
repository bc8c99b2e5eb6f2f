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

use crate::model::trigger::DeliveryKey;
use crate::pipeline::intake::{Answer, Intake, Verdict, reply_line};

/// Bodies above this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// A body must arrive within this, from the end of its headers.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

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

/// How one delivery ended over HTTP: the status code, the body (none for a 404) and the
/// pipeline's answer for the log line.
struct HttpAnswer {
    code: StatusCode,
    reply: Option<Reply>,
    answer: Option<Answer>,
}

impl HttpAnswer {
    /// No body and no detail, exactly like an unknown route.
    fn not_found() -> Self {
        Self {
            code: StatusCode::NOT_FOUND,
            reply: None,
            answer: None,
        }
    }

    /// Refused here, before the pipeline saw the delivery.
    fn refused(code: StatusCode, reason: &str) -> Self {
        Self {
            code,
            reply: Some(Reply {
                status: ReplyStatus::Error,
                reason: reply_line(reason),
                build_id: None,
            }),
            answer: None,
        }
    }

    fn of(answer: Answer) -> Self {
        let (code, status) = match answer.verdict {
            Verdict::Dispatched => (StatusCode::OK, ReplyStatus::Dispatched),
            Verdict::Duplicate => (StatusCode::OK, ReplyStatus::Duplicate),
            Verdict::Ignored => (StatusCode::OK, ReplyStatus::Ignored),
            Verdict::Malformed => (StatusCode::BAD_REQUEST, ReplyStatus::Error),
            Verdict::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, ReplyStatus::Error)
            }
            Verdict::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, ReplyStatus::Error),
            Verdict::BadGateway => (StatusCode::BAD_GATEWAY, ReplyStatus::Error),
        };
        Self {
            code,
            reply: Some(Reply {
                status,
                reason: answer.reason.clone(),
                build_id: answer.build_id.clone(),
            }),
            answer: Some(answer),
        }
    }
}

impl IntoResponse for HttpAnswer {
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
    let secret = secret.ok().map(|Path(secret)| secret);
    let response = respond(&intake, secret.as_deref(), request).await;
    let reply = response.reply.as_ref();
    let answer = response.answer.as_ref();
    // One line per delivery. The route is logged as a template: the path holds the secret.
    tracing::info!(
        route = "/webhook/{secret}",
        code = response.code.as_u16(),
        status = reply.map(|r| r.status.as_str()),
        reason = reply.map(|r| r.reason.as_str()),
        delivery = answer
            .and_then(|a| a.delivery.as_ref())
            .map(DeliveryKey::as_str),
        actor = answer.and_then(|a| a.actor.as_deref()),
        build_id = reply.and_then(|r| r.build_id.as_deref()),
        error = answer.and_then(|a| a.detail.as_deref()),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "webhook delivery"
    );
    response.into_response()
}

async fn respond(intake: &Intake, secret: Option<&str>, request: Request) -> HttpAnswer {
    // The secret first: without it, nothing about this endpoint is revealed.
    if !intake.knows_secret(secret) {
        return HttpAnswer::not_found();
    }
    if !intake.allows_source(source_address(&request)) {
        return HttpAnswer::refused(StatusCode::FORBIDDEN, "source address not allowed");
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let body = match read_body(request).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    HttpAnswer::of(intake.deliver(content_type.as_deref(), &body).await)
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

async fn read_body(request: Request) -> Result<Vec<u8>, HttpAnswer> {
    let too_large = || {
        HttpAnswer::refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("body is larger than {MAX_BODY_BYTES} bytes"),
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
    let read = async {
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|err| {
                HttpAnswer::refused(
                    StatusCode::BAD_REQUEST,
                    &format!("body could not be read: {err}"),
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
    };
    // A client sending a byte now and then must not hold the request open.
    match tokio::time::timeout(BODY_READ_TIMEOUT, read).await {
        Ok(read) => read,
        Err(_) => Err(HttpAnswer::refused(
            StatusCode::REQUEST_TIMEOUT,
            &format!("body not received within {} s", BODY_READ_TIMEOUT.as_secs()),
        )),
    }
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
