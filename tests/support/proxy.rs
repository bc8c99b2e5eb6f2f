//! A recording proxy in front of moto. moto keeps no record of some request fields (CodeBuild's
//! environment overrides), so tests assert on the requests the bot actually sent.

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::Response;
use serde_json::Value;

/// One request the bot sent, as AWS's JSON protocols name it (`X-Amz-Target`).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub target: String,
    pub body: Value,
}

#[derive(Clone)]
pub struct Recorder {
    pub endpoint: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

#[derive(Clone)]
struct Forward {
    upstream: String,
    client: reqwest::Client,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    /// Starts on a free loopback port; it stops with the test's runtime.
    pub async fn start(upstream: &str) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let forward = Forward {
            upstream: upstream.to_owned(),
            client: reqwest::Client::new(),
            requests: Arc::clone(&requests),
        };
        let app = axum::Router::new().fallback(relay).with_state(forward);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { endpoint, requests }
    }

    /// Every recorded request whose target ends with `operation`, e.g. `StartBuild`.
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
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    forward.requests.lock().unwrap().push(Recorded {
        target,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
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
