//! Settings of the webhook intake, shared by `serve` and `lambda`.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::ValueEnum;
use ipnet::IpNet;

use super::Failure;
use crate::intake::guard::{SourceAllowlist, WebhookSecret};
use crate::intake::router::Intake;
use crate::intake::runner::{CodeBuildRunner, LocalRunner, Runner};
use crate::ledger::Ledger;

#[derive(clap::Args)]
pub struct IntakeArgs {
    /// Secret path segment of the webhook URL: at least 32 URL-safe characters. Prefer the
    /// environment variable; a flag shows in process lists.
    #[arg(long, env = "CFN_CHATOPS_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: String,

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

    /// Where plans run.
    #[arg(
        long,
        env = "CFN_CHATOPS_RUNNER",
        value_enum,
        default_value = "codebuild"
    )]
    pub runner: RunnerKind,

    /// CodeBuild project that runs `cfn-chatops plan` (runner `codebuild`).
    #[arg(
        long,
        env = "CFN_CHATOPS_CODEBUILD_PROJECT",
        required_if_eq("runner", "codebuild")
    )]
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
    pub fn ledger(&self, aws: &aws_config::SdkConfig) -> Ledger {
        Ledger::new(aws_sdk_dynamodb::Client::new(aws), &self.ledger_table)
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
    pub fn into_intake(self, aws: &aws_config::SdkConfig) -> Result<Intake, Failure> {
        let secret = WebhookSecret::new(&self.webhook_secret)
            .map_err(|err| Failure::usage(format!("CFN_CHATOPS_WEBHOOK_SECRET: {err}")))?;
        let runner = match self.runner {
            RunnerKind::Codebuild => Runner::CodeBuild(CodeBuildRunner::new(
                aws_sdk_codebuild::Client::new(aws),
                self.codebuild_project
                    .ok_or_else(|| Failure::usage("--codebuild-project is required"))?,
            )),
            RunnerKind::Local => {
                let program = std::env::current_exe().map_err(|err| {
                    Failure::runtime(format!("cannot find this executable: {err}"))
                })?;
                let clone = self
                    .local_clone
                    .ok_or_else(|| Failure::usage("--local-clone is required"))?;
                Runner::Local(LocalRunner::new(program, clone))
            }
        };
        Ok(Intake {
            secret,
            allowlist: SourceAllowlist::new(self.allowed_sources),
            target_branch: self.target_branch,
            ledger: self.ledger.ledger(aws),
            runner,
        })
    }
}
