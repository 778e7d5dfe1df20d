//! `wfmodule.toml`: a module's name, version, component file, build command,
//! default limits, and the capabilities it asks for with the reason for each.
//!
//! ```toml
//! name = "greeter"
//! version = "1.0.0"
//! description = "Greets people."
//! license = "Apache-2.0"
//! component = "target/wasm32-wasip2/release/greeter.wasm"
//!
//! [build]
//! command = "cargo build --release --target wasm32-wasip2 --target-dir target"
//!
//! [limits]
//! fuel = 50_000_000
//! memory = "64MiB"
//! timeout = "30s"
//!
//! [[capabilities.fs]]
//! path = "docs"            # or "*": the directories the workflow grants
//! access = "read-write"
//! reason = "adds entries to the changelog"
//! ```
//!
//! Errors come back as diagnostics at the line and column of the problem.

use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::capabilities::{Ask, AskKind, is_env_name, is_host_port, workspace_relative};
use crate::diagnostics::{Diagnostic, Diagnostics, Source, Span};
use crate::sandbox::Limits;
use crate::units::{parse_duration, parse_size};

/// The manifest's file name.
pub const FILE_NAME: &str = "wfmodule.toml";
/// The largest manifest read: a manifest is a page of TOML.
pub const MAX_MANIFEST_BYTES: usize = 1024 * 1024;

/// A module's manifest, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub name: String,
    pub version: semver::Version,
    pub description: String,
    pub license: Option<String>,
    /// The component file, relative to the manifest's directory.
    pub component: String,
    /// The shell command `wfhost module build` runs in the manifest's directory.
    pub build: Option<String>,
    pub limits: ModuleLimits,
    pub capabilities: Vec<Ask>,
}

/// Limits a module's author recommends; a workflow's own limits win.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ModuleLimits {
    pub fuel: Option<u64>,
    pub memory_bytes: Option<u64>,
    #[serde(with = "humantime_serde_opt")]
    pub timeout: Option<Duration>,
}

impl ModuleLimits {
    /// The limits of a call: what the user chose (`chosen`: a step's or
    /// workflow's limits, or command-line flags), else this module's
    /// defaults, else the host's. The one place this precedence lives.
    pub fn resolve(&self, chosen: &ModuleLimits) -> Limits {
        let host = Limits::default();
        Limits {
            fuel: chosen.fuel.or(self.fuel).unwrap_or(host.fuel),
            memory_bytes: chosen
                .memory_bytes
                .or(self.memory_bytes)
                .unwrap_or(host.memory_bytes),
            timeout: chosen.timeout.or(self.timeout).unwrap_or(host.timeout),
        }
    }
}

