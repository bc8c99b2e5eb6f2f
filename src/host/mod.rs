//! Hosts of the router: a local HTTP server and AWS Lambda.

pub mod lambda;
pub mod serve;
