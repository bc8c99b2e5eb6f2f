//! cfn-chatops: ChatOps for CloudFormation on Backlog Git, AWS and Slack.
//!
//! Layers, each using only those below it: `cli` builds everything from settings; `host`
//! serves built services; `pipeline` coordinates; `render` is pure; `adapter` talks to the
//! outside; `core` decides; `model` is data.

pub mod adapter;
pub mod cli;
pub mod core;
pub mod host;
pub mod model;
pub mod pipeline;
pub mod render;
