//! Pipelines coordinate adapters, the core and the renderers for the product's three jobs:
//! taking a webhook delivery ([`intake`]) and, for the local runner, running its queued plans
//! ([`local_plans`]), planning a push (`plan`), and following what became
//! of a change set ([`outcome`]).

pub mod intake;
pub mod local_plans;
pub mod outcome;
pub(crate) mod plan;
