//! The command line: one binary, one subcommand per job. Every setting is a flag with a
//! `CFN_CHATOPS_*` environment equivalent.

mod logging;
mod outcome;
mod plan;
mod settings;
mod slack;

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use std::sync::Arc;

use logging::LogFormat;
use outcome::OutcomeArgs;
use plan::PlanArgs;
use settings::{
    BacklogArgs, IntakeArgs, LedgerArgs, LinkArgs, RunnerKind, SlackArgs, outcome_handler,
};
use slack::{CustomActionsArgs, RenderArgs};

use crate::adapter::aws;
use crate::host::{self, HostError};

#[derive(Parser)]
#[command(
    name = "cfn-chatops",
    version,
    about = "ChatOps for CloudFormation: Backlog Git pushes in, reviewed change sets out",
    after_help = "With no subcommand and AWS_LAMBDA_RUNTIME_API set (as on AWS Lambda), runs `lambda`."
)]
struct Cli {
    /// Log format; defaults to json on Lambda and text elsewhere.
    #[arg(long, global = true, env = "CFN_CHATOPS_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the webhook endpoint over HTTP on this machine.
    Serve(ServeArgs),
    /// Run as an AWS Lambda function (API Gateway HTTP API or function URL).
    Lambda(LambdaArgs),
    /// Plan a pushed commit: drift-aware change sets for the stacks it touched.
    Plan(PlanArgs),
    /// Handle one EventBridge event (stack status change or CloudTrail call) here.
    Outcome(OutcomeArgs),
    /// Show the Slack cards of a plan report: their JSON and a text preview with buttons.
    Render(RenderArgs),
    /// Print the Amazon Q custom actions behind the card buttons.
    CustomActions(CustomActionsArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the chosen address is logged).
    #[arg(long, env = "CFN_CHATOPS_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,

    #[command(flatten)]
    intake: IntakeArgs,
}

#[derive(clap::Args)]
struct LambdaArgs {
    /// Which function this is; both are built from this binary.
    #[arg(
        long,
        env = "CFN_CHATOPS_LAMBDA",
        value_enum,
        default_value = "webhook"
    )]
    function: LambdaFunction,

    #[command(flatten)]
    intake: IntakeArgs,

    #[command(flatten)]
    slack: SlackArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LambdaFunction {
    /// Webhook intake behind API Gateway (payload v2) or a function URL.
    Webhook,
    /// EventBridge events: stack status changes and CloudTrail Execute/DeleteChangeSet calls.
    Events,
}

const LAMBDA_RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";

/// A failure that ends the process: exit code and a one-line reason.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// Settings that cannot work: nothing was started.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    pub fn runtime(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

pub fn main() -> ExitCode {
    let on_lambda = std::env::var_os(LAMBDA_RUNTIME_API).is_some();
    let mut args: Vec<_> = std::env::args_os().collect();
    if on_lambda && args.len() == 1 {
        args.push("lambda".into());
    }
    let cli = Cli::parse_from(args);
    let log_format = cli.log_format.unwrap_or(if on_lambda {
        LogFormat::Json
    } else {
        LogFormat::Text
    });
    logging::init(log_format);
    let Some(command) = cli.command else {
        eprintln!("error: no subcommand given; see `cfn-chatops --help`");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Serve(args) => serve(args).await,
            Command::Lambda(args) => lambda(args).await,
            Command::Plan(args) => plan::run(args).await,
            Command::Outcome(args) => outcome::run(args).await,
            Command::Render(args) => slack::render(args),
            Command::CustomActions(args) => slack::custom_actions(args),
        }
    });
    // What is still running (a blocked DNS lookup, say) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // One line: structured where logs are read as JSON, plain for a person.
            match log_format {
                LogFormat::Json => tracing::error!(code = failure.code, "{}", failure.message),
                LogFormat::Text => eprintln!("error: {}", failure.message),
            }
            ExitCode::from(failure.code)
        }
    }
}

impl From<HostError> for Failure {
    fn from(err: HostError) -> Self {
        Failure::runtime(err.to_string())
    }
}

async fn serve(args: ServeArgs) -> Result<(), Failure> {
    let sdk = aws::load_config().await;
    let intake = Arc::new(args.intake.into_intake(&sdk).await?);
    Ok(host::serve::run(args.addr, intake).await?)
}

async fn lambda(args: LambdaArgs) -> Result<(), Failure> {
    let sdk = aws::load_config().await;
    match args.function {
        LambdaFunction::Webhook => {
            // Local plans run in the serving process, which Lambda freezes between requests.
            if args.intake.runner == RunnerKind::Local {
                return Err(Failure::usage(
                    "--runner local runs plans in the `serve` process; the Lambda webhook needs --runner codebuild",
                ));
            }
            let intake = Arc::new(args.intake.into_intake(&sdk).await?);
            Ok(host::lambda::run_webhook(intake).await?)
        }
        LambdaFunction::Events => {
            let handler =
                outcome_handler(&sdk, &args.intake.ledger, &args.intake.backlog, &args.slack)
                    .await?;
            Ok(host::lambda::run_events(Arc::new(handler)).await?)
        }
    }
}
