//! Webhook intake: Backlog deliveries in, plan runs dispatched.

pub mod filter;
pub mod guard;
pub mod router;
pub mod runner;
pub mod trigger;
