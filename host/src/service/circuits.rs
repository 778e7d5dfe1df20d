//! Circuit breakers kept in the store: the engine's [`Breakers`] for
//! `wfhost run`, `resume` and `serve`. A breaker the store cannot read
//! lets the call through (said in the log): a broken breaker must not stop
//! work it was meant to protect.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::shared_store::SharedStore;
use crate::engine::{Admit, Breakers, StepFailure};
use crate::store::{CallVerdict, CircuitAdmission, CircuitRule};
use crate::workflow::plan::PlannedCircuit;

#[derive(Debug)]
pub struct StoreBreakers {
    store: SharedStore,
}

impl StoreBreakers {
    pub fn new(store: SharedStore) -> Self {
        Self { store }
    }
}

fn rule(circuit: &PlannedCircuit) -> CircuitRule<'_> {
    CircuitRule {
        key: &circuit.key,
        failures: circuit.failures,
        within_seconds: circuit.within.as_secs_f64(),
        open_for_seconds: circuit.open_for.as_secs_f64(),
    }
}

impl Breakers for StoreBreakers {
    fn admit(
        self: Arc<Self>,
        circuit: Arc<PlannedCircuit>,
    ) -> Pin<Box<dyn Future<Output = Admit> + Send + 'static>> {
        Box::pin(async move {
            let key = circuit.key.clone();
            match self
                .store
                .with(move |store| store.admit_call(&rule(&circuit)))
                .await
            {
                Ok(CircuitAdmission::Closed) => Admit::Call { probe: false },
                Ok(CircuitAdmission::Probe) => {
                    tracing::info!("circuit {key}: open long enough; this call is the probe");
                    Admit::Call { probe: true }
                }
                Ok(CircuitAdmission::Open { until }) => Admit::Open { until },
                Err(error) => {
                    tracing::warn!("circuit {key}: {error}; the call goes ahead unguarded");
                    Admit::Call { probe: false }
                }
            }
        })
    }

    fn record(
        self: Arc<Self>,
        circuit: Arc<PlannedCircuit>,
        probe: bool,
        failure: Option<StepFailure>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(async move {
            let verdict = match failure {
                None => CallVerdict::Succeeded,
                Some(failure) if failure.kind.counts_against_circuit() => {
                    CallVerdict::Failed(format!("{}: {}", failure.kind, failure.message))
                }
                Some(_) => CallVerdict::Neutral,
            };
            let key = circuit.key.clone();
            if let Err(error) = self
                .store
                .with(move |store| store.record_call(&rule(&circuit), probe, &verdict))
                .await
            {
                tracing::warn!("circuit {key}: cannot record the call: {error}");
            }
        })
    }
}
