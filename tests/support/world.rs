//! The planning world shared by end-to-end tests: moto behind a recording proxy, a ledger
//! table, a git repository, and `cfn-chatops plan` run as a child process.

use std::time::Instant;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use cfn_chatops::model::report::{PlanReport, StackPlan};
use serde_json::Value;

use super::aws::cli as aws_cli;
use super::backlog::{Backlog, PROJECT};
use super::moto::moto;
use super::proxy::Recorder;
use super::{SECRET, aws, git, unique};

/// moto behind a recording proxy, a ledger table and a git repository.
pub struct World {
    pub recorder: Recorder,
    pub aws: SdkConfig,
    pub table: String,
    pub repo: tempfile::TempDir,
    pub extra_env: Vec<(String, String)>,
}

/// One run of `cfn-chatops plan`.
pub struct Planned {
    pub code: Option<i32>,
    pub report: PlanReport,
    pub stderr: String,
}

impl Planned {
    /// The parameters the stack's plan shows, as (key, value).
    pub fn parameters(&self, stack: &str) -> Vec<(&str, &str)> {
        self.stack(stack)
            .parameters
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str()))
            .collect()
    }

    pub fn stack(&self, name: &str) -> &StackPlan {
        self.report
            .stacks
            .iter()
            .find(|stack| stack.stack == name)
            .unwrap_or_else(|| panic!("no plan for {name}: {:#?}", self.report))
    }
}

impl World {
    pub async fn start() -> World {
        let recorder = Recorder::start(&moto().endpoint).await;
        let aws = aws::config(&moto().endpoint).await;
        let table = unique("ledger");
        aws::create_ledger(&aws, &table).await;
        let repo = tempfile::tempdir().unwrap();
        git(repo.path(), &["init", "-q", "-b", "main"]);
        World {
            recorder,
            aws,
            table,
            repo,
            extra_env: vec![],
        }
    }

    /// A world whose plans comment on the Backlog stand-in (project [`PROJECT`] in `format`)
    /// and publish cards to an SNS topic: the world, the queue the cards reach, the stand-in.
    pub async fn with_backlog(format: &str) -> (World, String, Backlog) {
        let mut world = World::start().await;
        let queue = world.with_topic().await;
        world.commit(&[("README.md", Some("templates\n"))], "Initial commit");
        let backlog = Backlog::start().await;
        backlog.project(PROJECT, format);
        world.extra_env.extend(backlog.env());
        (world, queue, backlog)
    }

    /// The environment of `cfn-chatops serve` planning this world's repository with the local
    /// runner.
    pub fn serve_env(&self) -> Vec<(String, String)> {
        let mut env = aws::env(&self.recorder.endpoint);
        env.extend(self.extra_env.iter().cloned());
        env.extend([
            ("CFN_CHATOPS_LEDGER_TABLE".into(), self.table.clone()),
            ("CFN_CHATOPS_WEBHOOK_SECRET".into(), SECRET.into()),
            ("CFN_CHATOPS_RUNNER".into(), "local".into()),
            (
                "CFN_CHATOPS_LOCAL_CLONE".into(),
                self.repo.path().to_str().unwrap().into(),
            ),
        ]);
        env
    }

