//! The node tree → the [`model`](super::model), collecting *every* problem
//! with its position instead of stopping at the first (which is what a
//! derived `Deserialize` would do).

use indexmap::IndexMap;
use serde_json::Value;

use super::model::{
    Access, Approvals, Backoff, Branch, ByteSize, Catchup, Circuit, Concurrency, Conditional,
    DurationText, FsGrant, InputSpec, InputType, Loop, OnLimit, OnTimeout, Overlap, Parallel,
    Permissions, Retry, Route, Step, StepLimits, Trigger, VarSpec, Wait, WaitFor, WebhookAuth,
    WebhookScheme, Workflow, WorkflowLimits,
};
use super::tree::{Node, NodeKind};
use crate::diagnostics::Spanned;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::suggest::closest;
use crate::units::{parse_duration, parse_size};

/// Collects problems while reading.
#[derive(Debug, Default)]
pub struct Reader {
    pub problems: Diagnostics,
}

/// A value that can be read from a node, reporting problems to the reader.
pub trait FromNode: Sized {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self>;
}

/// The entries of a map whose keys were checked against the allowed ones.
#[derive(Debug)]
pub struct Fields<'n> {
    node: &'n Node,
    what: &'static str,
    entries: &'n [(Spanned<String>, Node)],
}

impl Reader {
    pub fn error(&mut self, diagnostic: Diagnostic) {
        self.problems.push(diagnostic);
    }

    fn expected<T>(&mut self, node: &Node, expected: &str) -> Option<T> {
        self.error(Diagnostic::error(
            node.span,
            format!("expected {expected}, found {}", node.kind_name()),
        ));
        None
    }

    /// `node` as a map of `what` whose keys must be among `allowed`.
    pub fn fields<'n>(
        &mut self,
        node: &'n Node,
        what: &'static str,
        allowed: &[&str],
    ) -> Option<Fields<'n>> {
        let NodeKind::Map(entries) = &node.kind else {
            return self.expected(node, &format!("a map ({what})"));
        };
        for (key, _) in entries {
            if !allowed.contains(&key.value.as_str()) {
                self.error(
                    Diagnostic::error(key.span, format!("unknown key `{}` in {what}", key.value))
                        .suggest(closest(&key.value, allowed.iter().copied()))
                        .with_help_if_none(format!("expected one of: {}", allowed.join(", "))),
                );
            }
        }
        Some(Fields {
            node,
            what,
            entries,
        })
    }
}

impl Fields<'_> {
    /// The key as written and its value.
    pub fn entry(&self, key: &str) -> Option<(&Spanned<String>, &Node)> {
        self.entries
            .iter()
            .find(|(k, _)| k.value == key)
            .map(|(k, node)| (k, node))
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.value == key)
            .map(|(_, node)| node)
    }

    /// An optional key; absent or `null` is `None`.
    pub fn optional<T: FromNode>(&self, reader: &mut Reader, key: &str) -> Option<T> {
        match self.get(key) {
            None => None,
            Some(node) if node.kind == NodeKind::Null => None,
            Some(node) => T::from_node(node, reader),
        }
    }

    /// A key with a default when absent.
    pub fn or_default<T: FromNode + Default>(&self, reader: &mut Reader, key: &str) -> T {
        self.optional(reader, key).unwrap_or_default()
    }

    /// A key that must be present.
    pub fn required<T: FromNode>(&self, reader: &mut Reader, key: &str) -> Option<T> {
        match self.get(key) {
            Some(node) => T::from_node(node, reader),
            None => {
                reader.error(Diagnostic::error(
                    self.node.span,
                    format!("missing `{key}` in {}", self.what),
                ));
                None
            }
        }
    }
}

impl FromNode for String {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        match &node.kind {
            NodeKind::String(s) => Some(s.clone()),
            // `version: 1.10` means the text, not the number 1.1.
            NodeKind::Number(_, text) => Some(text.clone()),
            _ => reader.expected(node, "a string"),
        }
    }
}

impl FromNode for bool {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        match node.kind {
            NodeKind::Bool(b) => Some(b),
            _ => reader.expected(node, "true or false"),
        }
    }
}

impl FromNode for u64 {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        match &node.kind {
            NodeKind::Number(n, _) if n.as_u64().is_some() => n.as_u64(),
            _ => reader.expected(node, "a whole number ≥ 0"),
        }
    }
}

