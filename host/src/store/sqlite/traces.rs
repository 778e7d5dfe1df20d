//! Which runs' traces are to be exported over OTLP (`runs.trace_export`):
//! a run started by a process that exports traces is due once it ends; an
//! exporter claims it before sending (so two processes never both send
//! it) and gives it back when the collector refused it.

use rusqlite::params;

use super::SqliteStore;
use crate::store::StoreError;

/// `runs.trace_export`: to be exported once the run ends.
pub(super) const TRACE_DUE: i64 = 1;
/// `runs.trace_export`: an exporter took it (sent, or being sent).
const TRACE_CLAIMED: i64 = 2;

impl SqliteStore {
    pub(super) fn ended_traces_due(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        self.rows(
            "cannot list the traces due for export",
            "SELECT id FROM runs WHERE trace_export = ?1
               AND status IN ('succeeded', 'failed', 'cancelled')
             ORDER BY updated_at, id LIMIT ?2",
            params![TRACE_DUE, i64::try_from(limit).unwrap_or(i64::MAX)],
            |row| row.get(0),
        )
    }

    pub(super) fn set_trace_claimed(
        &mut self,
        id: &str,
        claimed: bool,
    ) -> Result<bool, StoreError> {
        let (from, to) = if claimed {
            (TRACE_DUE, TRACE_CLAIMED)
        } else {
            (TRACE_CLAIMED, TRACE_DUE)
        };
        self.write("cannot record a trace's export", |tx| {
            Ok(tx.execute(
                "UPDATE runs SET trace_export = ?3 WHERE id = ?1 AND trace_export = ?2",
                params![id, from, to],
            )? == 1)
        })
    }
}
