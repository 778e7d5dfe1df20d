//! What started a run, as its templates read it (`{{ trigger.kind }}`) and
//! as the store keeps it for resume.

use serde::{Deserialize, Serialize};

/// How a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerKind {
    /// `wfhost run`.
    #[default]
    Cli,
    /// `POST /v1/runs`.
    Api,
    /// A cron schedule of `wfhost serve`.
    Cron,
    /// A webhook of `wfhost serve`.
    Webhook,
    /// A `workflow:` step of another run (`by` names the parent run).
    Workflow,
}

impl TriggerKind {
    /// Every kind, in the order they are listed.
    pub const ALL: [TriggerKind; 5] = [
        TriggerKind::Cli,
        TriggerKind::Api,
        TriggerKind::Cron,
        TriggerKind::Webhook,
        TriggerKind::Workflow,
    ];

    /// As templates see it (`cli`, `api`, `cron`, `webhook`, `workflow`).
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Cli => "cli",
            TriggerKind::Api => "api",
            TriggerKind::Cron => "cron",
            TriggerKind::Webhook => "webhook",
            TriggerKind::Workflow => "workflow",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// What started a run. Every field is present in templates (`null` when it
/// does not apply), so a reference is never undefined.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Trigger {
    pub kind: TriggerKind,
    /// The API token's name that started it (the parent run's id for a
    /// sub-workflow).
    pub by: Option<String>,
    /// The cron expression (and zone) of the schedule.
    pub schedule: Option<String>,
    /// The tick a cron run was started for, RFC 3339.
    pub scheduled_time: Option<String>,
    /// The webhook path that started it.
    pub path: Option<String>,
}

impl Trigger {
    pub fn cli() -> Self {
        Self::default()
    }

    pub fn api(token: &str) -> Self {
        Self {
            kind: TriggerKind::Api,
            by: Some(token.to_string()),
            ..Self::default()
        }
    }

    pub fn webhook(path: &str) -> Self {
        Self {
            kind: TriggerKind::Webhook,
            path: Some(path.to_string()),
            ..Self::default()
        }
    }

    /// A sub-workflow's run, started by run `parent`.
    pub fn workflow(parent: &str) -> Self {
        Self {
            kind: TriggerKind::Workflow,
            by: Some(parent.to_string()),
            ..Self::default()
        }
    }

    /// As templates and the store see it.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::TriggerKind;

    #[test]
    fn a_kind_reads_as_templates_and_the_store_see_it() {
        for kind in TriggerKind::ALL {
            assert_eq!(serde_json::to_value(kind).ok(), Some(kind.as_str().into()));
            assert_eq!(TriggerKind::parse(kind.as_str()), Some(kind));
        }
    }
}