impl FromNode for u32 {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        match &node.kind {
            NodeKind::Number(n, _) => match n.as_u64().map(u32::try_from) {
                Some(Ok(n)) => Some(n),
                _ => reader.expected(node, "a whole number from 0 to 4294967295"),
            },
            _ => reader.expected(node, "a whole number"),
        }
    }
}

impl FromNode for Value {
    fn from_node(node: &Node, _: &mut Reader) -> Option<Self> {
        Some(node.to_json())
    }
}

impl<T: FromNode> FromNode for Spanned<T> {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        T::from_node(node, reader).map(|value| Spanned::new(node.span, value))
    }
}

impl<T: FromNode> FromNode for Vec<T> {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let NodeKind::Seq(items) = &node.kind else {
            return reader.expected(node, "a list");
        };
        // Read every item so each problem is reported; keep the good ones
        // (in place: a step is over a kilobyte, a workflow may have 25,000).
        let mut read = Vec::with_capacity(items.len());
        for item in items {
            if let Some(value) = T::from_node(item, reader) {
                read.push(value);
            }
        }
        Some(read)
    }
}

impl<T: FromNode> FromNode for IndexMap<String, T> {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let NodeKind::Map(entries) = &node.kind else {
            return reader.expected(node, "a map");
        };
        Some(
            entries
                .iter()
                .filter_map(|(key, value)| {
                    T::from_node(value, reader).map(|v| (key.value.clone(), v))
                })
                .collect(),
        )
    }
}

impl FromNode for DurationText {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let NodeKind::String(text) = &node.kind else {
            return reader.expected(node, "a duration such as `30s`");
        };
        match parse_duration(text) {
            Ok(duration) => Some(Self(duration)),
            Err(problem) => {
                reader.error(Diagnostic::error(node.span, problem));
                None
            }
        }
    }
}

impl FromNode for ByteSize {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        match &node.kind {
            NodeKind::Number(n, _) if n.as_u64().is_some() => n.as_u64().map(Self),
            NodeKind::String(text) => match parse_size(text) {
                Ok(bytes) => Some(Self(bytes)),
                Err(problem) => {
                    reader.error(Diagnostic::error(node.span, problem));
                    None
                }
            },
            _ => reader.expected(node, "a size such as `64MiB`"),
        }
    }
}

/// A keyword from a fixed list, with "did you mean" on a typo.
fn keyword<T>(
    node: &Node,
    reader: &mut Reader,
    names: &[&str],
    parse: impl Fn(&str) -> Option<T>,
) -> Option<T> {
    let text = String::from_node(node, reader)?;
    parse(&text).or_else(|| {
        reader.error(
            Diagnostic::error(
                node.span,
                format!("`{text}` is not one of: {}", names.join(", ")),
            )
            .suggest(closest(&text, names.iter().copied())),
        );
        None
    })
}

impl FromNode for InputType {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        keyword(node, reader, Self::NAMES, Self::parse)
    }
}

impl FromNode for Backoff {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        keyword(node, reader, &["fixed", "exponential"], |s| match s {
            "fixed" => Some(Self::Fixed),
            "exponential" => Some(Self::Exponential),
            _ => None,
        })
    }
}

impl FromNode for WaitFor {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        keyword(node, reader, &["all", "any"], |s| match s {
            "all" => Some(Self::All),
            "any" => Some(Self::Any),
            _ => None,
        })
    }
}

impl FromNode for Workflow {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let f = reader.fields(
            node,
            "the workflow",
            &[
                "name",
                "version",
                "description",
                "inputs",
                "vars",
                "context",
                "outputs",
                "limits",
                "steps",
                "onFailure",
                "finally",
                "permissions",
                "triggers",
                "concurrency",
                "circuits",
            ],
        )?;
        let steps = f.required(reader, "steps");
        Some(Self {
            name: f.required(reader, "name")?,
            version: f.optional(reader, "version"),
            description: f.optional(reader, "description"),
            inputs: f.or_default(reader, "inputs"),
            vars: f.or_default(reader, "vars"),
            context: f.or_default(reader, "context"),
            outputs: f.or_default(reader, "outputs"),
            limits: f.or_default(reader, "limits"),
            on_failure: f.optional(reader, "onFailure"),
            finally: f.or_default(reader, "finally"),
            permissions: f.or_default(reader, "permissions"),
            triggers: f.or_default(reader, "triggers"),
            concurrency: f.optional(reader, "concurrency"),
            circuits: f.or_default(reader, "circuits"),
            steps: steps?,
        })
    }
}

