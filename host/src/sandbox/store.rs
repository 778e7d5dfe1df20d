//! What one call's `Store` holds: a deny-by-default WASI context, the memory
//! meter, and the captured output of the guest.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::context::{CallContext, IDEMPOTENCY_KEY_VAR};

use super::capture::CappedPipe;
use super::grants::Grants;
use super::limits::MemoryMeter;
use super::reports::GuestReports;

/// Bytes of stdout and of stderr kept per call.
pub(crate) const OUTPUT_CAP_BYTES: usize = 1 << 20;

/// The data of one call's store. Never reused: every call gets a new one.
pub(crate) struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) meter: MemoryMeter,
    pub(crate) stdout: CappedPipe,
    pub(crate) stderr: CappedPipe,
    pub(crate) reports: GuestReports,
    /// What the call was granted, for host imports that enforce grants
    /// themselves (`process`).
    pub(crate) grants: Arc<Grants>,
}

impl std::fmt::Debug for StoreState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreState")
            .field("meter", &self.meter)
            .finish_non_exhaustive()
    }
}

impl StoreState {
    /// A store with nothing granted: no preopened directories, no environment,
    /// no arguments, no sockets or name lookups, an empty stdin, and stdout and
    /// stderr captured with a cap. The only environment variable is the call's idempotency key, when it
    /// has one: host metadata, not the host's environment. `context.grants`
    /// adds exactly what was granted, nothing else.
    pub(crate) fn deny_by_default(
        memory_bytes: u64,
        started: Instant,
        context: &CallContext,
    ) -> Result<Self, String> {
        let stdout = CappedPipe::new(OUTPUT_CAP_BYTES);
        let stderr = CappedPipe::new(OUTPUT_CAP_BYTES);
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        if let Some(key) = &context.idempotency_key {
            builder.env(IDEMPOTENCY_KEY_VAR, key);
        }
        context.grants.apply(&mut builder)?;
        let wasi = builder.build();
        Ok(Self {
            wasi,
            table: ResourceTable::new(),
            meter: MemoryMeter::new(memory_bytes),
            stdout,
            stderr,
            reports: GuestReports::new(started),
            grants: Arc::clone(&context.grants),
        })
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
