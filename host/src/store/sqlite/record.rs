//! Recording a run's events in SQLite: each event row, with the state it
//! changes (attempts, steps, the run), in the caller's transaction.

use rusqlite::{Transaction, params};
use serde_json::Value;

use crate::engine::{AttemptKey, AttemptResult, Event};
use crate::store::capped_json;

/// Record `event` of run `run_id` at time `at`.
pub(super) fn record_event(
    tx: &Transaction<'_>,
    run_id: &str,
    event: &Event,
    at: f64,
) -> rusqlite::Result<()> {
    let (text, _) = capped_json(event);
    tx.prepare_cached(
        "INSERT INTO events (run_id, step, kind, body, at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![run_id, event.step(), event.name(), text, at])?;
    let seq = tx.last_insert_rowid();
    match event {
        Event::StepStarted { key, input } => {
            if let Some(input) = input {
                let item = key
                    .item
                    .map_or(-1, |i| i64::try_from(i).unwrap_or(i64::MAX));
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO attempts
                       (run_id, step, visit, item, iteration, attempt, seq, started_seq, status, input, fuel, memory_peak, duration_ms, result, complete)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 'running', ?8, 0, 0, 0, 'null', 0)")?
            .execute(
                    params![run_id, key.step, key.visit, item, key.iteration, key.attempt, seq, capped_json(input).0],
                )?;
            }
            tx.prepare_cached(
                "INSERT INTO steps (run_id, step, status, attempts, duration_ms, fuel, seq)
                 VALUES (?1, ?2, 'running', 0, 0, 0, ?3)
                 ON CONFLICT (run_id, step) DO UPDATE SET status = 'running'",
            )?
            .execute(params![run_id, key.step, seq])?;
        }
        Event::StepSucceeded {
            key,
            duration_ms,
            fuel,
            memory_peak_bytes,
            output,
        } => {
            let result = AttemptResult::measured(
                Ok(output.clone()),
                *duration_ms,
                *fuel,
                *memory_peak_bytes,
            );
            record_attempt(tx, run_id, key, seq, &result)?;
        }
        Event::StepFailed {
            key,
            duration_ms,
            fuel,
            memory_peak_bytes,
            failure,
            ..
        } => {
            let result = AttemptResult::measured(
                Err(failure.clone()),
                *duration_ms,
                *fuel,
                *memory_peak_bytes,
            );
            record_attempt(tx, run_id, key, seq, &result)?;
        }
        Event::StepFinished {
            step,
            status,
            attempts,
            duration_ms,
            fuel,
            memory_peak_bytes,
            output,
            failure,
        } => {
            let output = output.as_ref().map(|o| capped_json(o).0);
            let failure_text = failure.as_ref().map(|f| capped_json(f).0);
            tx.prepare_cached(
                "INSERT INTO steps (run_id, step, status, attempts, duration_ms, fuel, kind, output, failure, seq, memory_peak)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (run_id, step) DO UPDATE SET status = excluded.status,
                   attempts = excluded.attempts, duration_ms = excluded.duration_ms,
                   fuel = excluded.fuel, kind = excluded.kind, output = excluded.output,
                   failure = excluded.failure, memory_peak = excluded.memory_peak")?
            .execute(
                params![
                    run_id,
                    step,
                    status.as_str(),
                    attempts,
                    duration_ms,
                    fuel,
                    failure.as_ref().map(|f| f.kind.as_str()),
                    output,
                    failure_text,
                    seq,
                    memory_peak_bytes
                ],
            )?;
        }
        Event::StepSkipped { step, .. } => {
            tx.prepare_cached(
                "INSERT INTO steps (run_id, step, status, attempts, duration_ms, fuel, seq)
                 VALUES (?1, ?2, 'skipped', 0, 0, 0, ?3)
                 ON CONFLICT (run_id, step) DO UPDATE SET status = 'skipped'",
            )?
            .execute(params![run_id, step, seq])?;
        }
        Event::RunFinished { status, error, .. } => {
            tx.prepare_cached(
                "UPDATE runs SET status = ?2, error = ?3, owner = NULL, lease_expires = NULL, requested = NULL WHERE id = ?1")?
            .execute(
                params![run_id, status.as_str(), error.as_ref().map(Value::to_string)],
            )?;
        }
        Event::RunStarted { .. }
        | Event::StepRetrying { .. }
        | Event::StepOutput { .. }
        | Event::RouteTaken { .. } => {}
    }
    Ok(())
}

fn record_attempt(
    tx: &Transaction<'_>,
    run_id: &str,
    key: &AttemptKey,
    seq: i64,
    result: &AttemptResult,
) -> rusqlite::Result<()> {
    let (text, complete) = capped_json(result);
    let item = key
        .item
        .map_or(-1, |i| i64::try_from(i).unwrap_or(i64::MAX));
    let (status, kind) = match &result.outcome {
        Ok(_) => ("succeeded", None),
        Err(failure) => ("failed", Some(failure.kind.as_str())),
    };
    tx.prepare_cached(
        "INSERT INTO attempts
           (run_id, step, visit, item, iteration, attempt, seq, status, kind, fuel, memory_peak, duration_ms, result, complete)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (run_id, step, visit, item, iteration, attempt) DO UPDATE SET
           seq = excluded.seq, status = excluded.status, kind = excluded.kind, fuel = excluded.fuel,
           memory_peak = excluded.memory_peak, duration_ms = excluded.duration_ms,
           result = excluded.result, complete = excluded.complete")?
            .execute(
        params![
            run_id,
            key.step,
            key.visit,
            item,
            key.iteration,
            key.attempt,
            seq,
            status,
            kind,
            result.fuel,
            result.memory_peak_bytes,
            result.duration_ms,
            text,
            complete
        ],
    )?;
    Ok(())
}
