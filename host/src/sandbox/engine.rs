//! The process-wide wasmtime `Engine` and the epoch ticker that drives
//! wall-clock deadlines.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::limits::maximum;

/// How often the epoch advances: the resolution of wall-clock deadlines, and
/// how often a running guest yields to the async executor.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Deepest WebAssembly stack one call may use before `stack-overflow`.
pub(crate) const MAX_WASM_STACK: usize = 1 << 20;
/// The fiber stack a call runs on: the wasm stack plus room for host frames.
pub(crate) const ASYNC_STACK: usize = MAX_WASM_STACK + (2 << 20);

/// How the engine is built. The defaults are what wfhost runs with.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Count fuel in every call. Off only to measure its cost.
    pub fuel_metering: bool,
    /// Try the pooling allocator (falls back to on-demand allocation when the
    /// address space cannot hold the pool, e.g. under `ulimit -v`).
    pub pooling: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            fuel_metering: true,
            pooling: std::env::var_os("WFHOST_POOLING").is_none_or(|v| v != "0" && v != "off"),
        }
    }
}

/// The engine, and whether it got the pooling allocator.
pub(crate) fn build_engine(options: &EngineOptions) -> wasmtime::Result<(Engine, bool)> {
    if options.pooling {
        let mut config = base_config(options);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool()));
        match Engine::new(&config) {
            Ok(engine) => return Ok((engine, true)),
            Err(error) => tracing::info!(
                error = %format!("{error:#}"),
                "pooling allocator unavailable; falling back to on-demand allocation"
            ),
        }
    }
    Ok((Engine::new(&base_config(options))?, false))
}

fn base_config(options: &EngineOptions) -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(options.fuel_metering)
        .epoch_interruption(true)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(ASYNC_STACK)
        .parallel_compilation(true);
    config
}

/// Slots for the pooling allocator: enough for many concurrent steps and for
/// the large components interpreters produce, all reserved up front as
/// virtual address space only.
fn pool() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(256)
        .total_core_instances(2048)
        .total_memories(512)
        .total_tables(2048)
        .total_stacks(256)
        .max_core_instances_per_component(256)
        .max_memories_per_component(16)
        .max_tables_per_component(256)
        .max_core_instance_size(8 << 20)
        .max_component_instance_size(1 << 20)
        .table_elements(200_000)
        .max_memory_size(maximum::MEMORY_BYTES as usize);
    pool
}

/// A thread that advances the engine's epoch every [`EPOCH_TICK`] until dropped.
#[derive(Debug)]
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(crate) fn start(engine: &Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("wfhost-epoch".into())
            .spawn({
                let engine = engine.clone();
                let stop = Arc::clone(&stop);
                move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
