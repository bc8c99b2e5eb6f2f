//! Settings of the webhook intake, shared by `serve` and `lambda`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;
use ipnet::IpNet;

use aws_config::SdkConfig;

use super::Failure;
use crate::adapter::aws::CallBudget;
use crate::adapter::backlog::api::{BacklogClient, Credentials, RetryPolicy};
use crate::adapter::backlog::commenter::Commenter;
use crate::adapter::backlog::credentials;
use crate::adapter::cloudformation::CloudFormation;
use crate::adapter::ledger::Ledger;
use crate::adapter::runner::{CodeBuildRunner, LocalRunner, Runner};
use crate::adapter::sns::Publisher;
use crate::core::guard::{SourceAllowlist, WebhookSecret};
use crate::pipeline::intake::Intake;
use crate::pipeline::outcome::OutcomeHandler;
use crate::render::links::Links;

/// The binary this process runs, as Linux names it whatever became of its file.
const RUNNING_BINARY: &str = "/proc/self/exe";

#[derive(clap::Args)]
pub struct IntakeArgs {
    /// Secret path segment of the webhook URL: at least 32 URL-safe characters. Prefer the
    /// environment variable; a flag shows in process lists.
    #[arg(long, env = "CFN_CHATOPS_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// Only pushes to this branch are planned.
    #[arg(long, env = "CFN_CHATOPS_TARGET_BRANCH", default_value = "main")]
    pub target_branch: String,

    /// Source addresses allowed to deliver (CIDRs or addresses, comma-separated). Empty: any.
    /// On Lambda the address is API Gateway's sourceIp; locally the TCP peer. X-Forwarded-For
    /// is never trusted.
    #[arg(long = "allow-source", env = "CFN_CHATOPS_ALLOWED_SOURCES", value_delimiter = ',', value_parser = parse_network)]
    pub allowed_sources: Vec<IpNet>,

    #[command(flatten)]
    pub ledger: LedgerArgs,

    #[command(flatten)]
    pub backlog: BacklogArgs,

    /// Where plans run.
    #[arg(
        long,
        env = "CFN_CHATOPS_RUNNER",
        value_enum,
        default_value = "codebuild"
    )]
    pub runner: RunnerKind,

    /// CodeBuild project that runs `cfn-chatops plan` (runner `codebuild`).
    #[arg(long, env = "CFN_CHATOPS_CODEBUILD_PROJECT")]
    pub codebuild_project: Option<String>,

    /// Local clone of the repository that `cfn-chatops plan` runs in (runner `local`).
    #[arg(
        long,
        env = "CFN_CHATOPS_LOCAL_CLONE",
        required_if_eq("runner", "local")
    )]
    pub local_clone: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct LinkArgs {
    /// Backlog space URL (e.g. https://example.backlog.com): links on cards and comments, and
    /// the REST API's address.
    #[arg(long, env = "CFN_CHATOPS_BACKLOG_URL")]
    pub backlog_url: Option<String>,
}

impl LinkArgs {
    pub fn links(&self) -> Links {
        Links {
            backlog_url: self.backlog_url.clone(),
        }
    }
}

/// The Backlog REST API: the space URL and one credential of the bot's Backlog user.
#[derive(clap::Args)]
pub struct BacklogArgs {
    #[command(flatten)]
    pub links: LinkArgs,

    /// API key of the bot's Backlog user. Prefer the secret or the environment variable; a
    /// flag shows in process lists.
    #[arg(long, env = "CFN_CHATOPS_BACKLOG_API_KEY", hide_env_values = true)]
    pub backlog_api_key: Option<String>,

    /// OAuth 2.0 access token of the bot's Backlog user, instead of an API key.
    #[arg(long, env = "CFN_CHATOPS_BACKLOG_ACCESS_TOKEN", hide_env_values = true)]
    pub backlog_access_token: Option<String>,

    /// Secrets Manager secret (ARN or name) holding {"apiKey": "…"} or {"accessToken": "…"};
    /// read once at start-up.
    #[arg(long, env = "CFN_CHATOPS_BACKLOG_SECRET_ARN")]
    pub backlog_secret_arn: Option<String>,
}

impl BacklogArgs {
    /// The client, or `None` when no credential is configured (links only, no API calls).
    /// Messages name settings, never credential values.
    pub async fn client(&self, sdk: &SdkConfig) -> Result<Option<BacklogClient>, Failure> {
        let present =
            |value: &Option<String>| value.as_deref().is_some_and(|v| !v.trim().is_empty());
        let sources = [
            present(&self.backlog_api_key),
            present(&self.backlog_access_token),
            present(&self.backlog_secret_arn),
        ];
        let credentials = match sources {
            [false, false, false] => return Ok(None),
            [true, false, false] => Credentials::ApiKey(
                self.backlog_api_key
                    .clone()
                    .unwrap_or_default()
                    .trim()
                    .into(),
            ),
            [false, true, false] => Credentials::AccessToken(
                self.backlog_access_token
                    .clone()
                    .unwrap_or_default()
                    .trim()
                    .into(),
            ),
            [false, false, true] => {
                let client = aws_sdk_secretsmanager::Client::new(sdk);
                credentials::from_secret(
                    &client,
                    self.backlog_secret_arn.as_deref().unwrap_or_default(),
                )
                .await
                .map_err(|err| Failure::usage(err.to_string()))?
            }
            _ => {
                return Err(Failure::usage(
                    "give one Backlog credential: CFN_CHATOPS_BACKLOG_API_KEY, _ACCESS_TOKEN or _SECRET_ARN",
                ));
            }
        };
        let url = self.links.backlog_url.as_deref().ok_or_else(|| {
            Failure::usage("CFN_CHATOPS_BACKLOG_URL is required with a Backlog credential")
        })?;
        BacklogClient::new(url, credentials)
            .map(Some)
            .map_err(|err| Failure::usage(err.to_string()))
    }
}

