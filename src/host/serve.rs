//! `cfn-chatops serve`: the router on a local TCP listener.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::aws;
use crate::cli::{Failure, ServeArgs};
use crate::intake::router::router;

pub async fn run(args: ServeArgs) -> Result<(), Failure> {
    let aws = aws::load_config().await;
    let intake = Arc::new(args.intake.into_intake(&aws).await?);
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|err| Failure::runtime(format!("cannot listen on {}: {err}", args.addr)))?;
    let addr = listener
        .local_addr()
        .map_err(|err| Failure::runtime(format!("cannot read the listening address: {err}")))?;
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
    .map_err(|err| Failure::runtime(format!("server stopped: {err}")))?;
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
