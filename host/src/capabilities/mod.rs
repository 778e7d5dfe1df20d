//! Capabilities: what a step may reach beyond its sandbox.
//!
//! Two sides meet here. A workflow *grants* (`permissions:` in the file, or
//! `wfhost call --allow-*`), a module *asks* (the `[[capabilities.*]]` of its
//! `wfmodule.toml`). A step gets the intersection; a module asking for
//! something required that is not granted is a validation error. A module
//! without a manifest asks for nothing in particular and gets what is granted.

mod ask;
mod intersect;

use std::path::{Component, Path};

pub use ask::{ANY, Ask, AskKind};
pub use intersect::{Intersection, intersect};

/// What a step is granted, as workspace-relative directories (and whether
/// writable), variable names, program names and `host:port` pairs. The
/// engine resolves it against the workspace and the host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct StepPermissions {
    pub fs: Vec<(String, bool)>,
    pub env: Vec<String>,
    pub run: Vec<String>,
    pub net: Vec<String>,
}

impl StepPermissions {
    pub fn is_empty(&self) -> bool {
        self.fs.is_empty() && self.env.is_empty() && self.run.is_empty() && self.net.is_empty()
    }

    /// Grant a directory; granting one twice keeps the wider access.
    pub fn add_dir(&mut self, path: String, writable: bool) {
        match self.fs.iter_mut().find(|(p, _)| *p == path) {
            Some((_, existing)) => *existing |= writable,
            None => self.fs.push((path, writable)),
        }
    }

    /// What `self` grants beyond `bound`, described (a directory is
    /// covered by itself or a directory above it with at least its access).
    pub fn beyond(&self, bound: &StepPermissions) -> Vec<String> {
        let mut beyond: Vec<String> = self
            .fs
            .iter()
            .filter(|(path, writable)| {
                !bound
                    .fs
                    .iter()
                    .any(|(outer, w)| is_within(path, outer) && (*w || !*writable))
            })
            .map(|(path, writable)| {
                format!("{} {path}", if *writable { "read-write" } else { "read" })
            })
            .collect();
        for (label, mine, theirs) in [
            ("env", &self.env, &bound.env),
            ("run", &self.run, &bound.run),
            ("net", &self.net, &bound.net),
        ] {
            beyond.extend(
                mine.iter()
                    .filter(|name| !theirs.contains(name))
                    .map(|name| format!("{label} {name}")),
            );
        }
        beyond
    }

    /// Add `value` to a list unless it is there already.
    pub fn add_name(list: &mut Vec<String>, value: &str) {
        if !list.iter().any(|v| v == value) {
            list.push(value.to_string());
        }
    }
}

impl std::fmt::Display for StepPermissions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        for (path, writable) in &self.fs {
            parts.push(format!(
                "{} {path}",
                if *writable { "read-write" } else { "read" }
            ));
        }
        for (label, list) in [("env", &self.env), ("run", &self.run), ("net", &self.net)] {
            if !list.is_empty() {
                parts.push(format!("{label} {}", list.join(", ")));
            }
        }
        if parts.is_empty() {
            f.write_str("nothing")
        } else {
            f.write_str(&parts.join("; "))
        }
    }
}

/// `path` normalised to a workspace-relative form (`./data/` → `data`, `.`
/// stays `.`), or `None` when it could leave the workspace (absolute, `..`)
/// or is empty (which would otherwise silently mean the whole workspace).
pub fn workspace_relative(path: &str) -> Option<String> {
    if path.trim().is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?.to_string()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    })
}

/// Whether workspace-relative `inner` is `outer` or inside it.
pub fn is_within(inner: &str, outer: &str) -> bool {
    outer == "."
        || inner == outer
        || inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Whether `value` is a `host:port` address (a name or an IP, and a port).
pub fn is_host_port(value: &str) -> bool {
    value
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

/// Whether `name` can be an environment variable's name.
pub fn is_env_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['=', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_paths() {
        for (path, expected) in [
            ("data", Some("data")),
            ("./data/", Some("data")),
            (".", Some(".")),
            ("a/./b", Some("a/b")),
            ("../x", None),
            ("a/../../x", None),
            ("/etc", None),
            ("", None),
            ("  ", None),
        ] {
            assert_eq!(workspace_relative(path).as_deref(), expected, "{path}");
        }
    }

    #[test]
    fn containment() {
        for (inner, outer, expected) in [
            ("docs", ".", true),
            ("docs/api", "docs", true),
            ("docs", "docs", true),
            ("docs2", "docs", false),
            ("doc", "docs", false),
            (".", "docs", false),
        ] {
            assert_eq!(is_within(inner, outer), expected, "{inner} in {outer}");
        }
    }

    #[test]
    fn what_a_child_asks_beyond_its_parent() {
        let parent = StepPermissions {
            fs: vec![("docs".into(), false), ("out".into(), true)],
            env: vec!["HOME".into()],
            ..StepPermissions::default()
        };
        let child = StepPermissions {
            fs: vec![
                ("docs/api".into(), false),
                ("docs".into(), true),
                ("out/x".into(), true),
                ("src".into(), false),
            ],
            env: vec!["HOME".into(), "TOKEN".into()],
            run: vec!["git".into()],
            net: Vec::new(),
        };
        assert_eq!(
            child.beyond(&parent),
            ["read-write docs", "read src", "env TOKEN", "run git"]
        );
        assert!(parent.beyond(&parent).is_empty());
    }
}
