//! Backlog's REST API v2: the client, where its credential comes from, pull request look-ups
//! and the bot's comments.

pub mod api;
pub mod commenter;
pub mod credentials;
pub mod pull_requests;
