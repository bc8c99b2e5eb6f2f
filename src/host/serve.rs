//! `cfn-chatops serve`: the router on a local TCP listener, until SIGINT or SIGTERM. Its URL is
//! reachable from the internet (Backlog must reach it), so no client may hold it: a request's
//! headers (and an idle connection's next request) within [`HEADER_READ_TIMEOUT`], its body
//! within the router's body timeout, its answer within the intake's deadline; a connection
//! closed after its request in flight once it is [`MAX_CONNECTION_AGE`] old; at most
//! [`MAX_CONNECTIONS`] connections at once (the next ones are refused at once); and a stop waits
//! at most [`SHUTDOWN_GRACE`] for the requests in flight and a local plan running. With the local
//! runner, the server also runs the plans queued in the ledger.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};

use super::HostError;
use super::router::{BODY_READ_TIMEOUT, router};
use crate::pipeline::intake::{DISPATCH_WITHIN, Intake, RECORD_WITHIN};

/// A request's headers, and an idle connection's next request, must arrive within this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection is closed, after the request it is answering, once this old: a client asking
/// again and again keeps no slot for long.
pub const MAX_CONNECTION_AGE: Duration = Duration::from_secs(60);
/// Connections open at once; well under the usual 1,024 open files, so the server always has
/// descriptors left for its own calls.
pub const MAX_CONNECTIONS: usize = 256;
/// How long a stop waits for requests in flight before it closes their connections: as long as
/// a request accepted just before it can take (headers, body, claim and dispatch, their
/// record), so none is cut between its claim and its answer.
pub const SHUTDOWN_GRACE: Duration = HEADER_READ_TIMEOUT
    .saturating_add(BODY_READ_TIMEOUT)
    .saturating_add(DISPATCH_WITHIN)
    .saturating_add(RECORD_WITHIN)
    .saturating_add(Duration::from_secs(1));
/// How long a local plan running at a stop may go on: the grace, less the time its end's
/// record may take (one ledger call at the webhook's budget: two attempts of 4 s and a wait).
const PLAN_DRAIN: Duration = SHUTDOWN_GRACE.saturating_sub(Duration::from_millis(8_500));
/// The pause after a failed accept (out of descriptors, say), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Refusals are logged at most this often, with how many there were.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(1);
/// How long a refused client gets to read its 503 before the socket closes.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

pub async fn run(addr: SocketAddr, intake: Arc<Intake>) -> Result<(), HostError> {
    raise_open_file_limit();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| HostError::Listen { addr, source })?;
    let addr = listener.local_addr().map_err(HostError::Address)?;
    tracing::info!(
        %addr,
        runner = intake.runner.name(),
        ledger = intake.ledger.table(),
        max_connections = MAX_CONNECTIONS,
        "listening"
    );
    let (stopping, stop) = watch::channel(());
    // The local runner's queued plans, those left by an earlier run first.
    let plans = intake
        .local_plans()
        .map(|plans| tokio::spawn(plans.work(stop.clone(), PLAN_DRAIN)));
    let app = router(intake);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut refusals = Refusals::default();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "accepting a connection failed; retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            refusals.count();
            continue;
        };
        // The peer is the source address the allowlist checks.
        let service = TowerToHyperService::new(app.clone().layer(Extension(ConnectInfo(peer))));
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let _slot = slot;
            tokio::pin!(connection);
            let aged = tokio::time::sleep(MAX_CONNECTION_AGE);
            tokio::pin!(aged);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                // Stopping, or old: the request in flight is answered, then the connection ends.
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
                () = &mut aged => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = ended {
                tracing::debug!(%peer, error = %err, "connection ended");
            }
        });
    }
    drop(listener);
    refusals.flush();
    tracing::info!(
        grace_s = SHUTDOWN_GRACE.as_secs(),
        "stopping: no new connections; finishing the requests in flight"
    );
    let _ = stopping.send(());
    // Every slot back: every connection has ended.
    let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
    let connections = async {
        if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!(
                grace_s = SHUTDOWN_GRACE.as_secs(),
                "requests still open after the grace period: their connections are closed"
            );
        }
    };
    // A plan running gets the grace (less the time to record its end), then is killed and
    // stays queued for the next start, as does one whose end is not recorded in time.
    let plans = async {
        if let Some(plans) = plans
            && tokio::time::timeout(SHUTDOWN_GRACE, plans).await.is_err()
        {
            tracing::warn!(
                grace_s = SHUTDOWN_GRACE.as_secs(),
                "the local plan's end was not recorded within the grace period: it runs again at the next start"
            );
        }
    };
    tokio::join!(connections, plans);
    tracing::info!("stopped");
    Ok(())
}

/// Tells a client over the limit why, and closes: its request is read and dropped for at most
/// [`REFUSAL_LINGER`] (closing with unread data would reset the connection, and the 503 with
/// it).
async fn refuse(mut stream: TcpStream) {
    let linger = async {
        stream
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    };
    let _ = tokio::time::timeout(REFUSAL_LINGER, linger).await;
}

/// Connections refused since the last log line about them.
#[derive(Default)]
struct Refusals {
    unlogged: u64,
    logged_at: Option<Instant>,
}

impl Refusals {
    fn count(&mut self) {
        self.unlogged += 1;
        if self
            .logged_at
            .is_none_or(|at| at.elapsed() >= REFUSAL_LOG_EVERY)
        {
            self.flush();
        }
    }

    /// Logs the refusals not logged yet, if any.
    fn flush(&mut self) {
        if self.unlogged == 0 {
            return;
        }
        tracing::warn!(
            refused = self.unlogged,
            max_connections = MAX_CONNECTIONS,
            "connections refused: the server is at its connection limit"
        );
        self.unlogged = 0;
        self.logged_at = Some(Instant::now());
    }
}

/// Raises the soft open-file limit to the hard one, as far as allowed: room for the connections
/// and the server's own calls beyond a service manager's low default.
#[cfg(target_os = "linux")]
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write only the struct passed.
    let raised = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        let soft = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max;
        (soft < limit.rlim_max && libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0).then_some(soft)
    };
    if let Some(soft) = raised {
        tracing::info!(from = soft, to = limit.rlim_max, "open-file limit raised");
    }
}

#[cfg(not(target_os = "linux"))]
fn raise_open_file_limit() {}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::aws::CallBudget;

    #[test]
    fn a_plan_drained_at_a_stop_leaves_time_to_record_its_end_within_the_grace() {
        assert!(PLAN_DRAIN + CallBudget::WEBHOOK.total() <= SHUTDOWN_GRACE);
        assert!(PLAN_DRAIN >= Duration::from_secs(20));
    }
}
