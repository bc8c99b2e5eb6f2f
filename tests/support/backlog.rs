//! A Backlog stand-in, in process: the REST endpoints the bot uses, as `backlog.md` documents
//! them (paths, form bodies, the `{"errors":[…]}` body, `X-RateLimit-*` headers), with API-key
//! and bearer checks, comment authorship, a switchable 429 / 5xx mode, and a record of every
//! request it received.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The project and repository the tests' pull requests live in.
pub const PROJECT: &str = "INFRA";
pub const REPOSITORY: &str = "cfn-templates";

pub const API_KEY: &str = "bl-api-key-0123456789-ABCDEFGHIJ";
pub const BOT_USER: u64 = 777;
const OTHER_USER: u64 = 1;

/// One request as the stand-in saw it. The API key is not kept: only whether it was right.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Query pairs other than `apiKey`.
    pub query: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
    pub authorized: bool,
    pub status: u16,
    pub at: Instant,
    pub at_epoch: f64,
}

#[derive(Debug, Clone)]
pub struct PullRequest {
    pub number: u64,
    pub base: String,
    pub branch: String,
    pub status: u64,
    pub merge_commit: Option<String>,
    pub summary: String,
    /// The head of `branch` (`branchCommit`).
    pub branch_commit: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    pub content: String,
    pub created_user: u64,
}

/// What the next requests are answered with instead of the real thing.
#[derive(Debug, Clone)]
pub struct Outage {
    /// Only requests with this method (`None`: any).
    pub method: Option<Method>,
    pub times: usize,
    pub status: u16,
    /// For 429: the reset time this many seconds ahead.
    pub reset_in: u64,
}

#[derive(Default)]
struct Space {
    /// project key → text formatting rule
    projects: BTreeMap<String, String>,
    pull_requests: BTreeMap<(String, String, u64), PullRequest>,
    comments: BTreeMap<(String, String, u64), Vec<Comment>>,
    next_comment: u64,
    outages: Vec<Outage>,
    down: bool,
    received: Vec<Received>,
    bearer: Option<String>,
    /// List pull requests oldest first (Backlog's order is undocumented).
    oldest_first: bool,
}

#[derive(Clone)]
pub struct Backlog {
    pub url: String,
    space: Arc<Mutex<Space>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for Backlog {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

impl Backlog {
    pub async fn start() -> Self {
        let space = Arc::new(Mutex::new(Space {
            next_comment: 30_000,
            ..Space::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&space));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            space,
            task: Arc::new(task),
        }
    }

    pub fn project(&self, key: &str, format: &str) {
        self.space
            .lock()
            .unwrap()
            .projects
            .insert(key.into(), format.into());
    }

    pub fn pull_request(&self, project: &str, repository: &str, pr: PullRequest) {
        self.space
            .lock()
            .unwrap()
            .pull_requests
            .insert((project.into(), repository.into(), pr.number), pr);
    }

    /// A comment by someone else (or the bot), as if written earlier.
    pub fn add_comment(&self, project: &str, repository: &str, pr: u64, user: u64, content: &str) {
        let mut space = self.space.lock().unwrap();
        space.next_comment += 1;
        let id = space.next_comment;
        space
            .comments
            .entry((project.into(), repository.into(), pr))
            .or_default()
            .push(Comment {
                id,
                content: content.into(),
                created_user: user,
            });
    }

    pub fn comments(&self, project: &str, repository: &str, pr: u64) -> Vec<Comment> {
        self.space
            .lock()
            .unwrap()
            .comments
            .get(&(project.into(), repository.into(), pr))
            .cloned()
            .unwrap_or_default()
    }

    pub fn bot_comments(&self, project: &str, repository: &str, pr: u64) -> Vec<Comment> {
        self.comments(project, repository, pr)
            .into_iter()
            .filter(|comment| comment.created_user == BOT_USER)
            .collect()
    }

    pub fn fail_next(&self, outage: Outage) {
        self.space.lock().unwrap().outages.push(outage);
    }

    /// Every request answered 503 until switched back.
    pub fn set_down(&self, down: bool) {
        self.space.lock().unwrap().down = down;
    }

    pub fn list_oldest_first(&self, oldest_first: bool) {
        self.space.lock().unwrap().oldest_first = oldest_first;
    }

    /// Accept this OAuth token as well as the API key.
    pub fn accept_bearer(&self, token: &str) {
        self.space.lock().unwrap().bearer = Some(token.into());
    }

    pub fn received(&self) -> Vec<Received> {
        self.space.lock().unwrap().received.clone()
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("CFN_CHATOPS_BACKLOG_URL".into(), self.url.clone()),
            ("CFN_CHATOPS_BACKLOG_API_KEY".into(), API_KEY.into()),
        ]
    }
}

fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn error(status: StatusCode, code: u32, message: &str) -> (StatusCode, Value) {
    (
        status,
        json!({"errors": [{"message": message, "code": code, "moreInfo": ""}]}),
    )
}

fn pull_request_json(project_id: u64, pr: &PullRequest) -> Value {
    let status_name = match pr.status {
        1 => "Open",
        2 => "Closed",
        _ => "Merged",
    };
    json!({
        "id": 8800 + pr.number, "projectId": project_id, "repositoryId": 417, "number": pr.number,
        "summary": pr.summary, "description": "", "base": pr.base, "branch": pr.branch,
        "status": {"id": pr.status, "name": status_name},
        "assignee": null, "issue": null, "baseCommit": null, "branchCommit": pr.branch_commit,
        "mergeCommit": pr.merge_commit, "closeAt": null,
        "mergeAt": pr.merge_commit.as_ref().map(|_| "2026-03-04T05:20:58Z"),
        "createdUser": {"id": OTHER_USER, "name": "Ken Sato"}, "created": "2026-03-01T00:00:00Z",
        "updatedUser": null, "updated": "2026-03-04T05:20:58Z", "attachments": [], "stars": []
    })
}

fn comment_json(comment: &Comment) -> Value {
    json!({
        "id": comment.id, "content": comment.content, "changeLog": [],
        "createdUser": {"id": comment.created_user, "userId": "bot", "name": "cfn-chatops"},
        "created": "2026-03-04T06:00:00Z", "updated": "2026-03-04T06:00:00Z",
        "stars": [], "notifications": []
    })
}

async fn answer(
    State(space): State<Arc<Mutex<Space>>>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let mut space = space.lock().unwrap();
    let bearer = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned);
    let authorized = pairs.iter().any(|(k, v)| k == "apiKey" && v == API_KEY)
        || (bearer.is_some() && bearer == space.bearer);
    let now = epoch();
    let (status, value, reset) = route(&mut space, &method, uri.path(), &pairs, &form, authorized);
    space.received.push(Received {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: pairs.into_iter().filter(|(k, _)| k != "apiKey").collect(),
        form,
        authorized,
        status: status.as_u16(),
        at: Instant::now(),
        at_epoch: now,
    });
    let remaining = if status == StatusCode::TOO_MANY_REQUESTS {
        0
    } else {
        140
    };
    let mut response = (status, axum::Json(value)).into_response();
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", "150".parse().unwrap());
    headers.insert(
        "x-ratelimit-remaining",
        remaining.to_string().parse().unwrap(),
    );
    headers.insert("x-ratelimit-reset", reset.to_string().parse().unwrap());
    response
}

