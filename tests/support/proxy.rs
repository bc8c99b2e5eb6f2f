//! A recording proxy in front of moto. moto keeps no record of some request fields (CodeBuild's
//! environment overrides), so tests assert on the requests the bot actually sent. It can also
//! answer chosen operations itself, to reproduce what moto cannot (throttling, refusals, stack
//! states).

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::Response;
use serde_json::Value;

/// One request the bot sent: its operation (`X-Amz-Target` for JSON protocols, `Action` for
/// the query protocol) and its body as JSON (a query body becomes an object of its fields).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub target: String,
    pub body: Value,
    /// When the request arrived, to measure rates.
    pub at: std::time::Instant,
}

/// A canned answer for the next `times` calls of an operation.
#[derive(Debug, Clone)]
pub struct Fault {
    pub operation: String,
    pub times: usize,
    pub status: u16,
    pub body: String,
    /// Only requests whose body contains all of these texts.
    pub when_body_contains: Vec<String>,
}

/// A slow service: every matching call of an operation is answered this much later.
#[derive(Debug, Clone)]
struct Delay {
    operation: String,
    when_body_contains: String,
    by: std::time::Duration,
    /// The request is forwarded at once and only the answer waits (the service acted; its
    /// answer is late), for this many calls; `None`: every call waits before it is forwarded.
    answer_only: Option<usize>,
}

#[derive(Clone)]
pub struct Recorder {
    pub endpoint: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    faults: Arc<Mutex<Vec<Fault>>>,
    delays: Arc<Mutex<Vec<Delay>>>,
}

#[derive(Clone)]
struct Forward {
    upstream: String,
    client: reqwest::Client,
    requests: Arc<Mutex<Vec<Recorded>>>,
    faults: Arc<Mutex<Vec<Fault>>>,
    delays: Arc<Mutex<Vec<Delay>>>,
}

/// A CloudFormation (query protocol) answer to `operation` whose result holds `result`.
pub fn query_answer(operation: &str, result: &str) -> String {
    format!(
        "<{operation}Response xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\"><{operation}Result>{result}</{operation}Result><ResponseMetadata><RequestId>0e1f2a3b-fault</RequestId></ResponseMetadata></{operation}Response>"
    )
}

/// CloudFormation's (query protocol) error body.
pub fn query_error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>0e1f2a3b-fault</RequestId></ErrorResponse>"
    )
}

impl Recorder {
    /// Starts on a free loopback port; it stops with the test's runtime.
    pub async fn start(upstream: &str) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let faults = Arc::new(Mutex::new(Vec::new()));
        let delays = Arc::new(Mutex::new(Vec::new()));
        let forward = Forward {
            upstream: upstream.to_owned(),
            client: reqwest::Client::new(),
            requests: Arc::clone(&requests),
            faults: Arc::clone(&faults),
            delays: Arc::clone(&delays),
        };
        let app = axum::Router::new().fallback(relay).with_state(forward);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            endpoint,
            requests,
            faults,
            delays,
        }
    }

    /// Answers every call of `operation` whose body contains `when_body_contains` `by` later,
    /// canned or forwarded.
    pub fn delay(&self, operation: &str, when_body_contains: &str, by: std::time::Duration) {
        self.delays.lock().unwrap().push(Delay {
            operation: operation.into(),
            when_body_contains: when_body_contains.into(),
            by,
            answer_only: None,
        });
    }

    /// Forwards the next `times` calls of `operation` whose body contains `when_body_contains`
    /// at once, and answers them `by` later: the service acted, its answer is late.
    pub fn delay_answer(
        &self,
        operation: &str,
        when_body_contains: &str,
        by: std::time::Duration,
        times: usize,
    ) {
        self.delays.lock().unwrap().push(Delay {
            operation: operation.into(),
            when_body_contains: when_body_contains.into(),
            by,
            answer_only: Some(times),
        });
    }

    /// Answers the next matching calls with `fault` instead of forwarding them.
    pub fn inject(&self, fault: Fault) {
        self.faults.lock().unwrap().push(fault);
    }

    /// Every recorded request for `operation`, e.g. `StartBuild`, in arrival order.
    pub fn requests(&self, operation: &str) -> Vec<Recorded> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.target.rsplit('.').next() == Some(operation))
            .cloned()
            .collect()
    }
}

async fn relay(State(forward): State<Forward>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let query: Option<Vec<(String, String)>> = parts
        .headers
        .get("content-type")
        .is_some_and(|v| {
            v.as_bytes()
                .starts_with(b"application/x-www-form-urlencoded")
        })
        .then(|| serde_urlencoded::from_bytes(&body).unwrap_or_default());
    let target = match &query {
        Some(fields) => fields
            .iter()
            .find(|(name, _)| name == "Action")
            .map(|(_, value)| value.clone())
            .unwrap_or_default(),
        None => parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
    };
    let recorded = match query {
        Some(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(name, value)| (name, Value::String(value)))
                .collect(),
        ),
        None => serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    forward.requests.lock().unwrap().push(Recorded {
        target: target.clone(),
        body: recorded,
        at: std::time::Instant::now(),
    });
    let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
    let text = String::from_utf8_lossy(&body).into_owned();
    let (delay, answer_delay) = {
        let mut delays = forward.delays.lock().unwrap();
        let found = delays.iter_mut().find(|delay| {
            delay.operation == operation
                && text.contains(&delay.when_body_contains)
                && delay.answer_only != Some(0)
        });
        match found {
            Some(delay) => match delay.answer_only.as_mut() {
                Some(times) => {
                    *times -= 1;
                    (None, Some(delay.by))
                }
                None => (Some(delay.by), None),
            },
            None => (None, None),
        }
    };
    if let Some(by) = delay {
        tokio::time::sleep(by).await;
    }
    let canned = {
        let mut faults = forward.faults.lock().unwrap();
        let found = faults.iter_mut().find(|fault| {
            fault.operation == operation
                && fault.times > 0
                && fault
                    .when_body_contains
                    .iter()
                    .all(|needle| text.contains(needle.as_str()))
        });
        found.map(|fault| {
            fault.times -= 1;
            (fault.status, fault.body.clone())
        })
    };
    if let Some((status, body)) = canned {
        return Response::builder()
            .status(status)
            .header("content-type", "text/xml")
            .body(Body::from(body))
            .unwrap();
    }
    let url = format!(
        "{}{}",
        forward.upstream,
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut upstream = forward.client.request(parts.method, url).body(body);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    let answer = match upstream.send().await {
        Ok(answer) => answer,
        Err(err) => {
            return Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Body::from(err.to_string()))
                .unwrap();
        }
    };
    if let Some(by) = answer_delay {
        tokio::time::sleep(by).await;
    }
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(
                HeaderName::from_bytes(name.as_ref()).unwrap(),
                value.as_bytes(),
            );
        }
    }
    response
        .body(Body::from(answer.bytes().await.unwrap_or_default()))
        .unwrap()
}
