//! The HTTP clients OTLP exporters send with. [`OnRuntime`]: hyper on the
//! server's tokio runtime, whichever thread asks (the SDK's periodic
//! metric reader exports from a thread of its own, outside any runtime,
//! where hyper cannot run). [`Watched`]: hyper, remembering the last
//! response's status (the exporter's errors carry it only as text).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use tokio::runtime::Handle;

#[derive(Debug, Clone)]
pub(super) struct OnRuntime {
    client: HyperClient,
    runtime: Handle,
}

impl OnRuntime {
    /// A client on the runtime the caller runs in; each request given up
    /// after `timeout`.
    pub(super) fn current(timeout: Duration) -> Self {
        Self {
            client: HyperClient::with_default_connector(timeout, None),
            runtime: Handle::current(),
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let uri = request.uri().to_string();
        let sent = self
            .runtime
            .spawn(async move { client.send_bytes(request).await })
            .await
            .map_err(|error| Box::new(error) as HttpError)?;
        match &sent {
            Ok(response) if !response.status().is_success() => {
                tracing::warn!(
                    "the collector at {uri} refused metrics: {}",
                    response.status()
                );
            }
            Err(error) => tracing::warn!("cannot push metrics to {uri}: {error}"),
            Ok(_) => {}
        }
        sent
    }
}

#[derive(Debug, Clone)]
pub(super) struct Watched {
    client: HyperClient,
    last: Arc<Mutex<Option<u16>>>,
}

impl Watched {
    pub(super) fn new(timeout: Duration) -> Self {
        Self {
            client: HyperClient::with_default_connector(timeout, None),
            last: Arc::default(),
        }
    }

    /// The status of the last response, forgotten once read.
    pub(super) fn take_status(&self) -> Option<u16> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

#[async_trait::async_trait]
impl HttpClient for Watched {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let sent = self.client.send_bytes(request).await;
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = sent
            .as_ref()
            .ok()
            .map(|response| response.status().as_u16());
        sent
    }
}
