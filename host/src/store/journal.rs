//! The journal: records every event of a run as it happens, from a writer
//! thread (the store never runs on the async executor). Events are
//! committed in order, each with the state it changes, in one transaction
//! per batch: the journal is always a prefix of the run's event stream,
//! never half an event. When a write fails (the disk is full, the lease
//! was taken over) the run is stopped: it never goes on unrecorded.
//!
//! One [`JournalHub`] (a thread and a connection) journals any number of
//! runs: `wfhost serve` keeps one for all the runs it drives, so a run
//! costs no thread and no connection of its own (a thousand waiting runs
//! fit in little memory), and events of many runs are committed in one
//! pass. Every 50 ms the hub also renews the leases of its runs, reads the
//! stops other processes asked for them, and delivers the signals sent to
//! them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::lease::{Lease, Owner};
use super::records::Batch;
use super::{RunStore, StoreError, now_seconds};
use crate::engine::{Control, Event, Observer, Stop};

/// How often the writer looks for requests and signals from other
/// processes, and renews leases, whether events keep arriving or not.
const REQUEST_POLL: Duration = Duration::from_millis(50);
/// The most events committed in one pass.
const BATCH: usize = 256;

/// What a run's journal sends its hub.
enum Message {
    Event(Box<Event>),
    /// The end of a step that a resumed run re-enacted: recorded only when
    /// the journal does not hold it yet (see [`StepEnds`]).
    Replayed(Box<Event>),
    Flush(SyncSender<()>),
}

enum Command {
    /// Journal the run `lease` holds; answered (when asked) once its
    /// recorded state and signals are loaded.
    Open {
        run: u64,
        lease: Lease,
        control: Arc<Control>,
        ready: Option<SyncSender<Result<(), StoreError>>>,
    },
    Run(u64, Message),
    /// Commit what is left of the run and forget it; its first error.
    Close {
        run: u64,
        done: Option<SyncSender<Result<(), StoreError>>>,
    },
}

/// A writer thread and its connection, journaling many runs.
#[derive(Debug)]
pub struct JournalHub {
    sender: Option<Sender<Command>>,
    writer: Option<JoinHandle<()>>,
    next: AtomicU64,
}

impl JournalHub {
    /// Start the writer on `store`.
    pub fn start(mut store: Box<dyn RunStore>) -> Result<Self, StoreError> {
        store.journal_only()?;
        let (sender, receiver) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("wfhost-journal".into())
            .spawn(move || Writer::new(store).serve(&receiver))
            .map_err(|error| {
                StoreError::Refused(format!("cannot start the journal thread: {error}"))
            })?;
        Ok(Self {
            sender: Some(sender),
            writer: Some(writer),
            next: AtomicU64::new(0),
        })
    }

    /// Journal the run `lease` holds. Returns once signals sent to the run
    /// before are in `control`'s mailbox (before any step can wait).
    pub fn journal(&self, lease: Lease, control: Arc<Control>) -> Result<Journal, StoreError> {
        let (ready, wait) = mpsc::sync_channel(1);
        let journal = self.open(lease, control, Some(ready))?;
        wait.recv().map_err(|_| stopped())??;
        Ok(journal)
    }

    /// Journal the run `lease` holds, without waiting for the writer: the
    /// engine may start at once. Signals sent before reach the run's
    /// mailbox a moment later (a step that waits gets them then); a
    /// failure to open stops the run and is [`Journal::finish`]'s error.
    pub fn journal_now(&self, lease: Lease, control: Arc<Control>) -> Result<Journal, StoreError> {
        self.open(lease, control, None)
    }

    fn open(
        &self,
        lease: Lease,
        control: Arc<Control>,
        ready: Option<SyncSender<Result<(), StoreError>>>,
    ) -> Result<Journal, StoreError> {
        let run = self.next.fetch_add(1, Ordering::Relaxed);
        let sender = self.sender.clone().ok_or_else(stopped)?;
        sender
            .send(Command::Open {
                run,
                lease,
                control,
                ready,
            })
            .map_err(|_| stopped())?;
        Ok(Journal {
            run,
            sender: Some(sender),
            hub: None,
        })
    }
}