/// Where Slack cards go.
#[derive(clap::Args)]
pub struct SlackArgs {
    /// SNS topic of the Amazon Q channel configuration; without it no Slack card is sent.
    #[arg(long, env = "CFN_CHATOPS_SNS_TOPIC_ARN")]
    pub sns_topic_arn: Option<String>,
}

impl SlackArgs {
    pub fn publisher(&self, sdk: &SdkConfig, budget: CallBudget) -> Option<Publisher> {
        self.sns_topic_arn
            .as_deref()
            .map(|topic| Publisher::new(sdk, budget, topic))
    }
}

#[derive(clap::Args)]
pub struct LedgerArgs {
    /// DynamoDB ledger table (keys `pk`, `sk`; TTL attribute `expires_at`).
    #[arg(
        long,
        env = "CFN_CHATOPS_LEDGER_TABLE",
        default_value = "cfn-chatops-ledger"
    )]
    pub ledger_table: String,
}

impl LedgerArgs {
    pub fn ledger(&self, aws: &aws_config::SdkConfig, budget: CallBudget) -> Ledger {
        Ledger::new(
            aws_sdk_dynamodb::Client::new(&budget.apply(aws)),
            &self.ledger_table,
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunnerKind {
    /// AWS CodeBuild StartBuild.
    Codebuild,
    /// A child process on this machine (development, self-hosting).
    Local,
}

fn parse_network(value: &str) -> Result<IpNet, String> {
    let value = value.trim();
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{value} is not a CIDR or an IP address"))
}

impl IntakeArgs {
    /// Checks the settings and builds the intake. The secret is never part of a message.
    pub async fn into_intake(self, aws: &SdkConfig) -> Result<Intake, Failure> {
        let secret = self.webhook_secret.as_deref().ok_or_else(|| {
            Failure::usage("--webhook-secret (CFN_CHATOPS_WEBHOOK_SECRET) is required")
        })?;
        let secret = WebhookSecret::new(secret)
            .map_err(|err| Failure::usage(format!("CFN_CHATOPS_WEBHOOK_SECRET: {err}")))?;
        // The webhook answers fast: a Backlog that does not answer on the second try is a 503,
        // and the sender's retry tries again.
        let backlog = self.backlog.client(aws).await?.map(|client| {
            client.with_retry(RetryPolicy {
                attempts: 2,
                first_backoff: Duration::from_millis(500),
                max_wait: Duration::from_secs(2),
            })
        });
        let runner = match self.runner {
            RunnerKind::Codebuild => Runner::CodeBuild(CodeBuildRunner::new(
                aws_sdk_codebuild::Client::new(aws),
                self.codebuild_project
                    .ok_or_else(|| Failure::usage("--codebuild-project is required"))?,
            )),
            RunnerKind::Local => {
                // On Linux, the running binary itself: plans still start after an upgrade
                // moved or deleted its file.
                let program = match PathBuf::from(RUNNING_BINARY) {
                    running if running.exists() => running,
                    _ => std::env::current_exe().map_err(|err| {
                        Failure::runtime(format!("cannot find this executable: {err}"))
                    })?,
                };
                let clone = self
                    .local_clone
                    .ok_or_else(|| Failure::usage("--local-clone is required"))?;
                Runner::Local(Arc::new(LocalRunner::new(program, clone)))
            }
        };
        Ok(Intake {
            secret,
            allowlist: SourceAllowlist::new(self.allowed_sources),
            target_branch: self.target_branch,
            ledger: self.ledger.ledger(aws, CallBudget::WEBHOOK),
            runner,
            backlog,
        })
    }
}

/// The events function's handler. A Backlog credential that cannot be read stops it here,
/// before any event is taken.
pub async fn outcome_handler(
    sdk: &SdkConfig,
    ledger: &LedgerArgs,
    backlog: &BacklogArgs,
    slack: &SlackArgs,
) -> Result<OutcomeHandler, Failure> {
    Ok(OutcomeHandler {
        ledger: ledger.ledger(sdk, CallBudget::WEBHOOK),
        cloudformation: CloudFormation::new(sdk, CallBudget::CLOUDFORMATION_EVENTS),
        // Bounded so one handling fits well inside the event's claim lease.
        commenter: backlog.client(sdk).await?.map(|client| {
            Commenter::new(client.with_retry(RetryPolicy {
                attempts: 3,
                first_backoff: Duration::from_millis(500),
                max_wait: Duration::from_secs(20),
            }))
        }),
        publisher: slack.publisher(sdk, CallBudget::SNS_EVENTS),
    })
}
