//! Everything about Backlog: its webhook formats, its REST API, the bot's pull request comments
//! and how a pushed commit is traced back to its pull request.

pub mod api;
pub mod comment;
pub mod credentials;
pub mod pull_request;
pub mod webhook;
