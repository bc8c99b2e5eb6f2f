//! Slack through Amazon Q Developer: change-set cards as custom notifications over SNS, with
//! custom-action buttons that execute or discard the change set.

pub mod actions;
pub mod mrkdwn;
pub mod notification;
pub mod preview;
pub mod publish;
pub mod render;
