//! cfn-chatops: ChatOps for CloudFormation on Backlog Git, AWS and Slack.

pub mod aws;
pub mod backlog;
pub mod cli;
pub mod commit;
pub mod host;
pub mod intake;
pub mod ledger;
pub mod logging;
pub mod outcome;
pub mod plan;
pub mod slack;
pub mod text;
