//! What the host tells a call beyond its input: its idempotency key, what
//! it is granted, and how it can be stopped.

use std::sync::Arc;

use super::cancel::CancelSignal;
use super::grants::Grants;

/// What the host tells a guest about the call it is in.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    /// Stable across retries and resumes of the same step (`run-id:step-id`),
    /// for the guest to make external effects idempotent. The guest reads it
    /// from the environment variable [`IDEMPOTENCY_KEY_VAR`].
    pub idempotency_key: Option<String>,
    /// What the call may reach beyond its sandbox (shared: every attempt of
    /// a step holds the same grants, and the store keeps them for host
    /// imports without copying).
    pub grants: Arc<Grants>,
    /// Stops the call from outside (see [`cancellation`](super::cancellation)).
    pub cancel: Option<CancelSignal>,
}

/// The one environment variable a guest sees without a grant, when set.
pub const IDEMPOTENCY_KEY_VAR: &str = "WFHOST_IDEMPOTENCY_KEY";
