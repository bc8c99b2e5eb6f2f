//! `cfn-chatops plan`: settings, and the report on stdout.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;

use super::{BacklogArgs, Failure, LedgerArgs, SlackArgs};
use crate::adapter::aws::{self, CallBudget};
use crate::adapter::backlog::commenter::Commenter;
use crate::adapter::cloudformation::{CloudFormation, Polling, TemplateBucket};
use crate::adapter::runner::env;
use crate::core::config::is_role_arn;
use crate::model::commit;
use crate::pipeline::plan::{
    BacklogAccess, PlanInputs, PlanPipeline, Planner, PreviewOf, StackPlanner,
};
use crate::render::text::plan_text;

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

    /// Preview pull request --pr (head --after, from --branch) before its merge into this
    /// branch: the changes since their merge base, reviewed as a merge would be, with nothing
    /// left to execute and nothing recorded in the ledger.
    #[arg(long, env = env::PREVIEW_INTO, requires = "pr", conflicts_with_all = ["before", "first_revision"])]
    pub preview_into: Option<String>,

    /// Report format on stdout.
    #[arg(long, env = "CFN_CHATOPS_OUTPUT", value_enum, default_value = "text")]
    pub output: Output,

    /// Discovery looks for templates under this folder ("" = everywhere).
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

    /// CloudFormation service role ARN change sets are created with, unless the stack's
    /// `.cfn-chatops.yml` entry names its own `role_arn`.
    #[arg(long, env = "CFN_CHATOPS_DEPLOY_ROLE_ARN")]
    pub deploy_role_arn: Option<String>,

    #[command(flatten)]
    pub slack: SlackArgs,

    #[command(flatten)]
    pub backlog: BacklogArgs,

    #[command(flatten)]
    pub ledger: LedgerArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

pub async fn run(args: PlanArgs) -> Result<(), Failure> {
    let commit = |value: &str, flag: &str| {
        commit::parse_full(value)
            .ok_or_else(|| Failure::usage(format!("{flag} {value:?} is not a full commit id")))
    };
    let after = commit(&args.after, "--after")?;
    let before = args
        .before
        .as_deref()
        // An unknown "before" is given as empty or as git's all-zeros id.
        .filter(|before| !before.is_empty() && !commit::is_zero_commit(before))
        .map(|before| commit(before, "--before"))
        .transpose()?;
    let first_revision = args
        .first_revision
        .as_deref()
        .map(|first| commit(first, "--first-revision"))
        .transpose()?;
    let deploy_role_arn = args
        .deploy_role_arn
        .filter(|role| !role.is_empty())
        .map(|role| {
            if is_role_arn(&role) {
                Ok(role)
            } else {
                Err(Failure::usage(format!(
                    "--deploy-role-arn {role:?} is not an IAM role ARN"
                )))
            }
        })
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
        deploy_role_arn,
        preview: args
            .preview_into
            .zip(args.pr)
            .map(|(into, pr)| PreviewOf { pr, into }),
    };
    let bucket = args
        .template_bucket
        .map(|bucket| TemplateBucket::new(&sdk, bucket, inputs.default_region.clone()));
    let planner = Planner {
        stacks: StackPlanner {
            cloudformation: CloudFormation::new(&sdk, CallBudget::CLOUDFORMATION_PLAN),
            bucket,
            polling: Polling {
                timeout: Duration::from_secs(args.timeout),
                ..Polling::default()
            },
        },
        ledger: args.ledger.ledger(&sdk, CallBudget::LEDGER_PLAN),
        concurrency: usize::from(args.concurrency),
    };
    // Backlog never stops a plan: a credential that cannot be read, or a space that cannot be
    // reached, becomes the undelivered comment in the report.
    let backlog = match args.backlog.client(&sdk).await {
        Ok(None) => BacklogAccess::Off,
        Ok(Some(client)) => BacklogAccess::Ready(Box::new(Commenter::new(client))),
        Err(failure) => BacklogAccess::Unusable(failure.message),
    };
    let pipeline = PlanPipeline {
        planner: Arc::new(planner),
        publisher: args.slack.publisher(&sdk, CallBudget::SNS_PLAN),
        backlog,
        links: args.backlog.links.links(),
    };
    let report = pipeline.run(inputs).await;
    match args.output {
        Output::Text => print!("{}", plan_text(&report)),
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
