//! `workflow:` steps: the child file read (relative to the parent's),
//! planned with the same catalog, pinned by its sha256; its inputs checked
//! against the child's `inputs:`, its grants within the parent step's;
//! nesting deeper than [`MAX_DEPTH`] and cycles of files refused. Also the
//! workflow's own `outputs:` and their shapes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::references::input_shape;
use super::{Checker, Place, Reads};
use crate::capabilities::StepPermissions;
use crate::diagnostics::{Diagnostic, Diagnostics, Source, Span, Spanned};
use crate::sandbox::Digest;
use crate::sandbox::values::{Shape, json_kind};
use crate::suggest::closest;
use crate::workflow::model::Step;
use crate::workflow::plan::{PlannedChild, StepKind};
use crate::workflow::template::{self, Compiled, Kind};
use crate::workflow::tree::MAX_FILE_BYTES;

/// The most workflows nested in one another, the top one included.
pub const MAX_DEPTH: usize = 8;

/// How many of a child's diagnostics are shown under the step naming it.
const CHILD_PROBLEMS_SHOWN: usize = 5;

/// The most workflow files one check reads.
pub const MAX_FILES: usize = 256;

/// The sub-workflow files met while checking one workflow, each planned
/// once however often and wherever it is named: what a check of a nest of
/// files costs is bounded by the number of files, not by their paths.
#[derive(Debug, Default)]
pub struct Nesting {
    /// The folder of the outermost workflow: sub-workflows stay inside it.
    root: PathBuf,
    files: RefCell<HashMap<PathBuf, Planned>>,
    /// The files being checked now, outermost first (for a cycle's path).
    chain: RefCell<Vec<PathBuf>>,
}

#[derive(Debug, Clone)]
enum Planned {
    /// Being checked: naming it again is a cycle.
    InProgress,
    Valid(Arc<PlannedChild>),
    /// Its errors, rendered, and how many.
    Invalid {
        errors: usize,
        rendered: String,
    },
}

impl Nesting {
    /// A nesting whose outermost workflow is the file at `path`.
    pub fn starting_at(path: &Path) -> Self {
        let canonical = canonical(path);
        let nesting = Self {
            root: canonical
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            ..Self::default()
        };
        nesting
            .files
            .borrow_mut()
            .insert(canonical.clone(), Planned::InProgress);
        nesting.chain.borrow_mut().push(canonical);
        nesting
    }
}

/// `path` with links resolved, or at least absolute (a file not on disk).
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

