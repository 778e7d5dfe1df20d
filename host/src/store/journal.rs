//! The journal: records every event of a run as it happens, from a writer
//! thread (the store never runs on the async executor). Events are
//! committed in order, each with the state it changes, in one transaction
//! per batch: the journal is always a prefix of the run's event stream,
//! never half an event. The thread renews the run's lease, watches for
//! `pause` / `cancel` requests from other processes, and, while a step
//! waits, delivers the signals sent to the run. When a write fails
//! (the disk is full, the lease was taken over) the run is stopped: it
//! never goes on unrecorded.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::lease::Lease;
use super::{RunStore, StoreError, now_seconds};
use crate::engine::{Control, Event, Observer, Stop};

/// How often the writer looks for requests from other processes, whether
/// events keep arriving or not.
const REQUEST_POLL: Duration = Duration::from_millis(50);
/// The most events committed in one transaction.
const BATCH: usize = 256;

enum Message {
    Event(Box<Event>),
    /// The end of a step that a resumed run re-enacted: recorded only when
    /// the journal does not hold it yet (see [`StepEnds`]).
    Replayed(Box<Event>),
    Flush(mpsc::SyncSender<()>),
}

/// Records a run's events; an [`Observer`] for the engine.
#[derive(Debug)]
pub struct Journal {
    sender: Option<Sender<Message>>,
    writer: Option<JoinHandle<Result<(), StoreError>>>,
}

impl Journal {
    /// Start journaling the run `lease` holds into `store`.
    pub fn start(
        store: Box<dyn RunStore>,
        lease: Lease,
        control: Arc<Control>,
    ) -> Result<Self, StoreError> {
        // Signals sent before (or while no process drove the run) are in
        // the mailbox before any step can wait.
        control.signals().deliver(store.signals(&lease.run_id, 0)?);
        let (sender, receiver) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("wfhost-journal".into())
            .spawn(move || {
                let result = write(store, lease, &receiver, &control);
                if result.is_err() {
                    // Nothing more can be recorded: stop the run rather
                    // than let it go on unrecorded.
                    control.request(Stop::Interrupt);
                }
                result
            })
            .map_err(|error| {
                StoreError::Refused(format!("cannot start the journal thread: {error}"))
            })?;
        Ok(Self {
            sender: Some(sender),
            writer: Some(writer),
        })
    }

    /// Wait until everything sent so far is committed.
    pub fn flush(&self) {
        let (done, wait) = mpsc::sync_channel(1);
        if let Some(sender) = &self.sender
            && sender.send(Message::Flush(done)).is_ok()
        {
            let _ = wait.recv();
        }
    }

    /// Commit what is left and stop the writer; its first error, if any.
    pub fn finish(mut self) -> Result<(), StoreError> {
        self.sender.take();
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(StoreError::Refused("the journal thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.sender.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Journal {
    fn send(&mut self, message: Message) {
        let sent = self
            .sender
            .as_ref()
            .is_some_and(|sender| sender.send(message).is_ok());
        if !sent && self.sender.take().is_some() {
            // The writer stopped on an error; `finish` reports it. Say so now too.
            tracing::error!(
                "the journal stopped recording this run; `wfhost` will report why when the run ends"
            );
        }
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

fn write(
    mut store: Box<dyn RunStore>,
    mut lease: Lease,
    receiver: &Receiver<Message>,
    control: &Control,
) -> Result<(), StoreError> {
    let crash_after: Option<u64> = std::env::var(CRASH_AFTER_COMMITS)
        .ok()
        .and_then(|n| n.parse().ok());
    let batch = if crash_after.is_some() { 1 } else { BATCH };
    let mut commits = 0_u64;
    let mut ends = StepEnds::load(store.as_ref(), &lease.run_id)?;
    let mut polled = Instant::now();
    loop {
        // A busy run sends events faster than the poll interval: requests
        // are read on time anyway.
        if polled.elapsed() >= REQUEST_POLL {
            polled = Instant::now();
            if let Some(stop) = store.requested(&lease.run_id)? {
                control.request(stop);
            }
            let mailbox = control.signals();
            if mailbox.wanted() {
                mailbox.deliver(store.signals(&lease.run_id, mailbox.seen())?);
            }
            if lease.due(now_seconds()) {
                store.renew(&mut lease)?;
            }
        }
        let first = match receiver.recv_timeout(REQUEST_POLL.saturating_sub(polled.elapsed())) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        let mut events = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Event(event) => {
                    ends.recorded(&event);
                    events.push(event);
                }
                Message::Replayed(event) => {
                    if ends.missing(&event) {
                        ends.recorded(&event);
                        events.push(event);
                    }
                }
                Message::Flush(done) => flushes.push(done),
            }
            next = if events.len() < batch {
                receiver.try_recv().ok()
            } else {
                None
            };
        }
        if !events.is_empty() {
            store.append(&mut lease, &events)?;
            commits += 1;
            if crash_after == Some(commits) {
                let _ = rustix::process::kill_process(
                    rustix::process::getpid(),
                    rustix::process::Signal::KILL,
                );
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// The ends (`step_finished`, `step_skipped`) the journal holds for each
/// step of a run, and those a resumed run has re-enacted: a crash between
/// the commit of a step's last attempt and the commit of its end leaves the
/// step `running`; the resumed run re-enacts the step and records its end
/// then. Each step's recorded visits are re-enacted in order, so the nth
/// re-enacted end is the journal's nth end of that step, when that one was
/// committed.
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