const CRON_KEYS: [&str; 4] = ["timezone", "catchup", "catchup_window", "overlap"];
const WEBHOOK_KEYS: [&str; 2] = ["auth", "dedupe"];

impl FromNode for Trigger {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let mut allowed = vec!["cron", "webhook", "inputs"];
        allowed.extend(CRON_KEYS);
        allowed.extend(WEBHOOK_KEYS);
        let f = reader.fields(node, "a trigger", &allowed)?;
        let (cron, webhook) = (f.entry("cron"), f.entry("webhook"));
        let misplaced: &[&str] = match (cron, webhook) {
            (Some(_), Some((key, _))) => {
                reader.error(
                    Diagnostic::error(
                        key.span,
                        "a trigger is either `cron` or `webhook`, not both",
                    )
                    .with_help("write two triggers"),
                );
                return None;
            }
            (None, None) => {
                reader.error(Diagnostic::error(
                    node.span,
                    "a trigger needs `cron: EXPRESSION` or `webhook: /PATH`",
                ));
                return None;
            }
            (Some(_), None) => &WEBHOOK_KEYS,
            (None, Some(_)) => &CRON_KEYS,
        };
        for key in misplaced {
            if let Some((written, _)) = f.entry(key) {
                reader.error(Diagnostic::error(
                    written.span,
                    format!(
                        "`{key}` belongs to a {} trigger",
                        if webhook.is_some() { "cron" } else { "webhook" }
                    ),
                ));
            }
        }
        let auth = f.optional(reader, "auth");
        if webhook.is_some() && auth.is_none() {
            reader.error(
                Diagnostic::error(node.span, "a webhook needs `auth`")
                    .with_help("for example `auth: { scheme: github-hmac-sha256, secret_env: GH_HOOK_SECRET }` (or `standard-webhooks`, `bearer`)"),
            );
        }
        Some(Self {
            span: node.span,
            cron: f.optional(reader, "cron"),
            webhook: f.optional(reader, "webhook"),
            auth,
            dedupe: f.optional(reader, "dedupe"),
            timezone: f.optional(reader, "timezone"),
            catchup: f.optional(reader, "catchup"),
            catchup_window: f.optional(reader, "catchup_window"),
            overlap: f.optional(reader, "overlap"),
            inputs: f.or_default(reader, "inputs"),
        })
    }
}

impl FromNode for WebhookAuth {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let f = reader.fields(node, "webhook auth", &["scheme", "secret_env"])?;
        let secret_env = match f.get("secret_env") {
            Some(one) if matches!(one.kind, NodeKind::String(_)) => {
                vec![Spanned::<String>::from_node(one, reader)?]
            }
            _ => f.required(reader, "secret_env")?,
        };
        Some(Self {
            scheme: f.required(reader, "scheme")?,
            secret_env,
        })
    }
}

impl FromNode for WebhookScheme {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        keyword(
            node,
            reader,
            &["github-hmac-sha256", "standard-webhooks", "bearer"],
            |s| match s {
                "github-hmac-sha256" => Some(Self::GithubHmacSha256),
                "standard-webhooks" => Some(Self::StandardWebhooks),
                "bearer" => Some(Self::Bearer),
                _ => None,
            },
        )
    }
}

impl FromNode for Concurrency {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let f = reader.fields(
            node,
            "concurrency",
            &["key", "limit", "on_limit", "max_queued"],
        )?;
        let key = f.required(reader, "key");
        let limit = f.required(reader, "limit");
        Some(Self {
            on_limit: f.optional(reader, "on_limit"),
            max_queued: f.optional(reader, "max_queued"),
            key: key?,
            limit: limit?,
        })
    }
}

impl FromNode for OnLimit {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        keyword(
            node,
            reader,
            &["queue", "cancel-newest", "cancel-running"],
            |s| match s {
                "queue" => Some(Self::Queue),
                "cancel-newest" => Some(Self::CancelNewest),
                "cancel-running" => Some(Self::CancelRunning),
                _ => None,
            },
        )
    }
}

impl FromNode for Catchup {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        keyword(node, reader, &["latest", "all", "none"], |s| match s {
            "latest" => Some(Self::Latest),
            "all" => Some(Self::All),
            "none" => Some(Self::None),
            _ => None,
        })
    }
}

