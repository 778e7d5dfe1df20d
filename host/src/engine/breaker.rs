//! Circuit breakers around action calls: the engine asks a [`Breakers`]
//! (the store-backed one lives in `service::circuits`) whether a guarded
//! call may start, and tells it how the call ended. The breaker's state is
//! shared by every run on the home, so the engine only asks and reports.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::failure::StepFailure;
use crate::workflow::plan::PlannedCircuit;

/// Whether a guarded call may start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admit {
    /// Call it; `probe`: the breaker was open and this call decides.
    Call { probe: bool },
    /// Fail at once: the breaker is open until this time (seconds since
    /// the epoch).
    Open { until: f64 },
}

type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Keeps the breakers of guarded actions.
pub trait Breakers: Send + Sync + std::fmt::Debug {
    fn admit(self: Arc<Self>, circuit: Arc<PlannedCircuit>) -> Boxed<Admit>;

    /// A guarded call ended: `failure` is `None` when it succeeded.
    fn record(
        self: Arc<Self>,
        circuit: Arc<PlannedCircuit>,
        probe: bool,
        failure: Option<StepFailure>,
    ) -> Boxed<()>;
}
