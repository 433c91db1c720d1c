//! The accept loop. Connections are served with hyper directly (not `axum::serve`) so that
//! a handler can close its own connection without any response (`drop_after_commit`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower_service::Service;

/// Put in every request's extensions: notifying it closes the request's connection at once,
/// without writing a response.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionKill(pub Arc<Notify>);

/// Serves `router` on `listener` until `shutdown` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => {
                match accepted {
                    Ok((stream, _peer)) => {
                        let _ = stream.set_nodelay(true);
                        connections.spawn(connection(stream, router.clone(), shutdown.clone()));
                    }
                    Err(err) => {
                        // Out of file descriptors and the like: back off briefly.
                        tracing::warn!(%err, "sandbox accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // Let open connections finish their current request, but not forever.
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), drain)
        .await
        .is_err()
    {
        connections.abort_all();
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let kill = Arc::new(Notify::new());
    let kill_handle = ConnectionKill(kill.clone());
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(kill_handle.clone());
        let mut router = router.clone();
        async move {
            Ok::<_, Infallible>(
                router
                    .call(request)
                    .await
                    .unwrap_or_else(|never| match never {}),
            )
        }
    });
    // Limits above the API's own (`api::MAX_URI_BYTES` and the header limits), so that
    // oversized requests reach the router and get DigiCert-shaped 414/431 answers; only
    // requests beyond these (a 64 KiB target, 1 MiB of headers, 1000 fields) get hyper's.
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .max_buf_size(1024 * 1024)
        .max_headers(1000)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(%err, "sandbox connection ended with an error");
            }
        }
        () = kill.notified() => {
            // Dropping the connection closes the socket with nothing written.
        }
        _ = async { shutdown.wait_for(|stop| *stop).await.is_ok() } => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                _ = conn.as_mut() => {}
                () = kill.notified() => {}
            }
        }
    }
}
