//! What a module asks for, from its manifest, in words a person reviews.

use serde::Serialize;

/// One capability a module asks for, with the author's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ask {
    #[serde(flatten)]
    pub kind: AskKind,
    pub reason: String,
    /// Not required: the module works (perhaps with less) when it is not
    /// granted, so validation does not insist.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// The actions that need it; empty: every action.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
}

/// The capability itself. `*` stands for "whatever the workflow grants of
/// this kind": the module cannot know the directories, programs or hosts of
/// the repository it will work on, so the workflow names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "capability", rename_all = "kebab-case")]
pub enum AskKind {
    Fs { path: String, writable: bool },
    Env { name: String },
    Run { program: String },
    Net { host: String },
}

/// "Any granted" marker in an ask.
pub const ANY: &str = "*";

impl Ask {
    /// Whether the ask concerns `action` (an action's WIT name).
    pub fn applies_to(&self, action: &str) -> bool {
        self.actions.is_empty() || self.actions.iter().any(|a| a == action)
    }

    /// What the module asks for, as a phrase: "read-write `docs`".
    pub fn describe(&self) -> String {
        match &self.kind {
            AskKind::Fs { path, writable } => {
                let access = if *writable { "read-write" } else { "read" };
                if path == ANY {
                    format!("{access} the directories the workflow grants")
                } else {
                    format!("{access} `{path}`")
                }
            }
            AskKind::Env { name } if name == ANY => {
                "read the environment variables the workflow grants".into()
            }
            AskKind::Env { name } => format!("read the environment variable `{name}`"),
            AskKind::Run { program } if program == ANY => {
                "run the programs the workflow names (outside the sandbox)".into()
            }
            AskKind::Run { program } => format!("run `{program}` (outside the sandbox)"),
            AskKind::Net { host } if host == ANY => {
                "connect to the hosts the workflow names".into()
            }
            AskKind::Net { host } => format!("connect to `{host}`"),
        }
    }

    /// The `permissions:` a workflow adds to grant it, as one line of YAML.
    pub fn yaml_to_add(&self) -> String {
        let inner = match &self.kind {
            AskKind::Fs { path, writable } => {
                let path = if path == ANY { "." } else { path };
                let access = if *writable { "read-write" } else { "read" };
                format!("fs: [{{ path: {path}, access: {access} }}]")
            }
            AskKind::Env { name } => {
                format!("env: [{}]", if name == ANY { "NAME" } else { name })
            }
            AskKind::Run { program } => {
                format!(
                    "run: [{}]",
                    if program == ANY { "PROGRAM" } else { program }
                )
            }
            AskKind::Net { host } => {
                format!(
                    "net: [\"{}\"]",
                    if host == ANY { "HOST:PORT" } else { host }
                )
            }
        };
        format!("permissions: {{ {inner} }}")
    }
}
