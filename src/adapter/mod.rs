//! Adapters: everything that talks to the outside — AWS (CloudFormation, DynamoDB, SNS, S3,
//! CodeBuild, Secrets Manager), Backlog's REST API, git, and the runners that start plans.

pub mod aws;
pub(crate) mod backlog;
pub mod cloudformation;
pub(crate) mod git;
pub mod ledger;
pub mod runner;
pub(crate) mod sns;
