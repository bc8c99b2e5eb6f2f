//! The data the layers hand each other: serde types with no I/O and few methods.

pub mod backlog;
pub mod commit;
pub mod delivery;
pub mod notification;
pub mod outcome;
pub mod record;
pub mod report;
pub mod status;
pub mod trigger;
pub mod verdict;
