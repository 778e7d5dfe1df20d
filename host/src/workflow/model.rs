//! The workflow format: what a YAML or JSON workflow file may say.
//!
//! These types are read from the file by [`super::read`] (which collects
//! every problem with its position) and describe the JSON Schema printed by
//! `wfhost schema`; doc comments here become the schema's descriptions.

use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde_json::Value;

use crate::diagnostics::{Span, Spanned};

/// A workflow: a graph of steps, each calling an action of a WebAssembly module.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(title = "wfhost workflow", deny_unknown_fields)]
pub struct Workflow {
    /// The workflow's name, shown in runs and reports.
    pub name: Spanned<String>,
    /// A version for people; not interpreted.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Typed parameters given with `wfhost run --input NAME=VALUE`.
    #[serde(default)]
    pub inputs: IndexMap<String, InputSpec>,
    /// Run variables, typed, with their first values (`count: { type:
    /// integer, value: 0 }`): steps update them with `set:`, templates read
    /// them as `{{ vars.name }}`.
    #[serde(default)]
    pub vars: IndexMap<String, VarSpec>,
    /// Read-only values for every step, as `{{ context.name }}`. A value
    /// may read the workflow's inputs (`"{{ inputs.env }}-eu"`): it is
    /// evaluated once, when the run starts.
    #[serde(default)]
    pub context: IndexMap<String, Spanned<Value>>,
    /// What a run of this workflow gives back when it succeeds, by name:
    /// each a value or a template over the run's scope (`"{{
    /// steps.double.output }}"`), evaluated when the run ends. A parent
    /// workflow reads them as `steps.<id>.output.<name>`.
    #[serde(default)]
    pub outputs: IndexMap<String, Spanned<Value>>,
    /// Defaults for every step, and limits of the whole run.
    #[serde(default)]
    pub limits: WorkflowLimits,
    /// The steps. Steps that no route targets and that have no `needs` start the run.
    pub steps: Vec<Step>,
    /// A step to run when the run fails (an error handler); it sees `workflow.error`.
    #[serde(default, rename = "onFailure")]
    pub on_failure: Option<Spanned<String>>,
    /// Steps that always run at the end, whatever happened (cleanup, notification).
    #[serde(default)]
    pub finally: Vec<Spanned<String>>,
    /// What every step may reach beyond its sandbox (nothing by default).
    #[serde(default)]
    pub permissions: Permissions,
    /// What starts the workflow on its own while `wfhost serve` runs.
    #[serde(default)]
    pub triggers: Vec<Trigger>,
    /// How many runs with the same key may run at once, across processes
    /// (`wfhost run` and `wfhost serve` on one home).
    #[serde(default)]
    pub concurrency: Option<Concurrency>,
    /// Circuit breakers by module reference (as steps write it, `flaky` or
    /// `flaky@1`): for every step calling that module's actions, unless the
    /// step has a `circuit` of its own.
    #[serde(default)]
    pub circuits: IndexMap<String, Circuit>,
}

/// A circuit breaker: after `failures` failed calls of an action within
/// `within`, across runs and processes on one home, its calls fail at once
/// with kind `circuit-open` for `open_for`; then one probe call is let
/// through, and its success closes the breaker.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Circuit {
    /// Failed calls that open the breaker (at least 1).
    pub failures: Spanned<u32>,
    /// The window they are counted in (`10m`).
    pub within: Spanned<DurationText>,
    /// How long calls fail at once before a probe (`5m`).
    pub open_for: Spanned<DurationText>,
}

/// A limit on runs at once, by key.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Concurrency {
    /// Runs with the same key share the limit; a template over `inputs`
    /// (`"deploy-{{ inputs.env }}"`).
    pub key: Spanned<String>,
    /// How many may run at once (at least 1).
    pub limit: Spanned<u32>,
    /// What a run beyond the limit does: `queue` (default; starts when a
    /// slot frees, oldest first), `cancel-newest` (it is recorded
    /// cancelled), `cancel-running` (the running ones are cancelled, it
    /// starts when their slots free).
    #[serde(default)]
    pub on_limit: Option<OnLimit>,
    /// The most runs waiting for one key (default 100); beyond, a run is refused.
    #[serde(default)]
    pub max_queued: Option<Spanned<u32>>,
}

/// What a run beyond its concurrency limit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OnLimit {
    #[default]
    Queue,
    CancelNewest,
    CancelRunning,
}

