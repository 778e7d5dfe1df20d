//! The HTTP client OTLP exporters send with: hyper on the server's tokio
//! runtime, whichever thread asks. The SDK's periodic metric reader
//! exports from a thread of its own, outside any runtime, where hyper
//! cannot run; each request is spawned onto the runtime and awaited.

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
