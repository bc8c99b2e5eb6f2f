//! A stand-in for the Lambda Runtime API (the interface the Lambda service offers a custom
//! runtime: `GET …/invocation/next`, `POST …/invocation/{id}/response`), so the real binary runs
//! its Lambda host here exactly as on AWS.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc};

const PREFIX: &str = "/2018-06-01/runtime";

#[derive(Clone)]
struct Shared {
    events: Arc<Mutex<mpsc::UnboundedReceiver<(String, Value)>>>,
    results: mpsc::UnboundedSender<(String, Value)>,
}

pub struct LambdaApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    events: mpsc::UnboundedSender<(String, Value)>,
    results: mpsc::UnboundedReceiver<(String, Value)>,
    next_id: u32,
}

impl LambdaApi {
    pub async fn start() -> Self {
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let (result_tx, result_rx) = mpsc::unbounded_channel();
        let shared = Shared {
            events: Arc::new(Mutex::new(event_rx)),
            results: result_tx,
        };
        let app = Router::new()
            .route(&format!("{PREFIX}/invocation/next"), get(next))
            .route(
                &format!("{PREFIX}/invocation/{{id}}/response"),
                post(response),
            )
            .route(&format!("{PREFIX}/invocation/{{id}}/error"), post(error))
            .route(&format!("{PREFIX}/init/error"), post(init_error))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            address,
            events: event_tx,
            results: result_rx,
            next_id: 0,
        }
    }

    /// The environment Lambda gives a function, less credentials (added by the caller).
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.address.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", "cfn-chatops-webhook"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "/aws/lambda/cfn-chatops-webhook",
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/23/[$LATEST]0123456789abcdef",
            ),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
    }

    /// Invokes the function with `event` and returns what it answered (`response` or `error`).
    pub async fn invoke(&mut self, event: Value) -> (String, Value) {
        self.next_id += 1;
        let id = format!("request-{}", self.next_id);
        self.events.send((id.clone(), event)).unwrap();
        let (answered, result) = tokio::time::timeout(Duration::from_secs(30), self.results.recv())
            .await
            .expect("the function answered within 30 s")
            .unwrap();
        let (kind, answered_id) = answered.split_once(':').unwrap();
        assert_eq!(answered_id, id, "answer for the invocation sent");
        (kind.to_owned(), result)
    }
}

async fn next(State(shared): State<Shared>) -> impl IntoResponse {
    let (id, event) = shared.events.lock().await.recv().await.unwrap();
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(30);
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
    headers.insert(
        "lambda-runtime-deadline-ms",
        deadline.as_millis().to_string().parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:cfn-chatops-webhook"
            .parse()
            .unwrap(),
    );
    headers.insert("content-type", "application/json".parse().unwrap());
    (headers, event.to_string())
}

async fn response(State(shared): State<Shared>, Path(id): Path<String>, body: String) {
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let _ = shared.results.send((format!("response:{id}"), value));
}

async fn error(State(shared): State<Shared>, Path(id): Path<String>, body: String) {
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let _ = shared.results.send((format!("error:{id}"), value));
}

async fn init_error(body: String) {
    panic!("the function failed to initialise: {body}");
}

/// An API Gateway HTTP API (payload 2.0) event; function URLs send the same format.
pub fn http_api_event(path: &str, content_type: &str, body: &str, source_ip: &str) -> Value {
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "content-type": content_type,
            "content-length": body.len().to_string(),
            "host": "abcdefghij.execute-api.us-east-1.amazonaws.com",
            "user-agent": "Backlog Webhook",
            "x-forwarded-for": "54.248.107.22",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdefghij",
            "domainName": "abcdefghij.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcdefghij",
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": "Backlog Webhook"
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:13:00:00 +0000",
            "timeEpoch": 1795438800000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}
