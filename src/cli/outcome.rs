//! `cfn-chatops outcome --event FILE`: handles one EventBridge event here, as the events
//! function does on Lambda.

use std::path::PathBuf;

use super::{BacklogArgs, Failure, LedgerArgs, SlackArgs, outcome_handler};
use crate::adapter::aws;
use crate::pipeline::outcome::HandleError;

#[derive(clap::Args)]
pub(super) struct OutcomeArgs {
    /// The event as EventBridge delivers it (JSON); `-` reads standard input.
    #[arg(long, env = "CFN_CHATOPS_EVENT")]
    pub event: PathBuf,

    #[command(flatten)]
    pub ledger: LedgerArgs,

    #[command(flatten)]
    pub backlog: BacklogArgs,

    #[command(flatten)]
    pub slack: SlackArgs,
}

/// Prints what became of the event as JSON. Exit 2: the event cannot be read (nothing was
/// changed); exit 1: a step failed and running it again does the rest.
pub(super) async fn run(args: OutcomeArgs) -> Result<(), Failure> {
    let text = if args.event.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(&args.event)
    }
    .map_err(|err| Failure::usage(format!("--event {}: {err}", args.event.display())))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|err| {
        Failure::usage(format!("--event {}: not JSON: {err}", args.event.display()))
    })?;
    let sdk = aws::load_config().await;
    let handler = outcome_handler(&sdk, &args.ledger, &args.backlog, &args.slack).await?;
    match handler.handle(&value).await {
        Ok(handled) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&handled)
                    .map_err(|err| Failure::runtime(err.to_string()))?
            );
            Ok(())
        }
        Err(HandleError::BadEvent(reason)) => Err(Failure::usage(format!(
            "--event {}: {reason}",
            args.event.display()
        ))),
        Err(err) => Err(Failure::runtime(err.to_string())),
    }
}