/// What starts the workflow under `wfhost serve`: a cron schedule
/// (`cron`) or an HTTP endpoint (`webhook`), exactly one of them.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Trigger {
    /// Where the trigger is written (for messages).
    #[schemars(skip)]
    pub span: Span,
    /// Five fields (`minute hour day-of-month month day-of-week`), or six
    /// whose first is seconds; `@hourly`, `@daily`… too. Ticks follow the
    /// expression's grid in `timezone`.
    #[serde(default)]
    pub cron: Option<Spanned<String>>,
    /// A path (`/hooks/github`) the server answers POST requests on, as
    /// written (outside `/v1`); each accepted request starts a run.
    #[serde(default)]
    pub webhook: Option<Spanned<String>>,
    /// How a webhook request proves who sent it.
    #[serde(default)]
    pub auth: Option<WebhookAuth>,
    /// A template over the request whose value identifies a delivery: a
    /// repeat gets the first run's id instead of a new run
    /// (`"{{ headers['x-github-delivery'] }}"`).
    #[serde(default)]
    pub dedupe: Option<Spanned<String>>,
    /// An IANA time zone name (`Europe/Berlin`); default UTC. A local time
    /// skipped by a daylight-saving change fires once at the next valid
    /// time; a repeated hour fires once.
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
    /// Ticks missed while no server ran: `latest` (default) starts one run
    /// for the newest, `all` one per tick (within `catchup_window`, at most
    /// 100), `none` starts nothing. Every missed tick is recorded.
    #[serde(default)]
    pub catchup: Option<Catchup>,
    /// How far back `catchup: all` reaches (default 24h).
    #[serde(default)]
    pub catchup_window: Option<Spanned<DurationText>>,
    /// A tick while this schedule's previous run still runs: `skip`
    /// (default; recorded), `queue-one` (start it when the previous ends;
    /// further ticks meanwhile are skipped), `allow` (start anyway),
    /// `cancel-running` (cancel the previous, then start).
    #[serde(default)]
    pub overlap: Option<Overlap>,
    /// The workflow's inputs for runs it starts, checked against
    /// `inputs:`. A cron trigger's are literal values; a webhook's may be
    /// templates over the request (`"{{ body.after }}"`).
    #[serde(default)]
    pub inputs: IndexMap<String, Spanned<Value>>,
}

/// A webhook's authentication: a scheme and the environment variables
/// holding its secrets (several while a secret is rotated; any verifies).
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct WebhookAuth {
    pub scheme: Spanned<WebhookScheme>,
    /// One variable name, or a list.
    #[schemars(with = "OneOrMany")]
    pub secret_env: Vec<Spanned<String>>,
}

