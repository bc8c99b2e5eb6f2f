//! The Backlog REST API v2, as much of it as the bot uses: projects, pull requests and their
//! comments. One request at a time per space (Nulab asks for that), 429 and 5xx retried after
//! `X-RateLimit-Reset`, and the API key never in a log line or an error message.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{AUTHORIZATION, HeaderMap};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

use crate::core::text::collapse_whitespace;
use crate::model::backlog::{IdRef, PullRequest, TextFormat};

/// A credential, shown as `<redacted>` by `Debug` so it cannot slip into a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Sent as the `apiKey` query parameter, as Nulab's own libraries do.
    ApiKey(String),
    /// An OAuth 2.0 access token, sent as `Authorization: Bearer`.
    AccessToken(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Credentials::AccessToken(_) => f.write_str("AccessToken(<redacted>)"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// Absent or unknown values render as Backlog notation, the space default.
    #[serde(default, deserialize_with = "lenient_format")]
    pub text_formatting_rule: Option<TextFormat>,
}

impl Project {
    pub fn text_format(&self) -> TextFormat {
        self.text_formatting_rule.unwrap_or(TextFormat::Backlog)
    }
}

fn lenient_format<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<TextFormat>, D::Error> {
    let value = Option::<String>::deserialize(deserializer)?;
    Ok(match value.as_deref() {
        Some("markdown") => Some(TextFormat::Markdown),
        Some("backlog") => Some(TextFormat::Backlog),
        _ => None,
    })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    pub id: u64,
    /// `null` for comments that only record a change.
    pub content: Option<String>,
    pub created_user: IdRef,
}

/// One entry of Backlog's error body `{"errors":[{message,code,moreInfo}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorItem {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub more_info: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    errors: Vec<ApiErrorItem>,
}

/// What went wrong, typed, with what to do about it. Never carries a URL: the API key rides
/// in the query string.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BacklogError {
    #[error("Backlog {operation}: HTTP {status}{}{}", details(errors), hint(*status, errors))]
    Api {
        operation: String,
        status: u16,
        errors: Vec<ApiErrorItem>,
    },
    #[error("Backlog {operation}: {message}")]
    Transport { operation: String, message: String },
    #[error("Backlog {operation}: unexpected answer: {message}")]
    Decode { operation: String, message: String },
}

fn details(errors: &[ApiErrorItem]) -> String {
    errors
        .iter()
        .map(|error| {
            let more = Some(collapse_whitespace(&error.more_info))
                .filter(|more| !more.is_empty())
                .map(|more| format!(", {more}"))
                .unwrap_or_default();
            format!(
                ": {} (code {}{more})",
                collapse_whitespace(&error.message),
                error.code
            )
        })
        .collect()
}

/// Backlog's error codes first (<https://developer.nulab.com/docs/backlog/error-response>), the
/// HTTP status second.
fn hint(status: u16, errors: &[ApiErrorItem]) -> &'static str {
    let code = errors.first().map(|error| error.code);
    match (code, status) {
        (Some(11), _) | (_, 401) => {
            " — check CFN_CHATOPS_BACKLOG_API_KEY / _ACCESS_TOKEN (or the secret): the credential was refused"
        }
        (Some(12), _) => " — the space requires two-factor authentication for this user",
        (Some(4), _) => " — the space does not allow API calls from this address",
        (Some(5), _) | (_, 403) => {
            " — the bot's Backlog user may not do this: make it a member of the project"
        }
        (Some(6), _) | (_, 404) => {
            " — check CFN_CHATOPS_BACKLOG_URL, the project key, repository and pull request number"
        }
        (Some(13), _) | (_, 429) => " — rate limited; retried until the reset time",
        _ => "",
    }
}

impl BacklogError {
    /// Worth another try: rate limits, server errors and the network.
    pub fn is_retryable(&self) -> bool {
        match self {
            BacklogError::Api { status, .. } => *status == 429 || *status >= 500,
            BacklogError::Transport { .. } => true,
            BacklogError::Decode { .. } => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            BacklogError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Retry schedule: attempts and the longest single wait.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_backoff: Duration,
    /// A reset time further away than this is not waited for (Nulab's window is a minute).
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            first_backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(65),
        }
    }
}

