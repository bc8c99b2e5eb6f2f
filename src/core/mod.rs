//! The decisions, as plain functions over data: which deliveries and stacks are planned, what a
//! change set means for a reviewer, what an event means for a change set. No I/O.

pub mod changes;
pub mod classify;
pub mod config;
pub mod custom_actions;
pub mod event;
pub mod filter;
pub mod gate;
pub mod guard;
pub mod names;
pub mod outcome;
pub mod pull_request;
pub mod select;
pub mod template;
pub mod text;
pub mod webhook;