    /// Writes (`Some`) or deletes (`None`) files and commits; returns the commit.
    pub fn commit(&self, files: &[(&str, Option<&str>)], message: &str) -> String {
        for (path, content) in files {
            let full = self.repo.path().join(path);
            match content {
                Some(content) => {
                    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                    std::fs::write(&full, content).unwrap();
                }
                None => std::fs::remove_file(&full).unwrap(),
            }
        }
        git(self.repo.path(), &["add", "-A"]);
        git(
            self.repo.path(),
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        git(self.repo.path(), &["rev-parse", "HEAD"])
    }

    pub async fn plan(&self, args: &[&str]) -> Planned {
        let mut env = aws::env(&self.recorder.endpoint);
        env.push(("CFN_CHATOPS_LEDGER_TABLE".into(), self.table.clone()));
        env.extend(self.extra_env.iter().cloned());
        let output = tokio::process::Command::from(super::bot::command(
            &[
                &[
                    "plan",
                    "--repo",
                    self.repo.path().to_str().unwrap(),
                    "--output",
                    "json",
                ],
                args,
            ]
            .concat(),
            &env,
        ))
        .output()
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let report = serde_json::from_str(&stdout)
            .unwrap_or_else(|err| panic!("report on stdout ({err}): {stdout}\nstderr: {stderr}"));
        Planned {
            code: output.status.code(),
            report,
            stderr,
        }
    }

    /// Runs the stack's planned change set as a human's click would: the real AWS CLI.
    pub fn execute(&self, planned: &Planned, stack: &str) {
        let change_set = planned
            .stack(stack)
            .change_set
            .as_ref()
            .expect("a change set");
        aws_cli(&[
            "cloudformation",
            "execute-change-set",
            "--change-set-name",
            change_set.arn.as_deref().expect("its ARN"),
        ]);
    }

    /// Commits one small template per stack, `<stack>.yaml` at the root.
    pub fn commit_stacks(&self, stacks: &[&str], message: &str) -> String {
        let files: Vec<(String, String)> = stacks
            .iter()
            .map(|stack| (format!("{stack}.yaml"), template(stack, 1)))
            .collect();
        let files: Vec<(&str, Option<&str>)> = files
            .iter()
            .map(|(path, body)| (path.as_str(), Some(body.as_str())))
            .collect();
        self.commit(&files, message)
    }

    pub fn requests(&self, operation: &str) -> Vec<Value> {
        self.recorder
            .requests(operation)
            .into_iter()
            .map(|r| r.body)
            .collect()
    }

    pub fn creates_for(&self, stack: &str) -> Vec<Value> {
        self.requests("CreateChangeSet")
            .into_iter()
            .filter(|body| body["StackName"] == stack)
            .collect()
    }

    /// An SNS topic for the cards, with an SQS queue subscribed (as Amazon Q's HTTPS
    /// subscription would be, not raw): the bot publishes to the topic, tests read the queue.
    pub async fn with_topic(&mut self) -> String {
        let sns = aws_sdk_sns::Client::new(&self.aws);
        let sqs = aws_sdk_sqs::Client::new(&self.aws);
        let name = unique("cards");
        let topic = sns
            .create_topic()
            .name(&name)
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        let queue = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let queue_arn = format!("arn:aws:sqs:{}:123456789012:{name}", aws::REGION);
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .unwrap();
        self.extra_env
            .push(("CFN_CHATOPS_SNS_TOPIC_ARN".into(), topic));
        self.extra_env.push((
            "CFN_CHATOPS_BACKLOG_URL".into(),
            "https://example.backlog.com".into(),
        ));
        queue
    }

    /// The notifications that reached the queue: the SNS envelope's `Message`, parsed.
    pub async fn received(&self, queue: &str, count: usize) -> Vec<Value> {
        let sqs = aws_sdk_sqs::Client::new(&self.aws);
        let mut received = Vec::new();
        let deadline = Instant::now() + std::time::Duration::from_secs(20);
        while received.len() < count && Instant::now() < deadline {
            let output = sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            for message in output.messages() {
                let envelope: Value = serde_json::from_str(message.body().unwrap()).unwrap();
                received.push(serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap());
                sqs.delete_message()
                    .queue_url(queue)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        received
    }

    pub async fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.aws)
    }

    pub async fn stack_status(&self, stack: &str) -> Option<String> {
        let client = self.cloudformation().await;
        let output = client
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .ok()?;
        output
            .stacks()
            .first()
            .and_then(|s| s.stack_status())
            .map(|s| s.as_str().to_owned())
    }

    /// The bot's change sets on the stack that could still be executed.
    pub async fn our_change_sets(&self, stack: &str) -> Vec<String> {
        let client = self.cloudformation().await;
        client
            .list_change_sets()
            .stack_name(stack)
            .send()
            .await
            .map(|output| {
                output
                    .summaries()
                    .iter()
                    // moto lists every stack's change sets, whatever StackName says.
                    .filter(|s| s.stack_name() == Some(stack))
                    .filter(|s| {
                        s.execution_status().is_none_or(|e| {
                            e.as_str() == "AVAILABLE" || e.as_str() == "UNAVAILABLE"
                        })
                    })
                    .filter_map(|s| s.change_set_name().map(str::to_owned))
                    .filter(|name| name.starts_with("cfn-chatops-"))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub async fn ledger_record(&self, region: &str, stack: &str, name: &str) -> Option<Value> {
        let items = aws::ledger_items(&self.aws, &self.table).await;
        items
            .into_iter()
            .find(|item| {
                item.get("pk") == Some(&AttributeValue::S(format!("stack#{region}/{stack}")))
                    && item.get("sk") == Some(&AttributeValue::S(format!("changeset#{name}")))
            })
            .map(|item| {
                Value::Object(
                    item.into_iter()
                        .map(|(k, v)| {
                            let v = match v {
                                AttributeValue::S(s) | AttributeValue::N(s) => Value::String(s),
                                other => Value::String(format!("{other:?}")),
                            };
                            (k, v)
                        })
                        .collect(),
                )
            })
    }
}

/// A template of `topics` SNS topics, with CloudFormation tags, and a description.
pub fn template(description: &str, topics: usize) -> String {
    let mut text = format!(
        "AWSTemplateFormatVersion: '2010-09-09'\nDescription: {description}\nParameters:\n  Env:\n    Type: String\n    Default: dev\nResources:\n"
    );
    for index in 0..topics {
        text.push_str(&format!(
            "  Topic{index}:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: !Sub '${{AWS::StackName}}-{index}-${{Env}}'\n"
        ));
    }
    text.push_str("Outputs:\n  First:\n    Value: !Ref Topic0\n");
    text
}