/// How long to wait before attempt `attempt + 1` (attempt counts from 1). A 429, or any answer
/// with no budget left, waits until `X-RateLimit-Reset`; otherwise exponential backoff.
pub fn retry_delay(
    policy: &RetryPolicy,
    attempt: u32,
    status: Option<u16>,
    limit: RateLimit,
    now: SystemTime,
) -> Duration {
    let backoff = policy
        .first_backoff
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(policy.max_wait);
    let limited = status == Some(429) || limit.remaining == Some(0);
    match limit.reset {
        Some(reset) if limited => {
            let reset = UNIX_EPOCH + Duration::from_secs(reset);
            // The reset is whole seconds: wait just past it.
            let until = reset
                .duration_since(now)
                .unwrap_or_default()
                .saturating_add(Duration::from_millis(100));
            until.max(policy.first_backoff).min(policy.max_wait)
        }
        // A 429 without the header: a minute, as Nulab suggests, within the policy.
        None if status == Some(429) => policy.max_wait.min(Duration::from_secs(60)),
        _ => backoff,
    }
}

/// The `X-RateLimit-*` headers of an answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    pub remaining: Option<u64>,
    /// UTC epoch seconds.
    pub reset: Option<u64>,
}

impl RateLimit {
    fn from_headers(headers: &HeaderMap) -> Self {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse().ok())
        };
        Self {
            remaining: number("x-ratelimit-remaining"),
            reset: number("x-ratelimit-reset"),
        }
    }
}

/// Why a client cannot be made for a space.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Url(String),
    #[error("HTTP client: {0}")]
    Http(String),
}

/// A client for one Backlog space.
pub struct BacklogClient {
    base: Url,
    credentials: Credentials,
    http: reqwest::Client,
    /// Held for the whole of each request, retries included: one request at a time.
    in_flight: Mutex<()>,
    retry: RetryPolicy,
}

/// A request's form body or query: name/value pairs, repeated names allowed (`statusId[]`).
type Pairs<'a> = Vec<(&'a str, String)>;

