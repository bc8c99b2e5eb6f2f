//! Everything about Backlog: its webhook formats (and, later, its REST API).

pub mod webhook;
