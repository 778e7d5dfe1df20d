//! One store connection shared by the API and the scheduler, used off the
//! async executor.

use std::sync::{Arc, Mutex, PoisonError};

use crate::store::{RunStore, StoreError};

#[derive(Debug, Clone)]
pub struct SharedStore(Arc<Mutex<Box<dyn RunStore>>>);

impl SharedStore {
    pub fn new(store: Box<dyn RunStore>) -> Self {
        Self(Arc::new(Mutex::new(store)))
    }

    /// The connection, for code already off the executor.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn RunStore>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Run `work` on the connection in a blocking task.
    pub async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut dyn RunStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            let mut store = store.lock().unwrap_or_else(PoisonError::into_inner);
            work(store.as_mut())
        })
        .await
        .map_err(|error| StoreError::Refused(format!("the store task failed: {error}")))?
    }
}
