//! `cfn-chatops render` and `cfn-chatops custom-actions`.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use serde_json::{Map, Value, json};

use super::{Failure, LinkArgs};
use crate::core::custom_actions;
use crate::model::notification::Notification;
use crate::model::report::PlanReport;
use crate::render::slack::cards::plan_cards;
use crate::render::slack::preview::preview;

#[derive(clap::Args)]
pub struct RenderArgs {
    /// A plan report, as `cfn-chatops plan --output json` prints it.
    #[arg(long, env = "CFN_CHATOPS_REPORT")]
    pub report: Option<PathBuf>,

    /// Cards as they arrived (a JSON array of notifications, e.g. read back from SNS), to
    /// preview only. Give this or `--report`.
    #[arg(long, conflicts_with = "report")]
    pub cards: Option<PathBuf>,

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

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| Failure::usage(format!("cannot read {}: {err}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|err| Failure::usage(format!("{} is not {what}: {err}", path.display())))
}

pub fn render(args: RenderArgs) -> Result<(), Failure> {
    let actions = custom_actions::all().map_err(|err| Failure::runtime(err.to_string()))?;
    if let Some(path) = &args.cards {
        let cards: Vec<Notification> = read_json(path, "a JSON array of notifications")?;
        print!("{}", preview(&cards, &actions));
        return Ok(());
    }
    let path = args
        .report
        .as_deref()
        .ok_or_else(|| Failure::usage("give --report or --cards"))?;
    let report: PlanReport = read_json(path, "a plan report")?;
    let cards = plan_cards(&report, &args.links.links());
    println!("{}", json_text(&cards)?);
    println!();
    print!("{}", preview(&cards, &actions));
    Ok(())
}

pub fn custom_actions(args: CustomActionsArgs) -> Result<(), Failure> {
    let actions = custom_actions::all().map_err(|err| Failure::runtime(err.to_string()))?;
    // Never hand infra a definition the API would refuse.
    let problems: Vec<String> = actions
        .iter()
        .flat_map(|action| {
            action
                .problems()
                .into_iter()
                .map(move |problem| format!("{}: {problem}", action.action_name))
        })
        .collect();
    if !problems.is_empty() {
        return Err(Failure::runtime(problems.join("; ")));
    }
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
