//! Hosts: the webhook router served on a local TCP listener or on AWS Lambda, and the events
//! function on Lambda. They take services the CLI has built.

pub(crate) mod lambda;
pub mod router;
pub(crate) mod serve;

/// Why a host stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read the listening address: {0}")]
    Address(std::io::Error),
    #[error("lambda runtime stopped: {0}")]
    Lambda(lambda_http::lambda_runtime::Error),
}