/// One string or a list of them (what the schema says `secret_env` takes).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // describes the schema only
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// How a webhook request is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WebhookScheme {
    /// GitHub: `X-Hub-Signature-256: sha256=HEX`, HMAC-SHA256 of the body.
    GithubHmacSha256,
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp` (within 5
    /// minutes) and `webhook-signature: v1,BASE64` over `id.timestamp.body`,
    /// with a `whsec_` secret.
    StandardWebhooks,
    /// `Authorization: Bearer SECRET`.
    Bearer,
}

/// What a schedule does with the ticks it missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Catchup {
    #[default]
    Latest,
    All,
    None,
}

/// What a tick does while the schedule's previous run still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Overlap {
    #[default]
    Skip,
    QueueOne,
    Allow,
    CancelRunning,
}

/// Capability grants: deny by default, grant explicitly.
#[derive(Debug, Clone, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Permissions {
    /// Directories, relative to the workspace root, preopened at the same path in the guest.
    #[serde(default)]
    pub fs: Vec<FsGrant>,
    /// Host environment variables the guest may read, by name.
    #[serde(default)]
    pub env: Vec<Spanned<String>>,
    /// Host programs the guest may run through the `wfhost:module/process`
    /// import, by name (looked up on the host's `PATH`). A program runs
    /// outside the sandbox, as you.
    #[serde(default)]
    pub run: Vec<Spanned<String>>,
    /// `host:port` pairs the guest may connect to over TCP.
    #[serde(default)]
    pub net: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct FsGrant {
    /// A directory relative to the workspace root (`.` for the root itself).
    pub path: Spanned<String>,
    #[serde(default)]
    pub access: Access,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    #[default]
    Read,
    ReadWrite,
}

/// A typed workflow parameter.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct InputSpec {
    #[serde(rename = "type", default)]
    pub ty: InputType,
    /// Used when the parameter is not given; makes it optional.
    #[serde(default)]
    pub default: Option<Value>,
    /// Defaults to true when there is no `default`.
    #[serde(default)]
    pub required: Option<bool>,
    #[serde(default)]
    pub description: Option<String>,
}

impl InputSpec {
    /// Whether a run must be given it: `required`, or else when it has no
    /// `default`.
    pub fn is_required(&self) -> bool {
        self.required.unwrap_or(self.default.is_none())
    }
}

/// A run variable: its type and first value.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct VarSpec {
    #[serde(rename = "type", default)]
    pub ty: InputType,
    /// Its value when the run starts (default `null`).
    #[serde(default)]
    pub value: Option<Spanned<Value>>,
    #[serde(default)]
    pub description: Option<String>,
}

/// The JSON type of a workflow parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    #[default]
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
    Any,
}

impl InputType {
    pub const NAMES: &[&str] = &[
        "string", "integer", "number", "boolean", "object", "array", "any",
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "string" => Self::String,
            "integer" => Self::Integer,
            "number" => Self::Number,
            "boolean" => Self::Boolean,
            "object" => Self::Object,
            "array" => Self::Array,
            "any" => Self::Any,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Does `value` have this type?
    pub fn accepts(self, value: &Value) -> bool {
        match self {
            Self::String => value.is_string(),
            Self::Integer => value.is_i64() || value.is_u64(),
            Self::Number => value.is_number(),
            Self::Boolean => value.is_boolean(),
            Self::Object => value.is_object(),
            Self::Array => value.is_array(),
            Self::Any => true,
        }
    }
}

/// Limits for every step, plus limits of the run as a whole.
#[derive(Debug, Clone, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct WorkflowLimits {
    #[serde(flatten)]
    pub step: StepLimits,
    /// How many steps may run at once (default: the number of CPUs).
    #[serde(default)]
    pub max_concurrent_steps: Option<Spanned<u32>>,
    /// Wall-clock limit of the whole run, e.g. `30m`.
    #[serde(default)]
    pub workflow_timeout: Option<Spanned<DurationText>>,
}

/// Sandbox limits of one step attempt.
#[derive(Debug, Clone, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct StepLimits {
    /// Fuel: about one unit per WebAssembly instruction.
    #[serde(default)]
    pub fuel: Option<Spanned<u64>>,
    /// Total linear memory, e.g. `64MiB`.
    #[serde(default)]
    pub memory: Option<Spanned<ByteSize>>,
    /// Wall-clock limit of one attempt, e.g. `30s`.
    #[serde(default)]
    pub timeout: Option<Spanned<DurationText>>,
}

/// One step: an action step (`module` and `action`), a sub-workflow
/// (`workflow`), a parallel group (`parallel`), a wait for a signal
/// (`wait`) or a timer (`sleep`, `until`).
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Step {
    /// Unique within the workflow; other steps route to it and read `steps.<id>`.
    pub id: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// A bundled or installed module name (`name` or `name@version`), or a path to a
    /// component relative to the workflow file (`./probe.wasm`).
    #[serde(default)]
    pub module: Option<Spanned<String>>,
    /// The action: its WIT function name, or `interface.function`.
    #[serde(default)]
    pub action: Option<Spanned<String>>,
    /// Run another workflow file as a child run (a path relative to this
    /// file, `./build.yaml`) instead of calling an action: `inputs` are its
    /// inputs, its `outputs` the step's output.
    #[serde(default)]
    pub workflow: Option<Spanned<String>>,
    /// The action's parameters by WIT name (a sub-workflow's inputs by
    /// name); strings may hold `{{ }}` templates.
    #[serde(default)]
    pub inputs: IndexMap<String, Spanned<Value>>,
    /// Where to go when the step succeeds.
    #[serde(default, rename = "onSuccess")]
    pub on_success: Option<Route>,
    /// Where to go when the step fails (after its retries).
    #[serde(default, rename = "onFailure")]
    pub on_failure: Option<Route>,
    #[serde(default)]
    pub limits: StepLimits,
    /// The same as `limits.timeout`.
    #[serde(default)]
    pub timeout: Option<Spanned<DurationText>>,
    #[serde(default)]
    pub retry: Option<Retry>,
    /// Record a failure and go on as if the step had succeeded.
    #[serde(default)]
    pub continue_on_error: bool,
    /// Steps that must all succeed before this one starts.
    #[serde(default)]
    pub needs: Vec<Spanned<String>>,
    /// A `{{ }}` condition evaluated when the step is entered: false skips
    /// the step (recorded `skipped`, output `null`) and the path goes on
    /// along `onSuccess`; a skipped step counts as done for `needs`.
    #[serde(default, rename = "if")]
    pub condition: Option<Spanned<String>>,
    /// Run variables to update after the step succeeds, by name: each a
    /// value or a template (`"{{ vars.count + 1 }}"`) of the variable's type.
    #[serde(default)]
    pub set: IndexMap<String, Spanned<Value>>,
    /// How many times a route may enter this step: bounds a cycle through it.
    #[serde(default)]
    pub max_visits: Option<Spanned<u32>>,
    /// Run the action once per item of this list (`item`, `index` in scope); the
    /// step's output is the list of outputs.
    #[serde(default)]
    pub foreach: Option<Spanned<String>>,
    /// How many items of a `foreach` run at once (default 4).
    #[serde(default)]
    pub concurrency: Option<Spanned<u32>>,
    /// Repeat the action until a condition holds.
    #[serde(default, rename = "loop")]
    pub repeat: Option<Loop>,
    /// Run branches concurrently and join them before this step's routes.
    #[serde(default)]
    pub parallel: Option<Parallel>,
    /// Wait for a signal (`wfhost signal`, `POST /v1/runs/{id}/signals/{name}`)
    /// instead of calling an action: its payload is the step's output.
    #[serde(default)]
    pub wait: Option<Wait>,
    /// A durable timer instead of an action: wait this long (`2h`) from
    /// when the step begins; the deadline is journaled, so a run resumed
    /// after a crash waits only the rest.
    #[serde(default)]
    pub sleep: Option<Spanned<DurationText>>,
    /// A durable timer: wait until this time, one `{{ }}` expression giving
    /// an RFC 3339 time (`2026-12-01T09:00:00Z`) or seconds since the Unix
    /// epoch; a time past goes on at once.
    #[serde(default)]
    pub until: Option<Spanned<String>>,
    /// Grants for this step, added to the workflow's.
    #[serde(default)]
    pub permissions: Permissions,
    /// A circuit breaker for this step's action (over the workflow's
    /// `circuits` entry for its module).
    #[serde(default)]
    pub circuit: Option<Circuit>,
}

/// Where a step's outcome leads.
#[derive(Debug, Clone, JsonSchema)]
#[serde(untagged)]
pub enum Route {
    /// Go to this step.
    Goto(Spanned<String>),
    /// The first branch whose `when` holds; a branch without `when` is the default.
    Branches(Vec<Branch>),
    /// `condition` true → `then`, otherwise `else`.
    Conditional(Conditional),
}

#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Branch {
    /// A `{{ }}` condition.
    #[serde(default)]
    pub when: Option<Spanned<String>>,
    pub goto: Spanned<String>,
}

#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Conditional {
    pub condition: Spanned<String>,
    #[serde(default)]
    pub then: Option<Spanned<String>>,
    #[serde(default, rename = "else")]
    pub otherwise: Option<Spanned<String>>,
}

/// Try a failed step again before taking `onFailure`.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Retry {
    /// Attempts in all, the first included.
    pub max_attempts: Spanned<u32>,
    #[serde(default)]
    pub backoff: Backoff,
    /// Delay before the second attempt (default `1s`).
    #[serde(default)]
    pub initial: Option<Spanned<DurationText>>,
    /// Largest delay (default `60s`).
    #[serde(default)]
    pub max: Option<Spanned<DurationText>>,
    /// Randomise each delay between zero and its value ("full jitter").
    #[serde(default)]
    pub jitter: bool,
    /// Failure kinds to retry. Default: `trap`, `timeout`, and errors the guest marks retryable.
    #[serde(default)]
    #[schemars(with = "Vec<FailureKindName>")]
    pub on: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backoff {
    Fixed,
    #[default]
    Exponential,
}

/// Repeat a step's action until `until` holds, at most `max_iterations` times.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Loop {
    /// A `{{ }}` condition evaluated after each iteration, with `steps.<this>.output` set.
    pub until: Spanned<String>,
    pub max_iterations: Spanned<u32>,
}

/// Branches that run concurrently; each branch is the step it starts at and
/// runs along its routes until its path ends.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Parallel {
    pub branches: Vec<Spanned<String>>,
    #[serde(default)]
    pub wait_for: WaitFor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WaitFor {
    /// Every branch must succeed.
    #[default]
    All,
    /// The first branch to succeed completes the group; the others are cancelled.
    Any,
}

/// What a waiting step waits for. It holds no sandbox and no slot of
/// `max_concurrent_steps` while it waits.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Wait {
    /// The signal's name (letters, digits, `_`, `-`); the first signal of
    /// that name the run has not used yet is taken, sent before or during
    /// the wait. With `approvals`, default: the step's id.
    #[serde(default)]
    pub signal: Option<Spanned<String>>,
    /// The payload's WIT type (`"record { approved: bool, comment:
    /// option<string> }"`): a signal of another type is refused when it is
    /// sent, and later steps' references to the output are checked against
    /// it. Default `any`: any JSON.
    #[serde(default, rename = "type")]
    pub ty: Option<Spanned<String>>,
    /// How long to wait, counted from when the wait began (kept across a
    /// crash and `wfhost resume`); default: without end.
    #[serde(default)]
    pub timeout: Option<Spanned<DurationText>>,
    /// After `timeout`: `fail` (default; failure kind `wait-timeout`,
    /// routable with `onFailure`), or `{ value: V }` to succeed with `V`
    /// (of the payload's type).
    #[serde(default)]
    pub on_timeout: Option<OnTimeout>,
    /// Wait for people to approve (`wfhost approve RUN STEP`, `wfhost
    /// reject`, `POST /v1/runs/{id}/approvals/{step}`): the payload type is
    /// `record { approved: bool, comment: option<string> }`; one rejection
    /// fails the step (kind `rejected`); the output is `{ approved: true,
    /// approvals: [{ by, comment }] }`.
    #[serde(default)]
    pub approvals: Option<Approvals>,
}

