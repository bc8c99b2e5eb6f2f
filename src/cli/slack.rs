//! `cfn-chatops render` and `cfn-chatops custom-actions`.

use std::path::PathBuf;

use clap::ValueEnum;
use serde_json::{Map, Value, json};

use super::{Failure, LinkArgs};
use crate::plan::report::PlanReport;
use crate::slack::actions;
use crate::slack::preview::preview;
use crate::slack::render::notifications;

#[derive(clap::Args)]
pub struct RenderArgs {
    /// A plan report, as `cfn-chatops plan --output json` prints it.
    #[arg(long, env = "CFN_CHATOPS_REPORT")]
    pub report: PathBuf,

    #[command(flatten)]
    pub links: LinkArgs,
}

#[derive(clap::Args)]
pub struct CustomActionsArgs {
    /// `json`: the CreateCustomAction definitions; `cloudformation`: AWS::Chatbot::CustomAction
    /// resources for a template's Resources section.
    #[arg(long, value_enum, default_value = "json")]
    pub format: ActionsFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ActionsFormat {
    Json,
    Cloudformation,
}

fn json_text(value: &impl serde::Serialize) -> Result<String, Failure> {
    serde_json::to_string_pretty(value).map_err(|err| Failure::runtime(err.to_string()))
}

pub fn render(args: RenderArgs) -> Result<(), Failure> {
    let text = std::fs::read_to_string(&args.report)
        .map_err(|err| Failure::usage(format!("cannot read {}: {err}", args.report.display())))?;
    let report: PlanReport = serde_json::from_str(&text).map_err(|err| {
        Failure::usage(format!(
            "{} is not a plan report: {err}",
            args.report.display()
        ))
    })?;
    let cards = notifications(&report, &args.links.links());
    let actions = actions::all().map_err(Failure::runtime)?;
    println!("{}", json_text(&cards)?);
    println!();
    print!("{}", preview(&cards, &actions));
    Ok(())
}

pub fn custom_actions(args: CustomActionsArgs) -> Result<(), Failure> {
    let actions = actions::all().map_err(Failure::runtime)?;
    let output = match args.format {
        ActionsFormat::Json => json!(actions),
        ActionsFormat::Cloudformation => Value::Object(
            actions
                .iter()
                .map(|action| (action.logical_id(), action.to_cloudformation()))
                .collect::<Map<_, _>>(),
        ),
    };
    println!("{}", json_text(&output)?);
    Ok(())
}