impl BacklogClient {
    /// `space_url` is the space's address, e.g. `https://example.backlog.com`.
    pub fn new(space_url: &str, credentials: Credentials) -> Result<Self, ClientError> {
        let base = Url::parse(space_url.trim_end_matches('/'))
            .map_err(|err| ClientError::Url(format!("Backlog URL {space_url:?}: {err}")))?;
        let loopback = match base.host_str() {
            Some("localhost") => true,
            Some(host) => host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()),
            None => false,
        };
        // The API key travels in the URL: plain http only to this machine (a stand-in).
        let secure = base.scheme() == "https" || (base.scheme() == "http" && loopback);
        if !secure || base.cannot_be_a_base() {
            return Err(ClientError::Url(format!(
                "Backlog URL {space_url:?} must be https (http only for a loopback address)"
            )));
        }
        if base.query().is_some() || !base.username().is_empty() || base.password().is_some() {
            return Err(ClientError::Url(
                "Backlog URL must not carry a query or credentials".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .user_agent(concat!("cfn-chatops/", env!("CARGO_PKG_VERSION")))
            // A redirect would resend the key elsewhere and turn a POST into a GET.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| ClientError::Http(err.without_url().to_string()))?;
        Ok(Self {
            base,
            credentials,
            http,
            in_flight: Mutex::new(()),
            retry: RetryPolicy::default(),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The space URL, for links.
    pub fn space_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v2"]).extend(segments);
        }
        url
    }

    fn pull_requests_path<'a>(
        project: &'a str,
        repository: &'a str,
        rest: &[&'a str],
    ) -> Vec<&'a str> {
        let mut path = vec![
            "projects",
            project,
            "git",
            "repositories",
            repository,
            "pullRequests",
        ];
        path.extend_from_slice(rest);
        path
    }

    pub async fn project(&self, project: &str) -> Result<Project, BacklogError> {
        self.send(
            "get project",
            Method::GET,
            &["projects", project],
            vec![],
            None,
        )
        .await
    }

    /// The authenticated user: whose comments the bot may edit.
    pub async fn myself(&self) -> Result<IdRef, BacklogError> {
        self.send(
            "get myself",
            Method::GET,
            &["users", "myself"],
            vec![],
            None,
        )
        .await
    }

    pub async fn pull_request(
        &self,
        project: &str,
        repository: &str,
        number: u64,
    ) -> Result<PullRequest, BacklogError> {
        let number = number.to_string();
        self.send(
            "get pull request",
            Method::GET,
            &Self::pull_requests_path(project, repository, &[&number]),
            vec![],
            None,
        )
        .await
    }

    /// One page of pull requests with the given status, newest first as far as Backlog says.
    pub async fn pull_requests(
        &self,
        project: &str,
        repository: &str,
        status: u64,
        offset: u64,
        count: u8,
    ) -> Result<Vec<PullRequest>, BacklogError> {
        self.send(
            "list pull requests",
            Method::GET,
            &Self::pull_requests_path(project, repository, &[]),
            vec![
                ("statusId[]", status.to_string()),
                ("offset", offset.to_string()),
                ("count", count.clamp(1, 100).to_string()),
            ],
            None,
        )
        .await
    }

    /// How many pull requests have the given status.
    pub async fn pull_request_count(
        &self,
        project: &str,
        repository: &str,
        status: u64,
    ) -> Result<u64, BacklogError> {
        #[derive(Deserialize)]
        struct Count {
            count: u64,
        }
        let count: Count = self
            .send(
                "count pull requests",
                Method::GET,
                &Self::pull_requests_path(project, repository, &["count"]),
                vec![("statusId[]", status.to_string())],
                None,
            )
            .await?;
        Ok(count.count)
    }

    /// One page of comments, newest first; `max_id` pages further back.
    pub async fn comments(
        &self,
        project: &str,
        repository: &str,
        number: u64,
        max_id: Option<u64>,
        count: u8,
    ) -> Result<Vec<Comment>, BacklogError> {
        let number = number.to_string();
        let mut query = vec![
            ("order", "desc".to_string()),
            ("count", count.clamp(1, 100).to_string()),
        ];
        if let Some(max_id) = max_id {
            query.push(("maxId", max_id.to_string()));
        }
        self.send(
            "list pull request comments",
            Method::GET,
            &Self::pull_requests_path(project, repository, &[&number, "comments"]),
            query,
            None,
        )
        .await
    }

    pub async fn add_comment(
        &self,
        project: &str,
        repository: &str,
        number: u64,
        content: &str,
    ) -> Result<Comment, BacklogError> {
        let number = number.to_string();
        self.send(
            "add pull request comment",
            Method::POST,
            &Self::pull_requests_path(project, repository, &[&number, "comments"]),
            vec![],
            Some(vec![("content", content.to_string())]),
        )
        .await
    }

    pub async fn update_comment(
        &self,
        project: &str,
        repository: &str,
        number: u64,
        comment_id: u64,
        content: &str,
    ) -> Result<Comment, BacklogError> {
        let (number, comment_id) = (number.to_string(), comment_id.to_string());
        self.send(
            "update pull request comment",
            Method::PATCH,
            &Self::pull_requests_path(project, repository, &[&number, "comments", &comment_id]),
            vec![],
            Some(vec![("content", content.to_string())]),
        )
        .await
    }

    /// Sends one request, one at a time, retrying what is worth retrying. A POST is retried
    /// only on 429 (Backlog did not act on it): after a 5xx it may have, and the caller
    /// decides (comments look for their marker before posting again).
    async fn send<T: DeserializeOwned>(
        &self,
        operation: &str,
        method: Method,
        path: &[&str],
        query: Pairs<'_>,
        form: Option<Pairs<'_>>,
    ) -> Result<T, BacklogError> {
        let _turn = self.in_flight.lock().await;
        let url = self.url(path);
        let mut attempt = 1;
        loop {
            let started = std::time::Instant::now();
            let result = self
                .attempt(
                    operation,
                    method.clone(),
                    url.clone(),
                    &query,
                    form.as_ref(),
                )
                .await;
            let (status, limit) = match &result {
                Ok(_) => (Some(200), RateLimit::default()),
                Err((err, limit)) => (err.status(), *limit),
            };
            // The path only: the query may hold the API key.
            tracing::debug!(
                operation,
                method = %method,
                path = url.path(),
                status,
                attempt,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "backlog request"
            );
            let err = match result {
                Ok(value) => return Ok(value),
                Err((err, _)) => err,
            };
            let retry = err.is_retryable()
                && (method != Method::POST || status == Some(429))
                && attempt < self.retry.attempts;
            if !retry {
                return Err(err);
            }
            let wait = retry_delay(&self.retry, attempt, status, limit, SystemTime::now());
            tracing::warn!(
                operation,
                attempt,
                wait_ms = wait.as_millis() as u64,
                error = %err,
                "backlog request retried"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        operation: &str,
        method: Method,
        url: Url,
        query: &Pairs<'_>,
        form: Option<&Pairs<'_>>,
    ) -> Result<T, (BacklogError, RateLimit)> {
        let transport = |err: reqwest::Error| {
            (
                BacklogError::Transport {
                    operation: operation.to_string(),
                    message: collapse_whitespace(&error_chain(&err.without_url())),
                },
                RateLimit::default(),
            )
        };
        let mut request = self.http.request(method, url).query(query);
        request = match &self.credentials {
            Credentials::ApiKey(key) => request.query(&[("apiKey", key)]),
            Credentials::AccessToken(token) => {
                request.header(AUTHORIZATION, format!("Bearer {token}"))
            }
        };
        if let Some(form) = form {
            request = request.form(form);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let limit = RateLimit::from_headers(response.headers());
        let body = response.bytes().await.map_err(transport)?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|err| {
                (
                    BacklogError::Decode {
                        operation: operation.to_string(),
                        message: err.to_string(),
                    },
                    limit,
                )
            });
        }
        let errors = serde_json::from_slice::<ErrorBody>(&body)
            .map(|body| body.errors)
            .unwrap_or_default();
        Err((
            BacklogError::Api {
                operation: operation.to_string(),
                status: status.as_u16(),
                errors,
            },
            limit,
        ))
    }
}

/// An error with its causes (timeout, DNS, TLS…): reqwest's own text names only the kind.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_429_waits_until_the_reset_time() {
        let policy = RetryPolicy::default();
        let limit = RateLimit {
            remaining: Some(0),
            reset: Some(1_000_003),
        };
        let wait = retry_delay(&policy, 1, Some(429), limit, at(1_000_000));
        assert_eq!(wait, Duration::from_millis(3_100));
        // Capped: a reset far away is not waited for beyond the policy.
        let far = RateLimit {
            remaining: Some(0),
            reset: Some(1_000_000 + 3_600),
        };
        assert_eq!(
            retry_delay(&policy, 1, Some(429), far, at(1_000_000)),
            policy.max_wait
        );
        // A reset already past still leaves a short pause.
        let past = RateLimit {
            remaining: Some(0),
            reset: Some(999_000),
        };
        assert_eq!(
            retry_delay(&policy, 1, Some(429), past, at(1_000_000)),
            policy.first_backoff
        );
    }

    #[test]
    fn server_errors_back_off_exponentially_unless_the_budget_is_spent() {
        let policy = RetryPolicy::default();
        let none = RateLimit::default();
        let waits: Vec<_> = (1..=4)
            .map(|attempt| retry_delay(&policy, attempt, Some(503), none, at(0)))
            .collect();
        assert_eq!(
            waits,
            [500, 1_000, 2_000, 4_000]
                .map(Duration::from_millis)
                .to_vec()
        );
        let spent = RateLimit {
            remaining: Some(0),
            reset: Some(10),
        };
        assert_eq!(
            retry_delay(&policy, 1, Some(503), spent, at(8)),
            Duration::from_millis(2_100)
        );
        assert_eq!(
            retry_delay(&policy, 1, Some(429), none, at(0)),
            Duration::from_secs(60)
        );
        let budget_left = RateLimit {
            remaining: Some(5),
            reset: Some(10),
        };
        assert_eq!(
            retry_delay(&policy, 1, Some(503), budget_left, at(8)),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn errors_name_the_operation_the_backlog_message_and_what_to_fix() {
        let err = BacklogError::Api {
            operation: "get project".into(),
            status: 404,
            errors: vec![ApiErrorItem {
                message: "No project.".into(),
                code: 6,
                more_info: String::new(),
            }],
        };
        let text = err.to_string();
        assert!(text.starts_with("Backlog get project: HTTP 404: No project. (code 6)"));
        assert!(text.contains("check CFN_CHATOPS_BACKLOG_URL, the project key"));
        assert!(!err.is_retryable());
        let unauthorized = BacklogError::Api {
            operation: "add pull request comment".into(),
            status: 401,
            errors: vec![],
        };
        assert!(unauthorized.to_string().contains("credential was refused"));
        assert!(!unauthorized.is_retryable());
        for status in [429, 500, 503] {
            let err = BacklogError::Api {
                operation: "x".into(),
                status,
                errors: vec![],
            };
            assert!(err.is_retryable(), "{status}");
        }
    }

    #[test]
    fn credentials_never_show_in_debug_output() {
        let text = format!(
            "{:?} {:?}",
            Credentials::ApiKey("k3y-value".into()),
            Credentials::AccessToken("t0ken-value".into())
        );
        assert!(!text.contains("k3y-value") && !text.contains("t0ken-value"));
    }

    #[test]
    fn space_urls_are_checked_and_paths_encoded() {
        let key = || Credentials::ApiKey("k".into());
        for bad in [
            "ftp://example.backlog.com",
            "http://example.backlog.com",
            "not a url",
            "https://example.backlog.com/?apiKey=x",
            "https://user:pw@example.backlog.com",
        ] {
            assert!(BacklogClient::new(bad, key()).is_err(), "{bad}");
        }
        assert!(BacklogClient::new("http://127.0.0.1:8080", key()).is_ok());
        let client = BacklogClient::new("https://example.backlog.com/", key()).unwrap();
        let url = client.url(&BacklogClient::pull_requests_path(
            "INFRA",
            "a/b",
            &["7", "comments"],
        ));
        assert_eq!(
            url.as_str(),
            "https://example.backlog.com/api/v2/projects/INFRA/git/repositories/a%2Fb/pullRequests/7/comments"
        );
    }
}
