//! Cron triggers: every serving workflow's schedules, fired on their grid.
//!
//! Each tick is recorded under (schedule, scheduled time), and the run it
//! starts carries the idempotency key `cron:SCHEDULE@TIME`, so a tick
//! never starts two runs, even when the server is killed between starting
//! the run and recording the tick. A schedule seen for the first time owes
//! no earlier ticks (`registered`). Ticks that passed while no server ran
//! (older than [`CURRENT`] when seen) are caught up as the trigger's
//! `catchup` says (each caught-up tick starts its run, whatever runs), and
//! recorded `missed` otherwise; a tick that comes on time while the
//! schedule's previous run still runs follows its `overlap`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::clock::Clock;
use super::library::{Library, Workflow};
use super::runner::{Runner, RunnerError, StartRequest, Started};
use super::shared_store::SharedStore;
use crate::engine::{RunStatus, Stop, Trigger, TriggerKind};
use crate::store::{StoreError, TickOutcome};
use crate::workflow::model::{Catchup, Overlap};
use crate::workflow::plan::PlannedTrigger;

/// A tick seen within this long after its time is current; older ones
/// passed while no server ran.
pub const CURRENT: Duration = Duration::from_secs(10);
/// The most ticks one schedule catches up at once.
pub const MAX_CATCHUP: usize = 100;
/// The longest the scheduler sleeps (so new and changed workflows are seen).
const LONGEST_SLEEP: Duration = Duration::from_secs(1);

/// The schedule's identity in the store: the workflow, its expression and
/// zone (a changed expression is a new schedule).
pub fn schedule_key(workflow: &str, trigger: &PlannedTrigger) -> String {
    format!(
        "{workflow}:{} {}",
        trigger.schedule.expression(),
        trigger.schedule.zone().name()
    )
}

/// What the scheduler remembers of one schedule.
#[derive(Debug, Default)]
struct Memory {
    /// The newest tick dealt with (or when the schedule was registered).
    last: Option<DateTime<Utc>>,
    /// The run of the newest tick that started one.
    last_run: Option<String>,
    /// A tick waiting for the previous run to end (`queue-one`).
    queued: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub struct Scheduler {
    library: Arc<Library>,
    runner: Arc<Runner>,
    store: SharedStore,
    clock: Clock,
    memory: HashMap<String, Memory>,
    /// Schedules paused (through the API), as of this visit.
    paused: Vec<String>,
}

impl Scheduler {
    pub fn new(
        library: Arc<Library>,
        runner: Arc<Runner>,
        store: SharedStore,
        clock: Clock,
    ) -> Self {
        Self {
            library,
            runner,
            store,
            clock,
            memory: HashMap::new(),
            paused: Vec::new(),
        }
    }

    /// Fire schedules until the task is dropped.
    pub async fn run_forever(mut self) {
        loop {
            let next = self.visit_all().await;
            let now = self.clock.now();
            let wait = next
                .and_then(|next| (next - now).to_std().ok())
                .unwrap_or(LONGEST_SLEEP)
                .clamp(Duration::from_millis(10), LONGEST_SLEEP);
            tokio::time::sleep(wait).await;
        }
    }

