//! One store connection shared by the API and the scheduler, used off the
//! async executor; and spare connections for longer work.

use std::sync::{Arc, Mutex, PoisonError};

use crate::store::{self, Durability, RunStore, StoreError};

#[derive(Debug, Clone)]
pub struct SharedStore(Arc<Mutex<Box<dyn RunStore>>>);

/// Open (creating and migrating) the store at `database`, off the executor.
pub async fn open(
    database: &store::Location,
    durability: Durability,
) -> Result<Box<dyn RunStore>, StoreError> {
    let database = database.clone();
    tokio::task::spawn_blocking(move || store::open(&database, durability))
        .await
        .map_err(|error| StoreError::Refused(format!("the store task failed: {error}")))?
}

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

/// Connections for longer work off the executor (claiming a run while its
/// workflow is planned), so the shared one stays free for the API: each
/// taken from those kept, or opened, and kept again after work that
/// succeeded (at most [`MAX_SPARE`]). A worker admitting runs does not
/// connect once per run.
#[derive(Debug, Clone)]
pub struct Spares {
    database: store::Location,
    durability: Durability,
    idle: Arc<Mutex<Vec<Box<dyn RunStore>>>>,
}

/// The most spare connections kept idle.
const MAX_SPARE: usize = 4;

impl Spares {
    pub fn new(database: store::Location, durability: Durability) -> Self {
        Self {
            database,
            durability,
            idle: Arc::default(),
        }
    }

    /// Run `work` on a spare connection, on this thread (off the executor).
    pub fn with<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&mut dyn RunStore) -> Result<T, E>,
    ) -> Result<T, E> {
        let kept = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut store = match kept {
            Some(store) => store,
            None => store::open(&self.database, self.durability)?,
        };
        let result = work(store.as_mut());
        if result.is_ok() {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < MAX_SPARE {
                idle.push(store);
            }
        }
        result
    }
}
