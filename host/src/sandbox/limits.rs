//! Per-call limits and the resource limiter that enforces the memory cap.

use std::time::Duration;

/// Hard ceilings no workflow or command line can raise a limit above.
pub mod maximum {
    use std::time::Duration;

    /// Total linear memory of one call (the pooling allocator reserves this per slot).
    pub const MEMORY_BYTES: u64 = 4 << 30;
    /// Wall-clock time of one call.
    pub const TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
}

/// What one call of an action may consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Units of fuel (roughly one per WebAssembly instruction).
    pub fuel: u64,
    /// Total bytes of linear memory across every memory of the component.
    pub memory_bytes: u64,
    /// Wall-clock time for the whole call, including time blocked in host calls.
    pub timeout: Duration,
}

impl Limits {
    /// Default fuel: room for interpreted guests (Python spends ~130k fuel on a
    /// trivial call) while stopping a runaway loop within a few seconds.
    pub const DEFAULT_FUEL: u64 = 10_000_000_000;
    /// Default memory: enough for an interpreter and its heap.
    pub const DEFAULT_MEMORY_BYTES: u64 = 512 << 20;
    /// Default wall-clock limit of one call.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

    /// Refuse limits above the host's maximums, naming the limit.
    pub fn check(&self) -> Result<(), String> {
        if self.memory_bytes > maximum::MEMORY_BYTES {
            return Err(format!(
                "memory limit {} is above the host maximum of {}",
                bytesize::ByteSize(self.memory_bytes).display().iec(),
                bytesize::ByteSize(maximum::MEMORY_BYTES).display().iec()
            ));
        }
        if self.timeout > maximum::TIMEOUT {
            return Err(format!(
                "timeout {} is above the host maximum of {}",
                humantime::format_duration(self.timeout),
                humantime::format_duration(maximum::TIMEOUT)
            ));
        }
        if self.timeout.is_zero() {
            return Err("timeout must be greater than zero".into());
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: Self::DEFAULT_FUEL,
            memory_bytes: Self::DEFAULT_MEMORY_BYTES,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }
}

/// Caps the *total* linear memory of a store (wasmtime's `StoreLimits` caps
/// each memory on its own) and remembers the peak.
#[derive(Debug)]
pub(crate) struct MemoryMeter {
    limit: u64,
    in_use: u64,
    peak: u64,
    refused: Option<MemoryLimitExceeded>,
}

impl MemoryMeter {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit,
            in_use: 0,
            peak: 0,
            refused: None,
        }
    }

    pub(crate) fn peak(&self) -> u64 {
        self.peak
    }

    /// The growth refused because of the limit, if any.
    pub(crate) fn refused(&self) -> Option<MemoryLimitExceeded> {
        self.refused
    }
}

/// Instances, tables and memories one component may create: generous for
/// real toolchains (componentize-py makes dozens of core instances), finite
/// for hostile ones.
const MAX_INSTANCES: usize = 1_000;
const MAX_TABLES: usize = 1_000;
const MAX_MEMORIES: usize = 100;
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

impl wasmtime::ResourceLimiter for MemoryMeter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current) as u64;
        let total = self.in_use.saturating_add(growth);
        if total > self.limit {
            let refused = MemoryLimitExceeded {
                limit: self.limit,
                requested: total,
            };
            self.refused = Some(refused);
            // An error (rather than `Ok(false)`) traps at once, so a guest that
            // ignores a failed `memory.grow` cannot keep running past its cap.
            return Err(wasmtime::Error::new(refused));
        }
        self.in_use = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// The error the limiter raises; classified as `memory-limit`.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("memory limit of {} exceeded: the guest asked for {} in total", bytesize::ByteSize(*.limit).display().iec(), bytesize::ByteSize(*.requested).display().iec())]
pub(crate) struct MemoryLimitExceeded {
    pub limit: u64,
    pub requested: u64,
}