    /// Deal with every schedule's due ticks; the soonest next tick.
    pub async fn visit_all(&mut self) -> Option<DateTime<Utc>> {
        let now = self.clock.now();
        let mut soonest: Option<DateTime<Utc>> = None;
        self.paused = match self.store.with(|store| store.paused_schedules()).await {
            Ok(paused) => paused,
            Err(error) => {
                tracing::warn!("cannot read paused schedules: {error}");
                return None;
            }
        };
        for listed in self.library.list() {
            let Some(workflow) = listed.serving else {
                continue;
            };
            for trigger in &workflow.plan.triggers {
                if let Err(error) = self.visit(&workflow, trigger, now).await {
                    tracing::warn!(
                        "schedule {}: {error}",
                        schedule_key(&workflow.name, trigger)
                    );
                }
                let next = trigger.schedule.next_after(now);
                soonest = match (soonest, next) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        soonest
    }

    async fn visit(
        &mut self,
        workflow: &Arc<Workflow>,
        trigger: &PlannedTrigger,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key = schedule_key(&workflow.name, trigger);
        if !self.memory.contains_key(&key) {
            let memory = self.recall(&key, now).await?;
            self.memory.insert(key.clone(), memory);
        }
        if let Some(queued) = self.memory[&key].queued
            && !self.previous_runs(&key).await?
        {
            self.memory.get_mut(&key).expect("remembered").queued = None;
            self.start(workflow, trigger, &key, queued).await?;
        }
        let last = self.memory[&key].last.unwrap_or(now);
        let (due, left_out) = trigger.schedule.ticks_between(last, now, MAX_CATCHUP);
        let Some(&newest) = due.last() else {
            return Ok(());
        };
        if left_out > 0 {
            tracing::warn!("schedule {key}: {left_out} older missed ticks were not recorded");
        }
        let current = |tick: &DateTime<Utc>| (now - *tick).to_std().unwrap_or_default() <= CURRENT;
        let window = |tick: &DateTime<Utc>| {
            (now - *tick).to_std().unwrap_or_default() <= trigger.catchup_window
        };
        let paused = self.paused.contains(&key);
        for tick in due {
            if paused {
                self.record(&key, tick, TickOutcome::Paused, None).await?;
                self.memory.get_mut(&key).expect("remembered").last = Some(tick);
                continue;
            }
            let fire = match trigger.catchup {
                Catchup::Latest => tick == newest,
                Catchup::All => window(&tick),
                Catchup::None => current(&tick),
            };
            if fire && current(&tick) {
                self.fire(workflow, trigger, &key, tick).await?;
            } else if fire {
                // A missed tick caught up: owed a run of its own, whatever
                // else runs (`overlap` is for ticks that come on time).
                self.start(workflow, trigger, &key, tick).await?;
            } else {
                self.record(&key, tick, TickOutcome::Missed, None).await?;
                self.runner.metrics().tick_missed(&workflow.name);
            }
            self.memory.get_mut(&key).expect("remembered").last = Some(tick);
        }
        Ok(())
    }

    /// What the store knows of schedule `key`; a new schedule is
    /// registered at `now`.
    async fn recall(&self, key: &str, now: DateTime<Utc>) -> Result<Memory, StoreError> {
        let owned = key.to_string();
        let ticks = self
            .store
            .with(move |store| store.ticks(&owned, 200))
            .await?;
        if ticks.is_empty() {
            self.record(key, now, TickOutcome::Registered, None).await?;
            return Ok(Memory {
                last: Some(now),
                ..Memory::default()
            });
        }
        Ok(Memory {
            last: ticks.first().and_then(|t| from_seconds(t.at)),
            last_run: ticks.iter().find_map(|t| t.run_id.clone()),
            queued: ticks
                .iter()
                .take_while(|t| t.outcome != TickOutcome::Started)
                .find(|t| t.outcome == TickOutcome::Queued)
                .and_then(|t| from_seconds(t.at)),
        })
    }

    /// Start a run for `tick`, unless the previous run still runs and the
    /// trigger's `overlap` says otherwise.
    async fn fire(
        &mut self,
        workflow: &Arc<Workflow>,
        trigger: &PlannedTrigger,
        key: &str,
        tick: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if self.previous_runs(key).await? {
            match trigger.overlap {
                Overlap::Allow => {}
                Overlap::Skip => return self.record(key, tick, TickOutcome::Skipped, None).await,
                Overlap::QueueOne => {
                    let memory = self.memory.get_mut(key).expect("remembered");
                    if memory.queued.is_some() {
                        return self.record(key, tick, TickOutcome::Skipped, None).await;
                    }
                    memory.queued = Some(tick);
                    return self.record(key, tick, TickOutcome::Queued, None).await;
                }
                Overlap::CancelRunning => {
                    if let Some(previous) = self.memory[key].last_run.clone()
                        && let Err(error) = self.runner.stop(&previous, Stop::Cancel).await
                    {
                        tracing::warn!("schedule {key}: cannot cancel run {previous}: {error}");
                    }
                }
            }
        }
        self.start(workflow, trigger, key, tick).await
    }

    async fn start(
        &mut self,
        workflow: &Arc<Workflow>,
        trigger: &PlannedTrigger,
        key: &str,
        tick: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let time = tick.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let started_by = format!("cron:{}#{}", workflow.name, trigger.index + 1);
        let idempotency_key = format!("cron:{key}@{time}");
        let started = self
            .runner
            .start(cron_request(
                workflow,
                trigger,
                time,
                &started_by,
                None,
                Some(&idempotency_key),
            ))
            .await;
        match started {
            Ok(started) => {
                let run = started.run_id().to_string();
                tracing::info!("schedule {key}: tick {tick} started run {run}");
                self.memory.get_mut(key).expect("remembered").last_run = Some(run.clone());
                self.record(key, tick, TickOutcome::Started, Some(run))
                    .await
            }
            Err(error) => {
                tracing::warn!("schedule {key}: tick {tick} could not start a run: {error}");
                self.record(key, tick, TickOutcome::Skipped, None).await
            }
        }
    }

    /// Whether the schedule's previous run is still running (or waiting
    /// for a concurrency slot: it will run).
    async fn previous_runs(&self, key: &str) -> Result<bool, StoreError> {
        let Some(run) = self.memory.get(key).and_then(|m| m.last_run.clone()) else {
            return Ok(false);
        };
        let status = self.store.with(move |store| store.run(&run)).await?.status;
        Ok(status.is_active() || status == RunStatus::Queued)
    }

    async fn record(
        &self,
        key: &str,
        tick: DateTime<Utc>,
        outcome: TickOutcome,
        run: Option<String>,
    ) -> Result<(), StoreError> {
        let key = key.to_string();
        let at = seconds(tick);
        self.store
            .with(move |store| store.record_tick(&key, at, outcome, run.as_deref()))
            .await
    }
}

/// What starts a run of `trigger` for the tick at `time` (RFC 3339).
fn cron_request<'a>(
    workflow: &Arc<Workflow>,
    trigger: &PlannedTrigger,
    time: String,
    started_by: &'a str,
    by: Option<String>,
    idempotency_key: Option<&'a str>,
) -> StartRequest<'a> {
    StartRequest {
        workflow: Arc::clone(workflow),
        inputs: trigger.inputs.clone(),
        started_by,
        trigger: Trigger {
            kind: TriggerKind::Cron,
            by,
            schedule: Some(format!(
                "{} ({})",
                trigger.schedule.expression(),
                trigger.schedule.zone().name()
            )),
            scheduled_time: Some(time),
            path: None,
        },
        idempotency_key,
        traceparent: None,
    }
}

/// Start a run of `trigger` now, outside its grid, for the API token
/// `token` (`POST /v1/schedules/…/trigger`).
pub async fn run_now(
    runner: &Arc<Runner>,
    workflow: &Arc<Workflow>,
    trigger: &PlannedTrigger,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Started, RunnerError> {
    let time = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let started_by = format!("api:{token}");
    runner
        .start(cron_request(
            workflow,
            trigger,
            time,
            &started_by,
            Some(token.to_string()),
            None,
        ))
        .await
}

/// The cron trigger at position `number` (1-based, counting every entry of
/// `triggers:`) of a serving workflow.
pub fn find(workflow: &Workflow, number: usize) -> Option<&PlannedTrigger> {
    workflow
        .plan
        .triggers
        .iter()
        .find(|trigger| trigger.index + 1 == number)
}

fn seconds(time: DateTime<Utc>) -> f64 {
    time.timestamp_millis() as f64 / 1000.0
}

fn from_seconds(seconds: f64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis((seconds * 1000.0).round() as i64)
}
