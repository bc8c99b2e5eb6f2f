//! `cfn-chatops plan`: settings, and the report on stdout.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;

use super::{Failure, LedgerArgs};
use crate::aws;
use crate::commit::is_full_commit_id;
use crate::intake::runner::env;
use crate::plan::cloudformation::{CloudFormation, Polling, TemplateBucket};
use crate::plan::{self as planning, PlanInputs, Planner};
use crate::slack::publish::Publisher;
use crate::slack::render::{self, Links};

#[derive(clap::Args)]
pub struct PlanArgs {
    /// The repository checkout to plan in (files are read at the commit, not from the tree).
    #[arg(long, env = "CFN_CHATOPS_REPO_DIR", default_value = ".")]
    pub repo: PathBuf,

    /// The pushed head commit.
    #[arg(long, env = env::AFTER)]
    pub after: String,

    /// The commit before the push, when known.
    #[arg(long, env = env::BEFORE)]
    pub before: Option<String>,

    /// The oldest pushed revision, when `--before` is unknown: changes are taken from its parent.
    #[arg(long, env = env::FIRST_REVISION)]
    pub first_revision: Option<String>,

    /// Backlog project key (for the report and the change set's description).
    #[arg(long, env = env::PROJECT)]
    pub project: Option<String>,

    /// Backlog repository name.
    #[arg(long, env = env::REPOSITORY)]
    pub repository: Option<String>,

    /// The pushed branch.
    #[arg(long, env = env::BRANCH, default_value = "main")]
    pub branch: String,

    /// Backlog pull request number.
    #[arg(long, env = env::PR)]
    pub pr: Option<u64>,

    /// Report format on stdout.
    #[arg(long, env = "CFN_CHATOPS_OUTPUT", value_enum, default_value = "text")]
    pub output: Output,

    /// Without .cfn-chatops.yml, templates are looked for under this folder ("" = everywhere).
    #[arg(long, env = "CFN_CHATOPS_TEMPLATES_PATH", default_value = "")]
    pub templates_path: String,

    /// Stacks planned at the same time.
    #[arg(long, env = "CFN_CHATOPS_PLAN_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// Longest wait for one change set to be created, in seconds.
    #[arg(long, env = "CFN_CHATOPS_PLAN_TIMEOUT", default_value_t = 900)]
    pub timeout: u64,

    /// S3 bucket for templates over 51,200 bytes (uploaded under cfn-chatops/templates/<commit>/).
    #[arg(long, env = "CFN_CHATOPS_TEMPLATE_BUCKET")]
    pub template_bucket: Option<String>,

    /// SNS topic of the Amazon Q channel configuration; without it no Slack card is sent.
    #[arg(long, env = "CFN_CHATOPS_SNS_TOPIC_ARN")]
    pub sns_topic_arn: Option<String>,

    #[command(flatten)]
    pub links: LinkArgs,

    #[command(flatten)]
    pub ledger: LedgerArgs,
}

#[derive(clap::Args)]
pub struct LinkArgs {
    /// Backlog space URL (e.g. https://example.backlog.com), for links on the Slack cards.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

pub async fn run(args: PlanArgs) -> Result<(), Failure> {
    let commit = |value: &str, flag: &str| {
        if is_full_commit_id(value) {
            Ok(value.to_ascii_lowercase())
        } else {
            Err(Failure::usage(format!(
                "{flag} {value:?} is not a full commit id"
            )))
        }
    };
    let after = commit(&args.after, "--after")?;
    let before = args
        .before
        .as_deref()
        .filter(|before| !before.bytes().all(|b| b == b'0'))
        .map(|before| commit(before, "--before"))
        .transpose()?;
    let first_revision = args
        .first_revision
        .as_deref()
        .map(|first| commit(first, "--first-revision"))
        .transpose()?;
    if !args.repo.is_dir() {
        return Err(Failure::usage(format!(
            "--repo {} is not a directory",
            args.repo.display()
        )));
    }
    let sdk = aws::load_config().await;
    let default_region = sdk
        .region()
        .map(|region| region.to_string())
        .ok_or_else(|| Failure::usage("no AWS region configured: set AWS_REGION"))?;
    let inputs = PlanInputs {
        repo: args.repo,
        after,
        before,
        first_revision,
        project: args.project,
        repository: args.repository,
        branch: args.branch,
        pr: args.pr,
        templates_path: args.templates_path,
        default_region,
    };
    let bucket = args.template_bucket.map(|bucket| TemplateBucket {
        client: aws_sdk_s3::Client::new(&sdk),
        bucket,
        region: inputs.default_region.clone(),
    });
    let polling = Polling {
        timeout: Duration::from_secs(args.timeout),
        ..Polling::default()
    };
    let planner = Arc::new(Planner {
        cloudformation: CloudFormation::new(sdk.clone(), bucket, polling),
        ledger: args.ledger.ledger(&sdk),
        concurrency: usize::from(args.concurrency),
    });
    let mut report = planning::run(&inputs, planner).await;
    if let Some(topic) = &args.sns_topic_arn {
        let cards = render::notifications(&report, &args.links.links());
        report.notifications = Publisher::new(&sdk, topic).publish(&cards).await;
    }
    match args.output {
        Output::Text => print!("{}", report.to_text()),
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report)
                .map_err(|err| Failure::runtime(err.to_string()))?
        ),
    }
    if report.succeeded() {
        Ok(())
    } else {
        Err(Failure::runtime(format!(
            "plan failed: {}",
            report.failures().join("; ")
        )))
    }
}