impl FromNode for Overlap {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        keyword(
            node,
            reader,
            &["skip", "queue-one", "allow", "cancel-running"],
            |s| match s {
                "skip" => Some(Self::Skip),
                "queue-one" => Some(Self::QueueOne),
                "allow" => Some(Self::Allow),
                "cancel-running" => Some(Self::CancelRunning),
                _ => None,
            },
        )
    }
}

impl FromNode for InputSpec {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let f = reader.fields(
            node,
            "a workflow input",
            &["type", "default", "required", "description"],
        )?;
        Some(Self {
            ty: f.or_default(reader, "type"),
            default: f.optional(reader, "default"),
            required: f.optional(reader, "required"),
            description: f.optional(reader, "description"),
        })
    }
}

impl FromNode for VarSpec {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let f = reader.fields(node, "a run variable", &["type", "value", "description"])?;
        Some(Self {
            ty: f.or_default(reader, "type"),
            value: f.optional(reader, "value"),
            description: f.optional(reader, "description"),
        })
    }
}

const STEP_LIMIT_KEYS: [&str; 3] = ["fuel", "memory", "timeout"];

impl FromNode for StepLimits {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let f = reader.fields(node, "step limits", &STEP_LIMIT_KEYS)?;
        Some(step_limits(&f, reader))
    }
}

fn step_limits(f: &Fields<'_>, reader: &mut Reader) -> StepLimits {
    StepLimits {
        fuel: f.optional(reader, "fuel"),
        memory: f.optional(reader, "memory"),
        timeout: f.optional(reader, "timeout"),
    }
}

impl FromNode for WorkflowLimits {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let mut allowed = STEP_LIMIT_KEYS.to_vec();
        allowed.extend(["max_concurrent_steps", "workflow_timeout"]);
        let f = reader.fields(node, "workflow limits", &allowed)?;
        Some(Self {
            step: step_limits(&f, reader),
            max_concurrent_steps: f.optional(reader, "max_concurrent_steps"),
            workflow_timeout: f.optional(reader, "workflow_timeout"),
        })
    }
}

/// Every key a step may have; also used for "did you mean".
pub const STEP_KEYS: &[&str] = &[
    "id",
    "description",
    "module",
    "action",
    "workflow",
    "inputs",
    "onSuccess",
    "onFailure",
    "limits",
    "timeout",
    "retry",
    "continue_on_error",
    "needs",
    "if",
    "set",
    "max_visits",
    "foreach",
    "concurrency",
    "loop",
    "parallel",
    "wait",
    "sleep",
    "until",
    "permissions",
    "circuit",
];

impl FromNode for Step {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let f = reader.fields(node, "a step", STEP_KEYS)?;
        let id = f.required(reader, "id");
        let step = Self {
            description: f.optional(reader, "description"),
            module: f.optional(reader, "module"),
            action: f.optional(reader, "action"),
            workflow: f.optional(reader, "workflow"),
            inputs: f.or_default(reader, "inputs"),
            on_success: f.optional(reader, "onSuccess"),
            on_failure: f.optional(reader, "onFailure"),
            limits: f.or_default(reader, "limits"),
            timeout: f.optional(reader, "timeout"),
            retry: f.optional(reader, "retry"),
            continue_on_error: f.or_default(reader, "continue_on_error"),
            needs: f.or_default(reader, "needs"),
            condition: f.optional(reader, "if"),
            set: f.or_default(reader, "set"),
            max_visits: f.optional(reader, "max_visits"),
            foreach: f.optional(reader, "foreach"),
            concurrency: f.optional(reader, "concurrency"),
            repeat: f.optional(reader, "loop"),
            parallel: f.optional(reader, "parallel"),
            wait: f.optional(reader, "wait"),
            sleep: f.optional(reader, "sleep"),
            until: f.optional(reader, "until"),
            permissions: f.or_default(reader, "permissions"),
            circuit: f.optional(reader, "circuit"),
            id: id?,
        };
        Some(step)
    }
}

impl FromNode for Permissions {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let f = reader.fields(node, "permissions", &["fs", "env", "run", "net"])?;
        Some(Self {
            fs: f.or_default(reader, "fs"),
            env: f.or_default(reader, "env"),
            run: f.or_default(reader, "run"),
            net: f.or_default(reader, "net"),
        })
    }
}