impl Checker<'_> {
    /// The child of every `workflow:` step (by index).
    pub(super) fn plan_children(&mut self) -> Vec<Option<Arc<PlannedChild>>> {
        let steps = self.workflow.steps.iter();
        steps
            .map(|step| {
                let written = step.workflow.as_ref()?;
                let path: PathBuf = self
                    .base_dir
                    .join(&written.value)
                    .components()
                    .filter(|c| !matches!(c, std::path::Component::CurDir))
                    .collect();
                let child = self.plan_child(written, &path)?;
                if child.height >= MAX_DEPTH {
                    self.error(
                        Diagnostic::error(
                            written.span,
                            format!(
                                "running `{}` would nest workflows {} deep; the most is {MAX_DEPTH}",
                                written.value,
                                child.height + 1
                            ),
                        )
                        .with_help("flatten the nesting: call the innermost workflows' steps directly"),
                    );
                    return None;
                }
                Some(child)
            })
            .collect()
    }

    fn plan_child(&mut self, written: &Spanned<String>, path: &Path) -> Option<Arc<PlannedChild>> {
        let canonical = self.confined(written, path)?;
        let known = self.nesting.files.borrow().get(&canonical).cloned();
        match known {
            Some(Planned::Valid(child)) => return Some(child),
            Some(Planned::Invalid { errors, rendered }) => {
                self.child_invalid(written, errors, &rendered);
                return None;
            }
            Some(Planned::InProgress) => {
                let chain = self.nesting.chain.borrow();
                let at = chain.iter().position(|p| *p == canonical).unwrap_or(0);
                let cycle: Vec<String> = chain[at..]
                    .iter()
                    .chain([&canonical])
                    .map(|p| p.display().to_string())
                    .collect();
                drop(chain);
                self.error(
                    Diagnostic::error(
                        written.span,
                        format!("sub-workflows form a cycle: {}", cycle.join(" → ")),
                    )
                    .with_help("a workflow cannot run itself, directly or through its children"),
                );
                return None;
            }
            None => {}
        }
        if self.nesting.files.borrow().len() >= MAX_FILES {
            self.error(Diagnostic::error(
                written.span,
                format!(
                    "more than {MAX_FILES} workflow files are nested here; refusing to read more"
                ),
            ));
            return None;
        }
        let source = match Source::read(&canonical, MAX_FILE_BYTES) {
            Ok(source) => source,
            Err(error) => {
                self.error(
                    Diagnostic::error(
                        written.span,
                        format!("cannot read sub-workflow {}: {error}", path.display()),
                    )
                    .with_help("a sub-workflow's path is relative to this workflow's file"),
                );
                return None;
            }
        };
        self.nesting
            .files
            .borrow_mut()
            .insert(canonical.clone(), Planned::InProgress);
        self.nesting.chain.borrow_mut().push(canonical.clone());
        let checked = crate::workflow::check_nested(&source, self.catalog, self.nesting);
        self.nesting.chain.borrow_mut().pop();
        let planned = match checked.plan {
            Some(plan) => {
                let height = 1 + plan
                    .steps
                    .iter()
                    .filter_map(|step| match &step.kind {
                        StepKind::Workflow(child) => Some(child.height),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0);
                let mut files = plan.child_files();
                files.push(plan.file.clone());
                Planned::Valid(Arc::new(PlannedChild {
                    written: written.value.clone(),
                    digest: Digest::of(source.text.as_bytes()).to_hex(),
                    text: source.text.clone().into(),
                    modules: plan.module_digests(),
                    files,
                    plan: Arc::new(plan),
                    height,
                }))
            }
            None => {
                let errors = checked.diagnostics.error_count();
                let mut shown = Diagnostics::default();
                for diagnostic in checked.diagnostics.iter().filter(|d| d.is_error()) {
                    shown.push(diagnostic.clone());
                    if shown.error_count() == CHILD_PROBLEMS_SHOWN {
                        break;
                    }
                }
                let mut rendered = String::new();
                for line in source.render(&shown).lines() {
                    rendered.push_str(&format!("    {line}\n"));
                }
                if errors > CHILD_PROBLEMS_SHOWN {
                    rendered.push_str(&format!(
                        "    … and {} more (`wfhost validate {}`)",
                        errors - CHILD_PROBLEMS_SHOWN,
                        path.display()
                    ));
                }
                Planned::Invalid { errors, rendered }
            }
        };
        self.nesting
            .files
            .borrow_mut()
            .insert(canonical, planned.clone());
        match planned {
            Planned::Valid(child) => Some(child),
            Planned::Invalid { errors, rendered } => {
                self.child_invalid(written, errors, &rendered);
                None
            }
            Planned::InProgress => None,
        }
    }

    /// The child file, links resolved, when it is a regular file inside the
    /// outermost workflow's folder: a workflow cannot make `validate` read
    /// (and show) files elsewhere, or block on a device.
    fn confined(&mut self, written: &Spanned<String>, path: &Path) -> Option<PathBuf> {
        let refuse = |problem: String| {
            Diagnostic::error(written.span, problem).with_help(
                "name a workflow file by a path relative to this one, inside the folder of the workflow you run",
            )
        };
        if Path::new(&written.value).is_absolute() {
            self.error(refuse(format!(
                "sub-workflow `{}` is an absolute path",
                written.value
            )));
            return None;
        }
        let canonical = match std::fs::canonicalize(path) {
            Ok(canonical) => canonical,
            Err(error) => {
                self.error(refuse(format!(
                    "cannot read sub-workflow {}: {error}",
                    path.display()
                )));
                return None;
            }
        };
        if !canonical.starts_with(&self.nesting.root) {
            self.error(refuse(format!(
                "sub-workflow `{}` is {}, outside {}",
                written.value,
                canonical.display(),
                self.nesting.root.display()
            )));
            return None;
        }
        if !std::fs::metadata(&canonical).is_ok_and(|m| m.is_file()) {
            self.error(refuse(format!(
                "sub-workflow `{}` is not a regular file",
                written.value
            )));
            return None;
        }
        Some(canonical)
    }

    fn child_invalid(&mut self, written: &Spanned<String>, errors: usize, rendered: &str) {
        self.error(
            Diagnostic::error(
                written.span,
                format!(
                    "sub-workflow `{}` is invalid ({errors} error{})",
                    written.value,
                    if errors == 1 { "" } else { "s" }
                ),
            )
            .with_help(format!("its problems:\n{}", rendered.trim_end())),
        );
    }

    /// A `workflow:` step: no action keys but `inputs`, `foreach` and
    /// `retry`; its inputs against the child's declared inputs.
    pub(super) fn check_child(&mut self, index: usize, step: &Step) -> Option<StepKind> {
        for (key, present) in super::waits::action_keys(step) {
            let allowed = matches!(key, "inputs" | "foreach" | "retry" | "concurrency");
            if present && !allowed {
                self.error(
                    Diagnostic::error(
                        step.id.span,
                        format!("step `{}` runs a sub-workflow and cannot have `{key}`", step.id),
                    )
                    .with_help(
                        "a sub-workflow's steps have their own limits; bound the whole child with its `limits.workflow_timeout`",
                    ),
                );
            }
        }
        let child = self.children[index].clone()?;
        let declared = &child.plan.inputs;
        for (name, value) in &step.inputs {
            let Some(spec) = declared.get(name) else {
                self.error(
                    Diagnostic::error(
                        value.span,
                        format!("sub-workflow `{}` has no input `{name}`", child.written),
                    )
                    .suggest(closest(name, declared.keys().map(String::as_str)))
                    .with_help_if_none(inputs_help(&child)),
                );
                continue;
            };
            if let Some(expr) = lone_expression(&value.value) {
                let found = self.reference_shape(expr, value.span);
                let found = found.as_ref().and_then(Shape::json_kind);
                let wanted = input_shape(spec.ty);
                if let (Some(found), Some(wanted)) = (found, wanted.json_kind())
                    && found != wanted
                {
                    self.error(Diagnostic::error(
                        self.narrow(value.span, expr),
                        format!(
                            "`{expr}` is {found}, but input `{name}` of sub-workflow `{}` is {}",
                            child.written,
                            spec.ty.name()
                        ),
                    ));
                }
                continue;
            }
            let literal = match &value.value {
                Value::String(text) => matches!(template::kind(text), Kind::Literal),
                _ => true,
            };
            if literal && !spec.ty.accepts(&value.value) {
                self.error(Diagnostic::error(
                    value.span,
                    format!(
                        "input `{name}` of sub-workflow `{}` is {}, not {}",
                        child.written,
                        spec.ty.name(),
                        json_kind(&value.value)
                    ),
                ));
            }
        }
        for (name, spec) in declared {
            if spec.is_required() && !step.inputs.contains_key(name) {
                let span = step.workflow.as_ref().map_or(step.id.span, |w| w.span);
                self.error(
                    Diagnostic::error(
                        span,
                        format!(
                            "missing input `{name}` ({}) for sub-workflow `{}`",
                            spec.ty.name(),
                            child.written
                        ),
                    )
                    .with_help(inputs_help(&child)),
                );
            }
        }
        Some(StepKind::Workflow(child))
    }

    /// A child is granted no more than the step that runs it: every grant
    /// of every child step within `granted`.
    pub(super) fn check_child_grants(
        &mut self,
        index: usize,
        step: &Step,
        granted: &StepPermissions,
    ) {
        let Some(child) = self.children[index].clone() else {
            return;
        };
        for child_step in &child.plan.steps {
            let beyond = child_step.permissions.beyond(granted);
            if beyond.is_empty() {
                continue;
            }
            self.error(
                Diagnostic::error(
                    step.workflow.as_ref().map_or(step.id.span, |w| w.span),
                    format!(
                        "step `{}` of sub-workflow `{}` is granted {}, beyond what step `{}` is granted ({granted})",
                        child_step.id,
                        child.written,
                        beyond.join(", "),
                        step.id
                    ),
                )
                .with_help(format!(
                    "grant it in step `{}`'s `permissions` too: a child never gets more than the step that runs it",
                    step.id
                )),
            );
        }
    }

    /// `outputs:` compiled, and the shape of each as far as a lone
    /// reference shows it.
    pub(super) fn check_outputs(&mut self) -> (Option<Compiled>, Vec<(String, Shape)>) {
        let workflow = self.workflow;
        if workflow.outputs.is_empty() {
            return (None, Vec::new());
        }
        let mut fields = Vec::new();
        let mut shapes = Vec::new();
        for (name, value) in &workflow.outputs {
            let place = Place {
                span: value.span,
                in_foreach: false,
                reads: Reads::Run,
            };
            if let Some(compiled) = self.templates_in(&value.value, place) {
                fields.push((name.clone(), compiled));
            }
            shapes.push((name.clone(), self.output_shape(&value.value, value.span)));
        }
        (Some(Compiled::Object(fields)), shapes)
    }

    fn output_shape(&self, value: &Value, span: Span) -> Shape {
        lone_expression(value)
            .and_then(|expr| self.reference_shape(expr, span))
            .unwrap_or(Shape::Any)
    }
}

/// The expression of a value that is one `{{ expression }}`.
fn lone_expression(value: &Value) -> Option<&str> {
    match value {
        Value::String(text) => match template::kind(text) {
            Kind::Expression(expr) => Some(expr.trim()),
            _ => None,
        },
        _ => None,
    }
}

/// What a child's inputs are, for help.
fn inputs_help(child: &PlannedChild) -> String {
    if child.plan.inputs.is_empty() {
        return format!("`{}` declares no inputs", child.written);
    }
    let inputs: Vec<String> = child
        .plan
        .inputs
        .iter()
        .map(|(name, spec)| format!("{name} ({})", spec.ty.name()))
        .collect();
    format!("its inputs: {}", inputs.join(", "))
}