impl Drop for JournalHub {
    fn drop(&mut self) {
        self.sender.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Refused("the journal thread stopped".into())
}

/// Records one run's events; an [`Observer`] for the engine.
#[derive(Debug)]
pub struct Journal {
    run: u64,
    sender: Option<Sender<Command>>,
    /// The hub, when this journal has one of its own (see [`Journal::start`]).
    hub: Option<JournalHub>,
}

impl Journal {
    /// Journal the run `lease` holds into `store`, on a hub of its own (one
    /// run: `wfhost run`, `wfhost resume`).
    pub fn start(
        store: Box<dyn RunStore>,
        lease: Lease,
        control: Arc<Control>,
    ) -> Result<Self, StoreError> {
        let hub = JournalHub::start(store)?;
        let mut journal = hub.journal(lease, control)?;
        journal.hub = Some(hub);
        Ok(journal)
    }

    /// Wait until everything sent so far is committed.
    pub fn flush(&self) {
        let (done, wait) = mpsc::sync_channel(1);
        if let Some(sender) = &self.sender
            && sender
                .send(Command::Run(self.run, Message::Flush(done)))
                .is_ok()
        {
            let _ = wait.recv();
        }
    }

    /// Commit what is left and close the run's journal; its first error.
    pub fn finish(mut self) -> Result<(), StoreError> {
        let (done, wait) = mpsc::sync_channel(1);
        let sent = self.sender.take().is_some_and(|sender| {
            sender
                .send(Command::Close {
                    run: self.run,
                    done: Some(done),
                })
                .is_ok()
        });
        let result = if sent {
            wait.recv().unwrap_or_else(|_| Err(stopped()))
        } else {
            Err(stopped())
        };
        drop(self.hub.take());
        result
    }

    fn send(&mut self, message: Message) {
        let sent = self
            .sender
            .as_ref()
            .is_some_and(|sender| sender.send(Command::Run(self.run, message)).is_ok());
        if !sent && self.sender.take().is_some() {
            tracing::error!(
                "the journal stopped recording this run; `wfhost` will report why when the run ends"
            );
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            let _ = sender.send(Command::Close {
                run: self.run,
                done: None,
            });
        }
        drop(self.hub.take());
    }
}

impl Observer for Journal {
    fn event(&mut self, event: &Event) {
        self.send(Message::Event(Box::new(event.clone())));
    }

    fn replayed(&mut self, event: &Event) {
        // Only the end of a step changes state a crash may have left
        // unrecorded (its attempts are recorded, or it would not replay).
        if ending(event).is_some() {
            self.send(Message::Replayed(Box::new(event.clone())));
        }
    }
}

/// Fault injection for crash tests: with `WFHOST_TEST_CRASH_AFTER_COMMITS=N`
/// the journal commits one event per transaction and kills its own process
/// with SIGKILL right after the Nth commit of this process, so a test can
/// stop a run between any two commits of its journal, deterministically.
const CRASH_AFTER_COMMITS: &str = "WFHOST_TEST_CRASH_AFTER_COMMITS";

/// A run the hub journals.
struct Entry {
    lease: Lease,
    control: Arc<Control>,
    ends: StepEnds,
    /// The first write that failed: nothing more is recorded for the run.
    error: Option<StoreError>,
    /// Events received and not committed yet.
    #[allow(clippy::vec_box)] // as they arrive, and as `append` takes them
    pending: Vec<Box<Event>>,
}

/// The hub's thread.
struct Writer {
    store: Box<dyn RunStore>,
    runs: HashMap<u64, Entry>,
    /// The newest signal seen (by `seq`): each poll asks for what follows.
    signals_seen: i64,
    crash_after: Option<u64>,
    commits: u64,
}

impl Writer {
    fn new(store: Box<dyn RunStore>) -> Self {
        Self {
            store,
            runs: HashMap::new(),
            signals_seen: 0,
            crash_after: std::env::var(CRASH_AFTER_COMMITS)
                .ok()
                .and_then(|n| n.parse().ok()),
            commits: 0,
        }
    }

