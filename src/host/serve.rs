//! `cfn-chatops serve`: the router on a local TCP listener, until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;

use super::HostError;
use super::router::router;
use crate::pipeline::intake::Intake;

pub async fn run(addr: SocketAddr, intake: Arc<Intake>) -> Result<(), HostError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| HostError::Listen { addr, source })?;
    let addr = listener.local_addr().map_err(HostError::Address)?;
    tracing::info!(
        %addr,
        runner = intake.runner.name(),
        ledger = intake.ledger.table(),
        "listening"
    );
    axum::serve(
        listener,
        router(intake).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(HostError::Server)?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(terminate) => terminate,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