/// Who must approve a wait.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Approvals {
    /// How many different people must approve (default 1).
    #[serde(default)]
    pub required: Option<Spanned<u32>>,
    /// Who may approve (user names: `--as` or the OS user on the command
    /// line, the token's name over the API); default: anyone.
    #[serde(default)]
    pub from: Vec<Spanned<String>>,
    /// The person who started the run may not approve it.
    #[serde(default)]
    pub not_by_starter: bool,
}

impl Wait {
    /// The payload type of every approval.
    pub const APPROVAL_TYPE: &str = "record { approved: bool, comment: option<string> }";
    /// What a step that waits for approvals outputs.
    pub const APPROVALS_OUTPUT: &str = "record { approved: bool, approvals: list<record { by: string, comment: option<string> }> }";

    /// The signal it takes: `signal`, or for approvals the step's id.
    pub fn signal_name<'w>(&'w self, step: &'w str) -> &'w str {
        self.signal.as_ref().map_or(step, |s| s.value.as_str())
    }

    /// The payload's WIT type as written (`any` when not given).
    pub fn type_text(&self) -> &str {
        match (&self.approvals, &self.ty) {
            (Some(_), _) => Self::APPROVAL_TYPE,
            (None, Some(ty)) => ty.value.as_str(),
            (None, None) => "any",
        }
    }
}

/// What a wait does when its timeout passes.
#[derive(Debug, Clone, JsonSchema)]
pub enum OnTimeout {
    /// The step fails with kind `wait-timeout`.
    #[serde(rename = "fail")]
    Fail,
    /// The step succeeds with this value.
    #[serde(rename = "value")]
    Value(Spanned<Value>),
}

/// A failure kind, by name: what the schema offers for `retry.on`.
struct FailureKindName;

impl JsonSchema for FailureKindName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FailureKind".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = super::StepFailureKind::names().collect();
        schemars::json_schema!({
            "type": "string",
            "description": "A failure kind (`steps.<id>.error.kind`).",
            "enum": names
        })
    }
}

/// A duration such as `500ms`, `30s`, `5m`, `1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationText(pub Duration);

impl JsonSchema for DurationText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration: `500ms`, `30s`, `5m`, `1h`.",
            "pattern": "^[0-9]+(\\.[0-9]+)?\\s*[a-z]+"
        })
    }
}

/// A size such as `64MiB`, or a number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl JsonSchema for ByteSize {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Size".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": ["string", "integer"],
            "description": "A size: `64MiB`, `1GiB`, or a number of bytes."
        })
    }
}
