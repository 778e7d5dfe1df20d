//! The questions `wfhost new` asks on a terminal: a name, then step by step
//! a module and an action from the catalog (with their docs), each input
//! from its WIT type (checked as it is typed, or a reference to an earlier
//! step's output of the same type), what happens when the step fails, and
//! the grants its module asks for.

use std::path::Path;

use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, FuzzySelect, Input, Select};
use serde_json::Value;

use super::draft::{Draft, DraftStep};
use crate::capabilities::workspace_relative;
use crate::capabilities::{ANY, AskKind};
use crate::catalog::{self, Catalog};
use crate::cli::exit::CliError;
use crate::registry::Registry;
use crate::sandbox::Action;
use crate::sandbox::values::Shape;
use crate::workflow::validate::is_valid_step_id;

/// What later steps may read of an earlier one: `{{ path }}` and its shape.
struct Readable {
    path: String,
    shape: Shape,
}

struct Wizard<'a> {
    theme: ColorfulTheme,
    catalog: &'a Catalog,
    draft: Draft,
    readable: Vec<Readable>,
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(prompt_error)`
fn prompt_error(error: dialoguer::Error) -> CliError {
    CliError(anyhow::anyhow!("the question was not answered: {error}"))
}

/// Ask for a whole workflow.
pub(super) fn ask(
    catalog: &Catalog,
    registry: &Registry,
    default_name: &str,
) -> Result<Draft, CliError> {
    let modules = catalog::available(registry).map_err(|e| CliError(anyhow::anyhow!(e)))?;
    let mut wizard = Wizard {
        theme: ColorfulTheme::default(),
        catalog,
        draft: Draft::default(),
        readable: Vec::new(),
    };
    wizard.draft.name = wizard.text("Workflow name", default_name)?;
    let description: String = Input::with_theme(&wizard.theme)
        .with_prompt("Description (empty for none)")
        .allow_empty(true)
        .interact_text()
        .map_err(prompt_error)?;
    wizard.draft.description = (!description.trim().is_empty()).then_some(description);
    loop {
        wizard.step(&modules)?;
        if !wizard.confirm("Add another step?", false)? {
            return Ok(wizard.draft);
        }
    }
}

impl Wizard<'_> {
    /// A line of text, `default` when the answer is empty.
    fn text(&self, prompt: &str, default: &str) -> Result<String, CliError> {
        Input::<String>::with_theme(&self.theme)
            .with_prompt(prompt)
            .default(default.to_string())
            .interact_text()
            .map_err(prompt_error)
    }

    fn confirm(&self, prompt: &str, default: bool) -> Result<bool, CliError> {
        Confirm::with_theme(&self.theme)
            .with_prompt(prompt)
            .default(default)
            .interact()
            .map_err(prompt_error)
    }

    /// One of a few `items`, the first by default.
    fn choose<T: std::fmt::Display>(&self, prompt: &str, items: &[T]) -> Result<usize, CliError> {
        Select::with_theme(&self.theme)
            .with_prompt(prompt)
            .items(items)
            .default(0)
            .interact()
            .map_err(prompt_error)
    }

    /// One of many `items`, filtered by what is typed.
    fn pick(&self, prompt: &str, items: &[String]) -> Result<usize, CliError> {
        FuzzySelect::with_theme(&self.theme)
            .with_prompt(prompt)
            .items(items)
            .default(0)
            .interact()
            .map_err(prompt_error)
    }

    fn step(&mut self, modules: &[catalog::Available]) -> Result<(), CliError> {
        let number = self.draft.steps.len() + 1;
        let items: Vec<String> = modules
            .iter()
            .map(|m| {
                format!(
                    "{} — {} ({} {})",
                    m.name, m.description, m.origin, m.version
                )
            })
            .collect();
        let chosen = self.pick(&format!("Step {number}: module (type to filter)"), &items)?;
        let module_name = modules[chosen].name.clone();
        let entry = self
            .catalog
            .load(&module_name, Path::new("."))
            .map_err(|e| CliError(anyhow::anyhow!("cannot load module `{module_name}`: {e}")))?;
        let actions: Vec<&Action> = entry.module.actions().collect();
        let items: Vec<String> = actions
            .iter()
            .map(|a| format!("{}: {}", a.name, a.signature))
            .collect();
        let chosen = self.pick(&format!("Step {number}: action of `{module_name}`"), &items)?;
        let action = actions[chosen];
        if let Some(docs) = &action.docs {
            eprintln!("  {}", docs.replace('\n', "\n  "));
        }
        let id: String = Input::with_theme(&self.theme)
            .with_prompt("Step id")
            .default(self.draft.free_id(&action.name))
            .validate_with(|id: &String| -> Result<(), String> {
                if !is_valid_step_id(id) {
                    Err("letters, digits, `_` and `-`, starting with a letter".into())
                } else if self.draft.steps.iter().any(|s| s.id == *id) {
                    Err(format!("`{id}` is taken"))
                } else {
                    Ok(())
                }
            })
            .interact_text()
            .map_err(prompt_error)?;
        let mut step = DraftStep::new(id, module_name, action.name.clone());
        for (param, _) in &action.params {
            if let Some(value) = self.input(action, param)? {
                step.inputs.push((param.clone(), value));
            }
        }
        step.continue_on_error = self.choose(
            &format!("When `{}` fails", step.id),
            &["the run fails", "go on as if it had succeeded"],
        )? == 1;
        if let Some(manifest) = &entry.manifest {
            for ask in manifest
                .capabilities
                .iter()
                .filter(|ask| ask.applies_to(&action.name))
            {
                let question = format!(
                    "Let `{}` {}? (the module says: {})",
                    step.id,
                    ask.describe(),
                    ask.reason
                );
                if self.confirm(&question, !ask.optional)? {
                    self.grant(&mut step, &ask.kind)?;
                }
            }
        }
        let output = action.output_shape();
        if let Shape::Record(fields) = &output {
            for (field, shape) in fields {
                self.readable.push(Readable {
                    path: format!("steps.{}.output.{field}", step.id),
                    shape: shape.clone(),
                });
            }
        }
        self.readable.push(Readable {
            path: format!("steps.{}.output", step.id),
            shape: output,
        });
        self.draft.steps.push(step);
        Ok(())
    }

    /// One input: a reference to an earlier output of its type, or a value
    /// typed and checked against the parameter's WIT type; `None` to leave
    /// an optional one out.
    fn input(&self, action: &Action, param: &str) -> Result<Option<Value>, CliError> {
        let ty = action.param_type(param).unwrap_or_default();
        let optional = action.param_is_optional(param);
        let wanted = match action.param_shape(param) {
            Some(Shape::Option(inner)) => *inner,
            Some(shape) => shape,
            None => Shape::Any,
        };
        let references: Vec<&Readable> = self
            .readable
            .iter()
            .filter(|r| r.shape.json_kind().is_some() && r.shape.json_kind() == wanted.json_kind())
            .collect();
        if !references.is_empty() {
            let mut items = vec![format!("type a value ({ty})")];
            items.extend(references.iter().map(|r| format!("{{{{ {} }}}}", r.path)));
            let chosen = self.choose(&format!("`{param}`"), &items)?;
            if chosen > 0 {
                return Ok(Some(Value::String(items[chosen].clone())));
            }
        }
        let text_kind = wanted.json_kind() == Some("a string");
        let hint = if optional { ", empty to leave out" } else { "" };
        let parse = |text: &str| -> Result<Value, String> {
            let value = if text_kind {
                Value::String(text.to_string())
            } else {
                serde_json::from_str(text).map_err(|e| format!("not a JSON value: {e}"))?
            };
            action
                .check_param(param, &value)
                .map_err(|e| format!("{}: {}", e.path, e.problem))?;
            Ok(value)
        };
        let text: String = Input::with_theme(&self.theme)
            .with_prompt(format!("`{param}` ({ty}{hint})"))
            .allow_empty(optional)
            .validate_with(|text: &String| -> Result<(), String> {
                if text.is_empty() && optional {
                    return Ok(());
                }
                parse(text).map(drop)
            })
            .interact_text()
            .map_err(prompt_error)?;
        if text.is_empty() && optional {
            return Ok(None);
        }
        parse(&text)
            .map(Some)
            .map_err(|e| CliError(anyhow::anyhow!(e)))
    }

    /// Grant what `kind` asks; for a `*` ask, which directory, variable,
    /// program or host.
    fn grant(&self, step: &mut DraftStep, kind: &AskKind) -> Result<(), CliError> {
        match kind {
            AskKind::Fs { path, writable } => {
                let path = if path == ANY {
                    Input::<String>::with_theme(&self.theme)
                        .with_prompt("Which directory, relative to the workspace?")
                        .default(".".to_string())
                        .validate_with(|p: &String| -> Result<(), String> {
                            workspace_relative(p)
                                .map(drop)
                                .ok_or_else(|| "a relative path inside the workspace".to_string())
                        })
                        .interact_text()
                        .map_err(prompt_error)?
                } else {
                    path.clone()
                };
                let path = workspace_relative(&path).unwrap_or(path);
                step.fs.push((path, *writable));
            }
            AskKind::Env { name } if name == ANY => {
                step.env.push(self.text("Which variable?", "PATH")?)
            }
            AskKind::Env { name } => step.env.push(name.clone()),
            AskKind::Run { program } if program == ANY => {
                step.run.push(self.text("Which program?", "cargo")?);
            }
            AskKind::Run { program } => step.run.push(program.clone()),
            AskKind::Net { host } if host == ANY => {
                step.net
                    .push(self.text("Which host:port?", "127.0.0.1:8080")?);
            }
            AskKind::Net { host } => step.net.push(host.clone()),
        }
        Ok(())
    }
}