impl FromNode for FsGrant {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let f = reader.fields(node, "a filesystem grant", &["path", "access"])?;
        let access = f.or_default(reader, "access");
        Some(Self {
            path: f.required(reader, "path")?,
            access,
        })
    }
}

impl FromNode for Access {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        keyword(node, reader, &["read", "read-write"], |s| match s {
            "read" => Some(Self::Read),
            "read-write" => Some(Self::ReadWrite),
            _ => None,
        })
    }
}

impl FromNode for Route {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        match &node.kind {
            NodeKind::String(_) => Spanned::from_node(node, reader).map(Route::Goto),
            NodeKind::Seq(_) => Vec::from_node(node, reader).map(Route::Branches),
            NodeKind::Map(_) => Conditional::from_node(node, reader).map(Route::Conditional),
            _ => reader.expected(
                node,
                "a step id, a list of `when`/`goto` branches, or `condition`/`then`/`else`",
            ),
        }
    }
}

impl FromNode for Branch {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let f = reader.fields(node, "a route branch", &["when", "goto"])?;
        let when = f.optional(reader, "when");
        Some(Self {
            when,
            goto: f.required(reader, "goto")?,
        })
    }
}

impl FromNode for Conditional {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let f = reader.fields(node, "a conditional route", &["condition", "then", "else"])?;
        let then = f.optional(reader, "then");
        let otherwise = f.optional(reader, "else");
        Some(Self {
            condition: f.required(reader, "condition")?,
            then,
            otherwise,
        })
    }
}

impl FromNode for Circuit {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let f = reader.fields(
            node,
            "a circuit breaker",
            &["failures", "within", "open_for"],
        )?;
        let failures = f.required(reader, "failures");
        let within = f.required(reader, "within");
        let open_for = f.required(reader, "open_for");
        Some(Self {
            failures: failures?,
            within: within?,
            open_for: open_for?,
        })
    }
}

impl FromNode for Retry {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let f = reader.fields(
            node,
            "a retry policy",
            &["max_attempts", "backoff", "initial", "max", "jitter", "on"],
        )?;
        let max_attempts = f.required(reader, "max_attempts");
        Some(Self {
            backoff: f.or_default(reader, "backoff"),
            initial: f.optional(reader, "initial"),
            max: f.optional(reader, "max"),
            jitter: f.or_default(reader, "jitter"),
            on: f.or_default(reader, "on"),
            max_attempts: max_attempts?,
        })
    }
}

impl FromNode for Loop {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let f = reader.fields(node, "a loop", &["until", "max_iterations"])?;
        let until = f.required(reader, "until");
        let max_iterations = f.required(reader, "max_iterations");
        Some(Self {
            until: until?,
            max_iterations: max_iterations?,
        })
    }
}

impl FromNode for Parallel {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let f = reader.fields(node, "a parallel group", &["branches", "wait_for"])?;
        let branches = f.required(reader, "branches");
        Some(Self {
            wait_for: f.or_default(reader, "wait_for"),
            branches: branches?,
        })
    }
}

impl FromNode for Wait {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let f = reader.fields(
            node,
            "a wait",
            &["signal", "type", "timeout", "on_timeout", "approvals"],
        )?;
        let approvals: Option<Approvals> = f.optional(reader, "approvals");
        let signal = if approvals.is_some() {
            f.optional(reader, "signal")
        } else {
            Some(f.required(reader, "signal")?)
        };
        Some(Self {
            signal,
            ty: f.optional(reader, "type"),
            timeout: f.optional(reader, "timeout"),
            on_timeout: f.optional(reader, "on_timeout"),
            approvals,
        })
    }
}

impl FromNode for Approvals {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        let f = reader.fields(node, "approvals", &["required", "from", "not_by_starter"])?;
        Some(Self {
            required: f.optional(reader, "required"),
            from: f.or_default(reader, "from"),
            not_by_starter: f.or_default(reader, "not_by_starter"),
        })
    }
}

impl FromNode for OnTimeout {
    fn from_node(node: &Node, reader: &mut Reader) -> Option<Self> {
        if let NodeKind::String(text) = &node.kind {
            if text == "fail" {
                return Some(Self::Fail);
            }
            return reader.expected(node, "`fail` or `{ value: V }`");
        }
        let f = reader.fields(node, "`on_timeout`", &["value"])?;
        f.required(reader, "value").map(Self::Value)
    }
}
