//! The API key never appears in logs (any level, any target), `Debug` output or errors.

// Its own test binary: the capture is a thread-local tracing subscriber, and tracing caches
// each call site's interest process-wide, so tests running beside it in one process can hide
// its events.

use std::io::Write;
use std::sync::{Arc, Mutex, mpsc};

use certcentral_client::{Client, Error, RateLimits};
use certcentral_testkit::client::{fast_retry, order_request, wait_issued};
use certcentral_testkit::{API_KEY as KEY, sandbox, start};
use certcentral_types::{DownloadFormat, ProductId};
use secrecy::SecretString;

/// A `MakeWriter` appending everything to a shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Runs the sandbox on its own thread and runtime, so the capturing subscriber (installed
/// for the test's thread only) sees the client's side alone.
fn sandbox_on_its_own_thread() -> (String, mpsc::Sender<()>) {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let sandbox = start(sandbox()).await;
            ready_tx.send(sandbox.base_url().to_string()).unwrap();
            tokio::task::spawn_blocking(move || stop_rx.recv().ok())
                .await
                .unwrap();
            sandbox.shutdown().await;
        });
    });
    (ready_rx.recv().unwrap(), stop_tx)
}

#[test]
fn the_key_never_appears_in_trace_output_debug_or_errors() {
    let (base_url, stop) = sandbox_on_its_own_thread();
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // A current-thread runtime keeps every client task (and hyper's) on this thread.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut texts = Vec::new();
    runtime.block_on(async {
        let client = Client::builder()
            .api_key(SecretString::from(KEY))
            .base_url(&base_url)
            .rate_limits(RateLimits::documented())
            .retry_policy(fast_retry())
            .build()
            .unwrap();
        texts.push(format!("{client:?}"));
        let mut order = client
            .order_client_certificate(
                ProductId::ClientPremiumSha2,
                &order_request("Lock Cole", "locke.cole@example.com", false),
            )
            .await
            .unwrap();
        texts.push(format!("{order:?}"));
        order.approve(None).await.unwrap();
        wait_issued(&mut order).await;
        order.download(DownloadFormat::PemAll).await.unwrap();
        // Error paths too.
        let err = client.order_info(999_999).await.unwrap_err();
        texts.push(format!("{err} {err:?}"));
        let mut invalid = order_request("Lock Cole", "not an email", false);
        invalid.certificate.csr = None;
        let err = client
            .order_client_certificate(ProductId::ClientPremiumSha2, &invalid)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Invalid(_)));
        texts.push(format!("{err} {err:?}"));
        let builder = Client::builder().api_key(SecretString::from(KEY));
        texts.push(format!("{builder:?}"));
    });
    drop(runtime);
    stop.send(()).unwrap();
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    // The capture really saw the calls, at every level, with the span fields.
    assert!(
        logs.contains("certcentral.request"),
        "no request span in:\n{logs}"
    );
    assert!(
        logs.contains("path=\"/order/certificate/{order_id}\"")
            || logs.contains("path=/order/certificate/{order_id}"),
        "{logs}"
    );
    assert!(logs.contains("status=201"));
    assert!(
        logs.contains("TRACE"),
        "trace-level events from the stack were captured"
    );
    assert!(!logs.contains(KEY), "the key leaked into the logs");
    for text in &texts {
        assert!(!text.contains(KEY), "the key leaked: {text}");
    }
}
