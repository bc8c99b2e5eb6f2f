//! The decisions, as plain functions over data: which deliveries and stacks are planned, what a
//! change set means for a reviewer, what an event means for a change set. No I/O.

pub(crate) mod changes;
pub mod classify;
pub(crate) mod config;
pub mod custom_actions;
pub mod event;
pub(crate) mod filter;
pub(crate) mod gate;
pub mod guard;
pub(crate) mod names;
pub(crate) mod outcome;
pub(crate) mod parameters;
pub(crate) mod preview;
pub(crate) mod properties;
pub(crate) mod pull_request;
pub(crate) mod select;
pub(crate) mod template;
pub(crate) mod text;
pub mod verdict;
pub mod webhook;
