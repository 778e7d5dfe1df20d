//! `GET /v1/runs/{id}/events`: a run's journal as Server-Sent Events, each
//! with its journal sequence number as `id`, so a client that reconnects
//! with `Last-Event-ID` (or `?after=SEQ`) misses nothing and sees nothing
//! twice. The stream ends after the run's last event once it has ended.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;

use super::error::ApiError;
use super::{ApiState, auth};
use crate::store::EventRecord;

/// How often the journal is looked at for new events.
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    after: Option<i64>,
}

pub async fn stream(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    auth::reader(&state, &headers).await?;
    let Query(query) = query.map_err(|rejection| super::bad_query(&rejection))?;
    let last_seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let after = last_seen.or(query.after).unwrap_or(0);
    // Unknown runs are refused before the stream starts.
    let run = id.clone();
    state.read(move |store| store.run(&run)).await?;
    let cursor = Cursor {
        state,
        id,
        after,
        pending: std::collections::VecDeque::new(),
        done: false,
    };
    let events = futures_util::stream::unfold(cursor, |mut cursor| async move {
        cursor.next().await.map(|event| (Ok(event), cursor))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

struct Cursor {
    state: Arc<ApiState>,
    id: String,
    after: i64,
    pending: std::collections::VecDeque<EventRecord>,
    done: bool,
}

impl Cursor {
    /// The next event, waiting for it; `None` once the run has ended and
    /// everything was sent (or the store cannot be read).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(record) = self.pending.pop_front() {
                self.after = record.seq;
                return Some(sse(&record));
            }
            if self.done {
                return None;
            }
            // A stopping server ends its streams after one last read; the
            // client reconnects with `Last-Event-ID` to whoever serves next.
            self.done = self.state.runner.is_closing();
            let (id, after) = (self.id.clone(), self.after);
            // Whether the run had ended is read before its events, so the
            // events read include its last one.
            let read = self
                .state
                .read(move |store| {
                    let ended = store.run(&id)?.status.is_ended();
                    Ok((ended, store.events(&id, None, after)?))
                })
                .await;
            match read {
                Ok((ended, events)) => {
                    self.done |= ended;
                    self.pending.extend(events);
                    if self.pending.is_empty() && !ended {
                        tokio::time::sleep(POLL).await;
                    }
                }
                Err(error) => {
                    tracing::warn!("events of run {}: {}", self.id, error.message);
                    return None;
                }
            }
        }
    }
}

fn sse(record: &EventRecord) -> Event {
    Event::default()
        .id(record.seq.to_string())
        .event(record.kind.as_str())
        .data(record.body.to_string())
}
