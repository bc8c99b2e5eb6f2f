//! The services without the binary: the router over an `Intake` built in this process, and the
//! `OutcomeHandler` over moto. Cheaper than spawning `cfn-chatops`, and they reach what the
//! binary's output cannot show (typed answers, typed errors).

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_cloudformation::types::ChangeSetType;
use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use cfn_chatops::adapter::aws::CallBudget;
use cfn_chatops::adapter::cloudformation::CloudFormation;
use cfn_chatops::adapter::ledger::Ledger;
use cfn_chatops::adapter::runner::{CodeBuildRunner, Runner};
use cfn_chatops::core::guard::{SourceAllowlist, WebhookSecret};
use cfn_chatops::host::router::router;
use cfn_chatops::model::delivery::CommentStatus;
use cfn_chatops::model::outcome::{Actor, OutcomeKind};
use cfn_chatops::model::record::ChangeSetRecord;
use cfn_chatops::model::report::Classification;
use cfn_chatops::model::status::ChangeSetStatus;
use cfn_chatops::pipeline::intake::Intake;
use cfn_chatops::pipeline::outcome::{HandleError, Handled, OutcomeHandler};

use support::events::{cloudtrail_event, stack_status_event};
use support::moto::moto;
use support::proxy::Recorder;
use support::{SECRET, aws, fixture, unique};

const JSON: &str = "application/json";

/// An intake built here, with its ledger table and CodeBuild project in moto behind a recorder.
struct Built {
    intake: Arc<Intake>,
    recorder: Recorder,
    aws: SdkConfig,
    table: String,
}

async fn built(allowed: &[&str]) -> Built {
    let recorder = Recorder::start(&moto().endpoint).await;
    let aws = aws::config(&moto().endpoint).await;
    let (table, project) = (unique("ledger"), unique("plan"));
    aws::create_ledger(&aws, &table).await;
    aws::create_codebuild_project(&aws, &project).await;
    // The bot's clients go through the recorder, so the test sees what they sent.
    let bot_aws = aws::config(&recorder.endpoint).await;
    let intake = Intake {
        secret: WebhookSecret::new(SECRET).unwrap(),
        allowlist: SourceAllowlist::new(allowed.iter().map(|a| a.parse().unwrap()).collect()),
        target_branch: "main".into(),
        ledger: Ledger::new(aws_sdk_dynamodb::Client::new(&bot_aws), &table),
        runner: Runner::CodeBuild(CodeBuildRunner::new(
            aws_sdk_codebuild::Client::new(&bot_aws),
            project,
        )),
        backlog: None,
    };
    Built {
        intake: Arc::new(intake),
        recorder,
        aws,
        table,
    }
}

