//! A workflow being written by `wfhost new`: steps in order, each with its
//! inputs and grants, chained by `onSuccess`; written out as YAML whose
//! every scalar is a JSON string or value (JSON is YAML), so nothing a
//! person typed can change its structure.

use std::fmt::Write as _;

use serde_json::Value;

/// One step as the wizard collected it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct DraftStep {
    pub id: String,
    pub module: String,
    pub action: String,
    /// By parameter name: a literal value, or a `{{ }}` reference string.
    pub inputs: Vec<(String, Value)>,
    /// Go on as if it had succeeded when it fails.
    pub continue_on_error: bool,
    /// Directories granted: (workspace-relative path, writable).
    pub fs: Vec<(String, bool)>,
    pub env: Vec<String>,
    pub run: Vec<String>,
    pub net: Vec<String>,
}

impl DraftStep {
    pub fn new(id: String, module: String, action: String) -> Self {
        Self {
            id,
            module,
            action,
            inputs: Vec::new(),
            continue_on_error: false,
            fs: Vec::new(),
            env: Vec::new(),
            run: Vec::new(),
            net: Vec::new(),
        }
    }

    fn has_grants(&self) -> bool {
        !(self.fs.is_empty() && self.env.is_empty() && self.run.is_empty() && self.net.is_empty())
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Draft {
    pub name: String,
    pub description: Option<String>,
    pub steps: Vec<DraftStep>,
}

impl Draft {
    /// A step id for `action` not taken yet: its name with `.` as `-`,
    /// then `-2`, `-3`…
    pub fn free_id(&self, action: &str) -> String {
        let base: String = action
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let base = if base.starts_with(|c: char| c.is_ascii_alphabetic()) {
            base
        } else {
            format!("step-{base}")
        };
        let taken = |id: &str| self.steps.iter().any(|s| s.id == id);
        if !taken(&base) {
            return base;
        }
        (2..)
            .map(|n| format!("{base}-{n}"))
            .find(|id| !taken(id))
            .unwrap_or(base)
    }

    /// The workflow file.
    pub fn to_yaml(&self) -> String {
        let q = |text: &str| Value::String(text.to_string()).to_string();
        let mut out =
            String::from("# Written by `wfhost new`; see workflows/README.md for every key.\n");
        let _ = writeln!(out, "name: {}", q(&self.name));
        if let Some(description) = &self.description {
            let _ = writeln!(out, "description: {}", q(description));
        }
        out.push_str("steps:\n");
        for (index, step) in self.steps.iter().enumerate() {
            let _ = writeln!(out, "  - id: {}", q(&step.id));
            let _ = writeln!(out, "    module: {}", q(&step.module));
            let _ = writeln!(out, "    action: {}", q(&step.action));
            if !step.inputs.is_empty() {
                out.push_str("    inputs:\n");
                for (name, value) in &step.inputs {
                    let _ = writeln!(out, "      {}: {value}", q(name));
                }
            }
            if step.continue_on_error {
                out.push_str("    continue_on_error: true\n");
            }
            if let Some(next) = self.steps.get(index + 1) {
                let _ = writeln!(out, "    onSuccess: {}", q(&next.id));
            }
            if step.has_grants() {
                out.push_str("    permissions:\n");
                if !step.fs.is_empty() {
                    let grants: Vec<String> = step
                        .fs
                        .iter()
                        .map(|(path, writable)| {
                            let access = if *writable { "read-write" } else { "read" };
                            format!("{{ \"path\": {}, \"access\": \"{access}\" }}", q(path))
                        })
                        .collect();
                    let _ = writeln!(out, "      fs: [{}]", grants.join(", "));
                }
                for (key, names) in [("env", &step.env), ("run", &step.run), ("net", &step.net)] {
                    if !names.is_empty() {
                        let names: Vec<String> = names.iter().map(|n| q(n)).collect();
                        let _ = writeln!(out, "      {key}: [{}]", names.join(", "));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn steps_chain_on_success_and_every_scalar_is_quoted() {
        let mut first = DraftStep::new("say".into(), "system".into(), "echo".into());
        first
            .inputs
            .push(("message".into(), json!("a: b\n# not a comment")));
        let mut second = DraftStep::new("note".into(), "system".into(), "notify-completion".into());
        second
            .inputs
            .push(("status".into(), json!("{{ steps.say.output }}")));
        second.fs.push(("reports".into(), true));
        second.env.push("HOME".into());
        let draft = Draft {
            name: "demo".into(),
            description: Some("it: works".into()),
            steps: vec![first, second],
        };
        assert_eq!(
            draft.to_yaml(),
            r#"# Written by `wfhost new`; see workflows/README.md for every key.
name: "demo"
description: "it: works"
steps:
  - id: "say"
    module: "system"
    action: "echo"
    inputs:
      "message": "a: b\n# not a comment"
    onSuccess: "note"
  - id: "note"
    module: "system"
    action: "notify-completion"
    inputs:
      "status": "{{ steps.say.output }}"
    permissions:
      fs: [{ "path": "reports", "access": "read-write" }]
      env: ["HOME"]
"#
        );
    }

    #[test]
    fn ids_are_valid_and_unique() {
        let mut draft = Draft::default();
        assert_eq!(draft.free_id("echoes.echo-result"), "echoes-echo-result");
        assert_eq!(draft.free_id("1st"), "step-1st");
        draft.steps.push(DraftStep::new(
            "echo".into(),
            "system".into(),
            "echo".into(),
        ));
        assert_eq!(draft.free_id("echo"), "echo-2");
    }
}