/// The answer and the `X-RateLimit-Reset` to send with it.
fn route(
    space: &mut Space,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    form: &[(String, String)],
    authorized: bool,
) -> (StatusCode, Value, u64) {
    let now = epoch() as u64;
    if space.down {
        let (status, value) = error(StatusCode::SERVICE_UNAVAILABLE, 1, "Service Unavailable");
        return (status, value, now + 60);
    }
    if let Some(index) = space
        .outages
        .iter()
        .position(|outage| outage.method.as_ref().is_none_or(|m| m == method))
    {
        let outage = space.outages[index].clone();
        if outage.times <= 1 {
            space.outages.remove(index);
        } else {
            space.outages[index].times -= 1;
        }
        let status = StatusCode::from_u16(outage.status).unwrap();
        let (code, message) = if outage.status == 429 {
            (13, "Too Many Requests.")
        } else {
            (1, "Internal Server Error.")
        };
        let (status, value) = error(status, code, message);
        return (status, value, now + outage.reset_in);
    }
    let reset = now + 60;
    if !authorized {
        let (status, value) = error(StatusCode::UNAUTHORIZED, 11, "Authentication failure.");
        return (status, value, reset);
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (status, value) = match (method.as_str(), segments.as_slice()) {
        ("GET", ["api", "v2", "users", "myself"]) => (
            StatusCode::OK,
            json!({"id": BOT_USER, "userId": "cfn-chatops", "name": "cfn-chatops", "roleType": 2}),
        ),
        ("GET", ["api", "v2", "projects", key]) => match space.projects.get(*key) {
            Some(format) => (
                StatusCode::OK,
                json!({"id": 2048, "projectKey": key, "name": key, "chartEnabled": false,
                       "subtaskingEnabled": true, "textFormattingRule": format,
                       "archived": false, "displayOrder": 0}),
            ),
            None => error(StatusCode::NOT_FOUND, 6, "No project."),
        },
        (
            _,
            [
                "api",
                "v2",
                "projects",
                key,
                "git",
                "repositories",
                repo,
                "pullRequests",
                rest @ ..,
            ],
        ) => {
            if !space.projects.contains_key(*key) {
                error(StatusCode::NOT_FOUND, 6, "No project.")
            } else {
                pull_requests(space, method.as_str(), key, repo, rest, query, form)
            }
        }
        _ => error(StatusCode::NOT_FOUND, 6, "No such API."),
    };
    (status, value, reset)
}

fn pull_requests(
    space: &mut Space,
    method: &str,
    key: &str,
    repo: &str,
    rest: &[&str],
    query: &[(String, String)],
    form: &[(String, String)],
) -> (StatusCode, Value) {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let id = (key.to_string(), repo.to_string());
    match (method, rest) {
        ("GET", ["count"]) => {
            let statuses = status_filter(get("statusId[]"));
            let count = space
                .pull_requests
                .iter()
                .filter(|((k, r, _), pr)| *k == id.0 && *r == id.1 && statuses(pr))
                .count();
            (StatusCode::OK, json!({"count": count}))
        }
        ("GET", []) => {
            let statuses = status_filter(get("statusId[]"));
            let offset: usize = get("offset").and_then(|s| s.parse().ok()).unwrap_or(0);
            let count: usize = get("count").and_then(|s| s.parse().ok()).unwrap_or(20);
            if !(1..=100).contains(&count) {
                return error(StatusCode::BAD_REQUEST, 7, "count must be 1-100.");
            }
            // Newest first, unless switched.
            let mut ordered: Vec<&PullRequest> = space
                .pull_requests
                .iter()
                .filter(|((k, r, _), pr)| *k == id.0 && *r == id.1 && statuses(pr))
                .map(|(_, pr)| pr)
                .collect();
            if !space.oldest_first {
                ordered.reverse();
            }
            let list: Vec<Value> = ordered
                .into_iter()
                .skip(offset)
                .take(count)
                .map(|pr| pull_request_json(2048, pr))
                .collect();
            (StatusCode::OK, Value::Array(list))
        }
        (_, [number, tail @ ..]) => {
            let Ok(number) = number.parse::<u64>() else {
                return error(StatusCode::NOT_FOUND, 6, "No pull request.");
            };
            let key3 = (id.0.clone(), id.1.clone(), number);
            let Some(pr) = space.pull_requests.get(&key3).cloned() else {
                return error(StatusCode::NOT_FOUND, 6, "No pull request.");
            };
            match (method, tail) {
                ("GET", []) => (StatusCode::OK, pull_request_json(2048, &pr)),
                ("GET", ["comments"]) => {
                    let count: usize = get("count").and_then(|s| s.parse().ok()).unwrap_or(20);
                    let max_id: u64 = get("maxId")
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(u64::MAX);
                    let mut comments: Vec<Comment> = space
                        .comments
                        .get(&key3)
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|c| c.id <= max_id)
                        .collect();
                    if get("order") != Some("asc") {
                        comments.reverse();
                    }
                    (
                        StatusCode::OK,
                        Value::Array(comments.iter().take(count).map(comment_json).collect()),
                    )
                }
                ("POST", ["comments"]) => {
                    let Some((_, content)) =
                        form.iter().find(|(k, v)| k == "content" && !v.is_empty())
                    else {
                        return error(StatusCode::BAD_REQUEST, 7, "content is required.");
                    };
                    space.next_comment += 1;
                    let comment = Comment {
                        id: space.next_comment,
                        content: content.clone(),
                        created_user: BOT_USER,
                    };
                    space
                        .comments
                        .entry(key3)
                        .or_default()
                        .push(comment.clone());
                    (StatusCode::CREATED, comment_json(&comment))
                }
                ("PATCH", ["comments", comment_id]) => {
                    let Some((_, content)) =
                        form.iter().find(|(k, v)| k == "content" && !v.is_empty())
                    else {
                        return error(StatusCode::BAD_REQUEST, 7, "content is required.");
                    };
                    let comment_id: u64 = comment_id.parse().unwrap_or(0);
                    let comments = space.comments.entry(key3).or_default();
                    match comments.iter_mut().find(|c| c.id == comment_id) {
                        None => error(StatusCode::NOT_FOUND, 6, "No comment."),
                        Some(c) if c.created_user != BOT_USER => error(
                            StatusCode::FORBIDDEN,
                            5,
                            "Only the author can edit a comment.",
                        ),
                        Some(c) => {
                            c.content = content.clone();
                            (StatusCode::OK, comment_json(c))
                        }
                    }
                }
                _ => error(StatusCode::METHOD_NOT_ALLOWED, 7, "Not supported."),
            }
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, 7, "Not supported."),
    }
}

/// `statusId[]` as a filter (one value is all the bot sends).
fn status_filter(value: Option<&str>) -> impl Fn(&PullRequest) -> bool {
    let status: Option<u64> = value.and_then(|s| s.parse().ok());
    move |pr| status.is_none_or(|status| pr.status == status)
}

/// A Git webhook delivery (form-encoded) of a push of one commit to `branch`.
pub fn git_push(branch: &str, before: &str, after: &str, message: &str) -> String {
    let payload = json!({
        "before": before, "after": after, "ref": format!("refs/heads/{branch}"),
        "repository": {"url": format!("https://example.backlog.com/git/{PROJECT}/{REPOSITORY}"),
                       "name": REPOSITORY, "description": null},
        "revisions": [{"id": after, "url": "https://example.backlog.com/x",
                       "author": {"name": "Ken Sato", "email": "ken@example.com"},
                       "message": message, "timestamp": "2026-03-04T14:20:47+09:00"}]
    });
    serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap()
}

/// Polls until `check` holds or the deadline passes.
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