impl Built {
    /// One request through the router; the status and the JSON body (`Null` for none).
    async fn send(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> (u16, Value) {
        self.send_from("203.0.113.7:40000", path, content_type, body)
            .await
    }

    async fn send_from(
        &self,
        peer: &str,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> (u16, Value) {
        let mut request = Request::post(path);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let mut request = request.body(body.into()).unwrap();
        let peer: SocketAddr = peer.parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = router(Arc::clone(&self.intake))
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body)
    }

    fn webhook(&self) -> String {
        format!("/webhook/{SECRET}")
    }

    async fn assert_nothing_done(&self, case: &str) {
        assert!(
            self.recorder.requests("StartBuild").is_empty(),
            "{case}: StartBuild"
        );
        assert!(
            self.recorder.requests("PutItem").is_empty(),
            "{case}: PutItem"
        );
        assert!(
            aws::ledger_items(&self.aws, &self.table).await.is_empty(),
            "{case}: ledger written"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_over_a_built_intake_dispatches_a_push_once_whichever_webhook_brings_it() {
    let built = built(&[]).await;
    let (status, body) = built
        .send(
            &built.webhook(),
            Some(JSON),
            fixture("project-type12-push.json"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "dispatched", "{body}");
    let builds = built.recorder.requests("StartBuild");
    assert_eq!(builds.len(), 1);
    let overrides = &builds[0].body["environmentVariablesOverride"];
    let after = overrides
        .as_array()
        .unwrap()
        .iter()
        .find(|variable| variable["name"] == "CFN_CHATOPS_AFTER")
        .unwrap();
    assert_eq!(after["value"], "d3adb33fc0ffee00112233445566778899aabbcc");
    // The same commit through the Git webhook: the same delivery key, nothing new.
    let (status, body) = built
        .send(
            &built.webhook(),
            Some("application/x-www-form-urlencoded"),
            format!("payload={}", urlencode(&fixture("git-webhook-push.json"))),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("duplicate")),
        "{body}"
    );
    assert_eq!(built.recorder.requests("StartBuild").len(), 1);
    let items = aws::ledger_items(&built.aws, &built.table).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["state"], AttributeValue::S("dispatched".into()));
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("x", text)]).unwrap()[2..].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_their_status_and_reason_and_change_nothing() {
    let built = built(&["198.51.100.0/24"]).await;
    let allowed = "198.51.100.9:50000";
    let type12 = fixture("project-type12-push.json");
    // The wrong secret and unknown routes: a bare 404, whatever else is wrong.
    for path in [
        "/webhook/wrong-secret-0123456789abcdefghijkl",
        "/webhook",
        "/other",
    ] {
        let (status, body) = built
            .send_from(allowed, path, Some(JSON), type12.clone())
            .await;
        assert_eq!((status, &body), (404, &Value::Null), "{path}");
    }
    // (case, content type, body, status, reason)
    let cases: [BadRequest; 6] = [
        (
            "outside the allowlist",
            Some(JSON),
            type12.clone().into(),
            403,
            "source address not allowed",
        ),
        ("empty body", Some(JSON), vec![], 400, "body is empty"),
        (
            "not JSON",
            Some(JSON),
            b"{nope".to_vec(),
            400,
            "body is not valid JSON",
        ),
        (
            "not a webhook",
            Some(JSON),
            b"{\"hello\": 1}".to_vec(),
            400,
            "not a Backlog webhook",
        ),
        (
            "unsupported type",
            Some("text/xml"),
            type12.clone().into(),
            415,
            "unsupported content type",
        ),
        (
            "too large",
            Some(JSON),
            vec![b' '; 1024 * 1024 + 1],
            413,
            "larger than",
        ),
    ];
    for (case, content_type, body, want, reason) in cases {
        let peer = if case == "outside the allowlist" {
            "203.0.113.7:40000"
        } else {
            allowed
        };
        let (status, answer) = built
            .send_from(peer, &built.webhook(), content_type, body)
            .await;
        assert_eq!(status, want, "{case}: {answer}");
        assert_eq!(answer["status"], "error", "{case}");
        let text = answer["reason"].as_str().unwrap();
        assert!(text.contains(reason), "{case}: {text}");
        assert!(!text.contains('\n'), "{case}: one line");
    }
    built.assert_nothing_done("bad requests").await;
}

/// A bad request: what it is, its content type and body, the status and reason it gets.
type BadRequest = (
    &'static str,
    Option<&'static str>,
    Vec<u8>,
    u16,
    &'static str,
);

/// A stack in moto with one change set of ours, recorded in the ledger as the planner records
/// it, and a handler built here.
struct Planned {
    handler: OutcomeHandler,
    aws: SdkConfig,
    table: String,
    stack: String,
    change_set: String,
    arn: String,
}

async fn planned() -> Planned {
    let aws = aws::config(&moto().endpoint).await;
    let table = unique("ledger");
    aws::create_ledger(&aws, &table).await;
    let stack = unique("outcome");
    let commit = "d3adb33fc0ffee00112233445566778899aabbcc";
    let change_set = format!("cfn-chatops-{commit}");
    let cloudformation = aws_sdk_cloudformation::Client::new(&aws);
    let created = cloudformation
        .create_change_set()
        .stack_name(&stack)
        .change_set_name(&change_set)
        .change_set_type(ChangeSetType::Create)
        .template_body(support::world::template("in-process", 1))
        .send()
        .await
        .unwrap();
    let arn = created.id().unwrap().to_owned();
    let ledger = Ledger::new(aws_sdk_dynamodb::Client::new(&aws), &table);
    ledger
        .record_change_set(&ChangeSetRecord {
            stack: stack.clone(),
            region: aws::REGION.into(),
            name: change_set.clone(),
            arn: arn.clone(),
            project: Some("INFRA".into()),
            repository: Some("cfn-templates".into()),
            branch: "main".into(),
            pr: Some(57),
            commit: commit.into(),
            classification: Some(Classification::Changes),
            status: ChangeSetStatus::Pending,
            verdict_reasons: vec![],
            waivers: vec![],
        })
        .await
        .unwrap();
    Planned {
        handler: OutcomeHandler {
            ledger,
            cloudformation: CloudFormation::new(&aws, CallBudget::CLOUDFORMATION_EVENTS),
            commenter: None,
            publisher: None,
        },
        aws,
        table,
        stack,
        change_set,
        arn,
    }
}

impl Planned {
    async fn record(&self) -> std::collections::HashMap<String, AttributeValue> {
        aws::ledger_items(&self.aws, &self.table)
            .await
            .into_iter()
            .find(|item| {
                item["pk"] == AttributeValue::S(format!("stack#{}/{}", aws::REGION, self.stack))
            })
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outcome_handler_over_moto_follows_a_change_set_from_execute_to_deployed() {
    let planned = planned().await;
    // As the button runs it: the change set by its ARN.
    let command = format!(
        "cloudformation execute-change-set --change-set-name {}",
        planned.arn
    );
    let clicked = SystemTime::now() - Duration::from_secs(42);
    let started = cloudtrail_event(&unique("ct"), &command, "U0123ABC", clicked);
    let Handled::Done {
        outcome,
        comment,
        slack,
    } = planned.handler.handle(&started).await.unwrap()
    else {
        panic!("the execute call is handled");
    };
    assert_eq!(outcome.kind, OutcomeKind::ExecutionStarted);
    assert_eq!(outcome.actor, Some(Actor::SlackUser("U0123ABC".into())));
    assert_eq!(outcome.pr, Some(57));
    let comment = comment.unwrap();
    assert_eq!(
        comment.status,
        CommentStatus::Skipped,
        "no Backlog configured"
    );
    assert_eq!(comment.detail.as_deref(), Some("Backlog not configured"));
    assert!(!slack, "no topic, no follow-up");
    assert_eq!(
        planned.record().await["status"],
        AttributeValue::S("executing".into())
    );

    // moto executes at once; the final status comes back as CloudFormation sends it.
    aws_sdk_cloudformation::Client::new(&planned.aws)
        .execute_change_set()
        .stack_name(&planned.stack)
        .change_set_name(&planned.change_set)
        .send()
        .await
        .unwrap();
    let status_id = unique("status");
    let finished = stack_status_event(
        &aws_sdk_cloudformation::Client::new(&planned.aws),
        &status_id,
        &planned.stack,
        SystemTime::now(),
    )
    .await;
    let Handled::Done { outcome, .. } = planned.handler.handle(&finished).await.unwrap() else {
        panic!("the final status is handled");
    };
    assert_eq!(outcome.kind, OutcomeKind::Executed);
    assert_eq!(outcome.stack_status.as_deref(), Some("CREATE_COMPLETE"));
    let took = outcome.duration_seconds.unwrap();
    assert!(
        (41..=45).contains(&took),
        "from the click to the status: {took} s"
    );
    assert_eq!(
        outcome.actor,
        Some(Actor::SlackUser("U0123ABC".into())),
        "who started it"
    );
    let record = planned.record().await;
    assert_eq!(record["status"], AttributeValue::S("executed".into()));
    assert_eq!(
        record["stack_status"],
        AttributeValue::S("CREATE_COMPLETE".into())
    );

    // The same event again: nothing new.
    assert!(matches!(
        planned.handler.handle(&finished).await.unwrap(),
        Handled::Duplicate { event_id } if event_id == status_id
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_the_handler_cannot_use_are_typed_and_change_nothing() {
    let planned = planned().await;
    let before = aws::ledger_items(&planned.aws, &planned.table).await;
    let broken = json!({"version": "0", "id": "b-1", "detail-type": "CloudFormation Stack Status Change",
        "source": "aws.cloudformation", "time": "2026-03-04T06:00:00Z", "region": aws::REGION,
        "detail": {"stack-id": "not-an-arn", "status-details": {"status": "UPDATE_COMPLETE"}}});
    let err = planned.handler.handle(&broken).await.unwrap_err();
    assert!(matches!(err, HandleError::BadEvent(_)), "{err}");
    assert!(err.to_string().contains("detail.stack-id"), "{err}");
    let unrelated = json!({"version": "0", "id": "u-1", "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2", "time": "2026-03-04T06:00:00Z", "region": aws::REGION, "detail": {}});
    assert!(matches!(
        planned.handler.handle(&unrelated).await.unwrap(),
        Handled::Ignored { .. }
    ));
    let command = "cloudformation delete-change-set --change-set-name arn:aws:cloudformation:us-east-1:123456789012:changeSet/someone-elses/0f1e2d3c";
    let foreign = cloudtrail_event(&unique("ct"), command, "U1", SystemTime::now());
    let Handled::Ignored { reason } = planned.handler.handle(&foreign).await.unwrap() else {
        panic!("a change set that is not ours is ignored");
    };
    assert!(reason.contains("not one of ours"), "{reason}");
    // Only the foreign event's own claim was written: no record changed.
    let after: Vec<_> = aws::ledger_items(&planned.aws, &planned.table)
        .await
        .into_iter()
        .filter(|item| !matches!(&item["pk"], AttributeValue::S(pk) if pk.starts_with("event#")))
        .collect();
    assert_eq!(after, before);
}