    fn serve(mut self, receiver: &Receiver<Command>) {
        let batch = if self.crash_after.is_some() { 1 } else { BATCH };
        let mut polled = Instant::now();
        loop {
            // A busy run sends events faster than the poll interval:
            // requests are read on time anyway.
            if polled.elapsed() >= REQUEST_POLL {
                polled = Instant::now();
                self.poll();
            }
            let first = match receiver.recv_timeout(REQUEST_POLL.saturating_sub(polled.elapsed())) {
                Ok(command) => command,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut flushes = Vec::new();
            let mut received = 0;
            let mut next = Some(first);
            while let Some(command) = next {
                match command {
                    Command::Open {
                        run,
                        lease,
                        control,
                        ready,
                    } => {
                        let opened = self.open(run, lease, control);
                        if let Some(ready) = ready {
                            let _ = ready.send(opened);
                        }
                    }
                    Command::Run(run, message) => {
                        received += 1;
                        self.receive(run, message, &mut flushes);
                    }
                    Command::Close { run, done } => {
                        self.commit_run(run);
                        let result = self
                            .runs
                            .remove(&run)
                            .and_then(|entry| entry.error)
                            .map_or(Ok(()), Err);
                        if let Some(done) = done {
                            let _ = done.send(result);
                        }
                    }
                }
                next = if received < batch {
                    receiver.try_recv().ok()
                } else {
                    None
                };
            }
            self.commit_all();
            for done in flushes {
                let _ = done.send(());
            }
        }
    }

    /// Start journaling a run: what its journal holds, and the signals
    /// sent before (or while no process drove it). A failure stops the run
    /// (its `finish` reports it) and is returned.
    fn open(&mut self, run: u64, lease: Lease, control: Arc<Control>) -> Result<(), StoreError> {
        let loaded = StepEnds::load(self.store.as_ref(), &lease.run_id).and_then(|ends| {
            control
                .signals()
                .deliver(self.store.signals(&lease.run_id, 0)?);
            Ok(ends)
        });
        let (ends, failed) = match loaded {
            Ok(ends) => (ends, None),
            Err(error) => (StepEnds::default(), Some(error)),
        };
        let entry = self.runs.entry(run).or_insert(Entry {
            lease,
            control,
            ends,
            error: None,
            pending: Vec::new(),
        });
        match failed {
            None => Ok(()),
            Some(error) => {
                let answer = StoreError::Refused(error.to_string());
                fail(entry, error);
                Err(answer)
            }
        }
    }

    fn receive(&mut self, run: u64, message: Message, flushes: &mut Vec<SyncSender<()>>) {
        let Some(entry) = self.runs.get_mut(&run) else {
            return;
        };
        match message {
            Message::Event(event) => {
                entry.ends.recorded(&event);
                entry.pending.push(event);
            }
            Message::Replayed(event) => {
                if entry.ends.missing(&event) {
                    entry.ends.recorded(&event);
                    entry.pending.push(event);
                }
            }
            Message::Flush(done) => {
                // Answered once what came before is committed.
                self.commit_run(run);
                flushes.push(done);
            }
        }
    }

    /// Commit the run's pending events in one transaction.
    fn commit_run(&mut self, run: u64) {
        let Some(entry) = self.runs.get_mut(&run) else {
            return;
        };
        if entry.pending.is_empty() {
            return;
        }
        let events = std::mem::take(&mut entry.pending);
        if entry.error.is_some() {
            return;
        }
        if let Err(error) = self.store.append(&mut entry.lease, &events) {
            fail(entry, error);
            return;
        }
        self.count_commit();
    }

    /// Commit every run's pending events in one transaction.
    fn commit_all(&mut self) {
        let runs: Vec<u64> = self
            .runs
            .iter()
            .filter(|(_, entry)| entry.error.is_none() && !entry.pending.is_empty())
            .map(|(run, _)| *run)
            .collect();
        match runs.as_slice() {
            [] => return,
            [run] => return self.commit_run(*run),
            _ => {}
        }
        let mut parts: Vec<(u64, Lease, Vec<Box<Event>>)> = runs
            .iter()
            .filter_map(|run| {
                let entry = self.runs.get_mut(run)?;
                Some((
                    *run,
                    entry.lease.clone(),
                    std::mem::take(&mut entry.pending),
                ))
            })
            .collect();
        let mut batches: Vec<Batch<'_>> = parts
            .iter_mut()
            .map(|(_, lease, events)| Batch {
                lease,
                events: events.as_slice(),
                result: Ok(()),
            })
            .collect();
        let outcome = self.store.append_many(&mut batches);
        let results: Vec<Result<(), StoreError>> =
            batches.into_iter().map(|batch| batch.result).collect();
        if outcome.is_ok() {
            self.count_commit();
        }
        for ((run, lease, _), result) in parts.into_iter().zip(results) {
            let Some(entry) = self.runs.get_mut(&run) else {
                continue;
            };
            match (&outcome, result) {
                (Err(error), _) => fail(entry, StoreError::Refused(error.to_string())),
                (Ok(()), Err(error)) => fail(entry, error),
                (Ok(()), Ok(())) => entry.lease = lease,
            }
        }
    }

    /// One more commit (the crash tests' fault injection counts them).
    fn count_commit(&mut self) {
        self.commits += 1;
        if self.crash_after == Some(self.commits) {
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
        }
    }

    /// Renew leases that are due, pass on stops asked for the runs, and
    /// deliver new signals.
    fn poll(&mut self) {
        if self.runs.is_empty() {
            return;
        }
        let now = now_seconds();
        for entry in self.runs.values_mut() {
            if entry.error.is_none()
                && entry.lease.due(now)
                && let Err(error) = self.store.renew(&mut entry.lease)
            {
                fail(entry, error);
            }
        }
        if let Err(error) = self.deliver_requests_and_signals() {
            // Stops and signals would go unseen: stop the runs instead.
            for entry in self.runs.values_mut() {
                fail(entry, StoreError::Refused(error.to_string()));
            }
        }
    }

    /// Pass on the stops asked for the runs and the signals sent to them.
    fn deliver_requests_and_signals(&mut self) -> Result<(), StoreError> {
        let mut owners: Vec<&Owner> = self.runs.values().map(|e| &e.lease.owner).collect();
        owners.sort_by_key(|owner| owner.id());
        owners.dedup();
        let mut requests = Vec::new();
        for owner in owners {
            requests.extend(self.store.requested_of(owner)?);
        }
        for (run_id, stop) in requests {
            if let Some(entry) = self.runs.values().find(|e| e.lease.run_id == run_id) {
                entry.control.request(stop);
            }
        }
        for (run_id, signal) in self.store.signals_after(self.signals_seen)? {
            self.signals_seen = self.signals_seen.max(signal.seq);
            if let Some(entry) = self.runs.values().find(|e| e.lease.run_id == run_id) {
                entry.control.signals().deliver([signal]);
            }
        }
        Ok(())
    }
}

/// A write for the run failed: nothing more can be recorded for it, so
/// stop it rather than let it go on unrecorded.
fn fail(entry: &mut Entry, error: StoreError) {
    tracing::error!(
        "run {}: the journal cannot record: {error}",
        entry.lease.run_id
    );
    entry.control.request(Stop::Interrupt);
    entry.error.get_or_insert(error);
}

/// The ends (`step_finished`, `step_skipped`) the journal holds for each
/// step of a run, and those a resumed run has re-enacted: a crash between
/// the commit of a step's last attempt and the commit of its end leaves the
/// step `running`; the resumed run re-enacts the step and records its end
/// then. Each step's recorded visits are re-enacted in order, so the nth
/// re-enacted end is the journal's nth end of that step, when that one was
/// committed.
#[derive(Default)]
struct StepEnds {
    recorded: HashMap<String, u32>,
    replayed: HashMap<String, u32>,
}

impl StepEnds {
    fn load(store: &dyn RunStore, run_id: &str) -> Result<Self, StoreError> {
        Ok(Self {
            recorded: store.step_ends(run_id)?,
            replayed: HashMap::new(),
        })
    }

    /// Note an end about to be recorded.
    fn recorded(&mut self, event: &Event) {
        if let Some(step) = ending(event) {
            count(&mut self.recorded, step);
        }
    }

    /// Whether the replayed `event` is an end the journal does not hold.
    fn missing(&mut self, event: &Event) -> bool {
        let Some(step) = ending(event) else {
            return false;
        };
        let nth = count(&mut self.replayed, step);
        self.recorded.get(step).copied().unwrap_or(0) < nth
    }
}

/// Count one more for `step` (its id copied only the first time: this runs
/// for every step's end).
fn count(counts: &mut HashMap<String, u32>, step: &str) -> u32 {
    if let Some(n) = counts.get_mut(step) {
        *n += 1;
        return *n;
    }
    counts.insert(step.to_string(), 1);
    1
}

/// The step `event` ends, if it is a step's end.
fn ending(event: &Event) -> Option<&str> {
    match event {
        Event::StepFinished { step, .. } | Event::StepSkipped { step, .. } => Some(step),
        _ => None,
    }
}