mod humantime_serde_opt {
    pub(super) fn serialize<S: serde::Serializer>(
        value: &Option<std::time::Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => {
                serializer.serialize_str(&humantime::format_duration(*duration).to_string())
            }
            None => serializer.serialize_none(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: Spanned<String>,
    version: Spanned<String>,
    #[serde(default)]
    description: String,
    license: Option<String>,
    component: Option<Spanned<String>>,
    build: Option<RawBuild>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    capabilities: RawCapabilities,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    command: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    fuel: Option<Spanned<u64>>,
    memory: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCapabilities {
    #[serde(default)]
    fs: Vec<RawAsk>,
    #[serde(default)]
    env: Vec<RawAsk>,
    #[serde(default)]
    run: Vec<RawAsk>,
    #[serde(default)]
    net: Vec<RawAsk>,
}

/// One `[[capabilities.<kind>]]` table. Which key names the capability
/// depends on the kind (`path`, `name`, `program`, `host`); the others must
/// be absent (checked after parsing, at their position).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAsk {
    path: Option<Spanned<String>>,
    access: Option<Spanned<String>>,
    name: Option<Spanned<String>>,
    program: Option<Spanned<String>>,
    host: Option<Spanned<String>>,
    reason: Option<Spanned<String>>,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    actions: Vec<String>,
}

impl RawAsk {
    /// The keys present, with their spans, by name.
    fn keys(&self) -> [(&'static str, Option<&Spanned<String>>); 5] {
        [
            ("path", self.path.as_ref()),
            ("access", self.access.as_ref()),
            ("name", self.name.as_ref()),
            ("program", self.program.as_ref()),
            ("host", self.host.as_ref()),
        ]
    }
}

/// The manifest bundled module `name` was built with, checked; `None` when
/// there is no such module or it ships no manifest.
pub fn bundled(name: &str) -> Result<Option<Manifest>, String> {
    let Some(text) = crate::bundled::find(name).and_then(|b| b.manifest) else {
        return Ok(None);
    };
    let source = Source::new(format!("modules/{name}/{FILE_NAME}"), text);
    Manifest::parse(&source)
        .map(Some)
        .map_err(|problems| source.render(&problems))
}

/// A module name: lowercase letters, digits and `-`, starting with a letter.
pub fn is_module_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl Manifest {
    /// Parse and check the manifest in `source`, reporting every problem.
    pub fn parse(source: &Source) -> Result<Self, Diagnostics> {
        let text = &source.text;
        let mut problems = Diagnostics::default();
        let raw: Raw = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(error) => {
                let span = error
                    .span()
                    .map_or_else(Span::default, |s| span_of(text, s));
                problems.push(Diagnostic::error(span, error.message().trim().to_string()));
                return Err(problems);
            }
        };
        let mut error = |range: Range<usize>, message: String, help: &str| {
            problems.push(Diagnostic::error(span_of(text, range), message).with_help(help));
        };
        if !is_module_name(raw.name.get_ref()) {
            error(
                raw.name.span(),
                format!("`{}` is not a module name", raw.name.get_ref()),
                "use lowercase letters, digits and `-`, starting with a letter (at most 64)",
            );
        }
        let version = semver::Version::parse(raw.version.get_ref()).unwrap_or_else(|e| {
            error(
                raw.version.span(),
                format!("`{}` is not a semantic version: {e}", raw.version.get_ref()),
                "write it as MAJOR.MINOR.PATCH, such as 1.0.0",
            );
            semver::Version::new(0, 0, 0)
        });
        let component = match &raw.component {
            Some(path) if path.get_ref().trim().is_empty() => {
                error(
                    path.span(),
                    "`component` is empty".into(),
                    "name the component file, relative to this manifest",
                );
                String::new()
            }
            Some(path) => path.get_ref().clone(),
            None => format!("{}.wasm", raw.name.get_ref()),
        };
        let mut limits = ModuleLimits::default();
        if let Some(fuel) = &raw.limits.fuel {
            if *fuel.get_ref() == 0 {
                error(
                    fuel.span(),
                    "`fuel` must be at least 1".into(),
                    "leave it out for the host's default",
                );
            }
            limits.fuel = Some(*fuel.get_ref());
        }
        if let Some(memory) = &raw.limits.memory {
            match parse_size(memory.get_ref()) {
                Ok(bytes) => limits.memory_bytes = Some(bytes),
                Err(problem) => error(memory.span(), problem, "for example \"64MiB\""),
            }
        }
        if let Some(timeout) = &raw.limits.timeout {
            match parse_duration(timeout.get_ref()) {
                Ok(duration) => limits.timeout = Some(duration),
                Err(problem) => error(timeout.span(), problem, "for example \"30s\""),
            }
        }
        let mut capabilities = Vec::new();
        let kinds = [
            ("fs", &raw.capabilities.fs, &["path", "access"][..]),
            ("env", &raw.capabilities.env, &["name"][..]),
            ("run", &raw.capabilities.run, &["program"][..]),
            ("net", &raw.capabilities.net, &["host"][..]),
        ];
        for (kind, asks, allowed) in kinds {
            for raw_ask in asks {
                let mut well_formed = true;
                for (key, value) in raw_ask.keys() {
                    if let Some(value) = value
                        && !allowed.contains(&key)
                    {
                        well_formed = false;
                        error(
                            value.span(),
                            format!("`{key}` does not belong in a `capabilities.{kind}` entry"),
                            &format!(
                                "its keys: {}, reason, optional, actions",
                                allowed.join(", ")
                            ),
                        );
                    }
                }
                let reason = raw_ask
                    .reason
                    .as_ref()
                    .map(|r| r.get_ref().trim().to_string());
                let subject = raw_ask
                    .keys()
                    .into_iter()
                    .find(|(key, _)| *key == allowed[0])
                    .and_then(|(_, v)| v);
                let (Some(subject), Some(reason)) = (subject, reason) else {
                    error(
                        0..0,
                        format!(
                            "a `capabilities.{kind}` entry needs `{}` and `reason`",
                            allowed[0]
                        ),
                        "for example: [[capabilities.fs]] path = \"docs\" access = \"read\" reason = \"…\"",
                    );
                    continue;
                };
                if reason.is_empty() {
                    let span = raw_ask.reason.as_ref().map_or(0..0, Spanned::span);
                    error(
                        span,
                        "the reason is empty".into(),
                        "say in one sentence why the module needs it: the user reads it before granting",
                    );
                }
                let value = subject.get_ref();
                let kind = match kind {
                    "fs" => {
                        let path = if value == "*" {
                            Some("*".to_string())
                        } else {
                            workspace_relative(value)
                        };
                        let Some(path) = path else {
                            error(
                                subject.span(),
                                format!("`{value}` is not a path inside the workspace"),
                                "ask for a non-empty relative path without `..`, or \"*\" for the directories the workflow grants",
                            );
                            continue;
                        };
                        let writable = match raw_ask
                            .access
                            .as_ref()
                            .map(|a| (a.get_ref().as_str(), a.span()))
                        {
                            None | Some(("read", _)) => false,
                            Some(("read-write", _)) => true,
                            Some((other, span)) => {
                                error(
                                    span,
                                    format!("unknown access `{other}`"),
                                    "use \"read\" or \"read-write\"",
                                );
                                false
                            }
                        };
                        AskKind::Fs { path, writable }
                    }
                    "env" => {
                        if value != "*" && !is_env_name(value) {
                            error(
                                subject.span(),
                                format!("`{value}` is not an environment variable name"),
                                "for example \"HOME\"",
                            );
                        }
                        AskKind::Env {
                            name: value.clone(),
                        }
                    }
                    "run" => {
                        if value.trim().is_empty() {
                            error(
                                subject.span(),
                                "`program` is empty".into(),
                                "name a program such as \"cargo\", or \"*\" for the programs the workflow grants",
                            );
                        }
                        AskKind::Run {
                            program: value.clone(),
                        }
                    }
                    _ => {
                        if value != "*" && !is_host_port(value) {
                            error(
                                subject.span(),
                                format!("`{value}` is not a `host:port` address"),
                                "for example \"api.example.com:443\", or \"*\" for the hosts the workflow grants",
                            );
                        }
                        AskKind::Net {
                            host: value.clone(),
                        }
                    }
                };
                if well_formed {
                    capabilities.push(Ask {
                        kind,
                        reason,
                        optional: raw_ask.optional,
                        actions: raw_ask.actions.clone(),
                    });
                }
            }
        }
        if problems.has_errors() {
            return Err(problems.sorted());
        }
        Ok(Self {
            name: raw.name.into_inner(),
            version,
            description: raw.description.trim().to_string(),
            license: raw.license,
            component,
            build: raw.build.map(|build| build.command),
            limits,
            capabilities,
        })
    }
}

/// The line, column and length (in characters) of a byte range of `text`.
fn span_of(text: &str, range: Range<usize>) -> Span {
    let start = range.start.min(text.len());
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = text[line_start..start].chars().count() + 1;
    let end = range.end.clamp(start, text.len());
    let len = text[start..end]
        .lines()
        .next()
        .map_or(1, |l| l.chars().count());
    Span::new(line, col, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, String> {
        let source = Source::new("wfmodule.toml", text);
        Manifest::parse(&source).map_err(|d| source.render(&d))
    }

    #[test]
    fn a_full_manifest() {
        let manifest = parse(
            r#"
name = "greeter"
version = "1.2.3"
description = "Greets."
component = "out/greeter.wasm"
[build]
command = "make"
[limits]
fuel = 1000
memory = "64MiB"
timeout = "2s"
[[capabilities.fs]]
path = "./docs/"
access = "read-write"
reason = "writes docs"
[[capabilities.run]]
program = "*"
reason = "runs your tests"
actions = ["run-tests"]
"#,
        )
        .expect("valid");
        assert_eq!(manifest.version, semver::Version::new(1, 2, 3));
        assert_eq!(manifest.limits.memory_bytes, Some(64 << 20));
        assert_eq!(
            manifest.capabilities[0].kind,
            AskKind::Fs {
                path: "docs".into(),
                writable: true
            }
        );
        assert_eq!(manifest.capabilities[1].actions, ["run-tests"]);
    }

    #[test]
    fn errors_point_at_the_value() {
        let error = parse("name = \"Greeter\"\nversion = \"1.0\"\n").expect_err("invalid");
        assert!(
            error.contains("wfmodule.toml:1:8: error: `Greeter` is not a module name"),
            "{error}"
        );
        assert!(
            error.contains("wfmodule.toml:2:11: error: `1.0` is not a semantic version"),
            "{error}"
        );
        let error = parse("name = \"g\"\nversion = \"1.0.0\"\nlicence = \"MIT\"\n")
            .expect_err("unknown key");
        assert!(
            error.contains("wfmodule.toml:3:1: error: unknown field `licence`"),
            "{error}"
        );
        let error = parse("name = \"g\"\nversion = \"1.0.0\"\n[[capabilities.fs]]\npath = \"../x\"\nreason = \"\"\n").expect_err("bad ask");
        assert!(
            error.contains("4:8: error: `../x` is not a path inside the workspace"),
            "{error}"
        );
    }
}
