//! A step's effective grants: what its module asks for ∩ what is granted.

use super::ask::{ANY, Ask, AskKind};
use super::{StepPermissions, is_within};

/// The outcome of meeting a module's asks with a step's grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intersection<'a> {
    /// What the step's calls may reach.
    pub effective: StepPermissions,
    /// Required asks of the called action that the grants do not cover.
    pub missing: Vec<&'a Ask>,
}

/// Meet `asks` (a module's manifest; `None` for a module without one, which
/// gets what is granted) with `granted`, for a call of `action`.
///
/// Directories meet by containment: a grant of `.` and an ask for `docs`
/// give `docs`; an ask for `*` takes each granted directory. Access is the
/// narrower of the two. Names (variables, programs, hosts) meet exactly, `*`
/// on the module's side taking every granted name of that kind. Asks scoped
/// to other actions (`actions = [..]`) count for neither side.
pub fn intersect<'a>(
    asks: Option<&'a [Ask]>,
    granted: &StepPermissions,
    action: &str,
) -> Intersection<'a> {
    let Some(asks) = asks else {
        return Intersection {
            effective: granted.clone(),
            missing: Vec::new(),
        };
    };
    let mut effective = StepPermissions::default();
    // An ask scoped to some actions grants nothing to the others.
    for ask in asks.iter().filter(|ask| ask.applies_to(action)) {
        match &ask.kind {
            AskKind::Fs { path, writable } => {
                for (granted_path, granted_writable) in &granted.fs {
                    let writable = *writable && *granted_writable;
                    if path == ANY || is_within(granted_path, path) {
                        effective.add_dir(granted_path.clone(), writable);
                    } else if is_within(path, granted_path) {
                        effective.add_dir(path.clone(), writable);
                    }
                }
            }
            AskKind::Env { name } => meet_names(name, &granted.env, &mut effective.env),
            AskKind::Run { program } => meet_names(program, &granted.run, &mut effective.run),
            AskKind::Net { host } => meet_names(host, &granted.net, &mut effective.net),
        }
    }
    let missing = asks
        .iter()
        .filter(|ask| !ask.optional && ask.applies_to(action) && !is_granted(ask, granted))
        .collect();
    Intersection { effective, missing }
}

fn meet_names(asked: &str, granted: &[String], effective: &mut Vec<String>) {
    for name in granted {
        if asked == ANY || asked == name {
            StepPermissions::add_name(effective, name);
        }
    }
}

/// Whether `granted` covers `ask` fully (for `*`: at least one grant).
fn is_granted(ask: &Ask, granted: &StepPermissions) -> bool {
    let named = |asked: &str, list: &[String]| {
        if asked == ANY {
            !list.is_empty()
        } else {
            list.iter().any(|name| name == asked)
        }
    };
    match &ask.kind {
        AskKind::Fs { path, writable } => granted.fs.iter().any(|(granted_path, w)| {
            (path == ANY || is_within(path, granted_path)) && (*w || !*writable)
        }),
        AskKind::Env { name } => named(name, &granted.env),
        AskKind::Run { program } => named(program, &granted.run),
        AskKind::Net { host } => named(host, &granted.net),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(kind: AskKind) -> Ask {
        Ask {
            kind,
            reason: "because".into(),
            optional: false,
            actions: Vec::new(),
        }
    }

    fn fs(path: &str, writable: bool) -> AskKind {
        AskKind::Fs {
            path: path.into(),
            writable,
        }
    }

    fn granted(fs: &[(&str, bool)], env: &[&str], run: &[&str]) -> StepPermissions {
        StepPermissions {
            fs: fs.iter().map(|(p, w)| (p.to_string(), *w)).collect(),
            env: env.iter().map(ToString::to_string).collect(),
            run: run.iter().map(ToString::to_string).collect(),
            net: Vec::new(),
        }
    }

    #[test]
    fn without_a_manifest_the_grants_apply() {
        let grants = granted(&[(".", true)], &["HOME"], &["cargo"]);
        let met = intersect(None, &grants, "any");
        assert_eq!(met.effective, grants);
        assert!(met.missing.is_empty());
    }

    /// (asks, grants, effective, number of missing asks)
    #[test]
    fn table() {
        type Case = (Vec<AskKind>, StepPermissions, StepPermissions, usize);
        let cases: Vec<Case> = vec![
            // An ask for `docs` inside a grant of `.`: only `docs`, narrower access.
            (
                vec![fs("docs", true)],
                granted(&[(".", false)], &[], &[]),
                granted(&[("docs", false)], &[], &[]),
                1,
            ),
            (
                vec![fs("docs", false)],
                granted(&[(".", true)], &[], &[]),
                granted(&[("docs", false)], &[], &[]),
                0,
            ),
            // `*` takes each granted directory.
            (
                vec![fs("*", true)],
                granted(&[("src", true), ("docs", false)], &[], &[]),
                granted(&[("src", true), ("docs", false)], &[], &[]),
                0,
            ),
            // `*` read-write with only read-only grants: not enough.
            (
                vec![fs("*", true)],
                granted(&[("docs", false)], &[], &[]),
                granted(&[("docs", false)], &[], &[]),
                1,
            ),
            (
                vec![fs("*", false)],
                granted(&[], &[], &[]),
                granted(&[], &[], &[]),
                1,
            ),
            // A grant inside the ask's directory is kept as granted.
            (
                vec![fs(".", true)],
                granted(&[("src", true)], &[], &[]),
                granted(&[("src", true)], &[], &[]),
                1,
            ),
            // Unrelated directories meet in nothing.
            (
                vec![fs("docs", false)],
                granted(&[("src", true)], &[], &[]),
                granted(&[], &[], &[]),
                1,
            ),
            // Names meet exactly; what the module did not ask for is dropped.
            (
                vec![AskKind::Env {
                    name: "HOME".into(),
                }],
                granted(&[], &["HOME", "TOKEN"], &[]),
                granted(&[], &["HOME"], &[]),
                0,
            ),
            (
                vec![AskKind::Run {
                    program: "*".into(),
                }],
                granted(&[], &[], &["cargo", "pytest"]),
                granted(&[], &[], &["cargo", "pytest"]),
                0,
            ),
            (
                vec![AskKind::Run {
                    program: "cargo".into(),
                }],
                granted(&[], &[], &["pytest"]),
                granted(&[], &[], &[]),
                1,
            ),
            // Asking for nothing gets nothing, whatever is granted.
            (
                vec![],
                granted(&[(".", true)], &["HOME"], &["cargo"]),
                granted(&[], &[], &[]),
                0,
            ),
        ];
        for (index, (kinds, grants, effective, missing)) in cases.into_iter().enumerate() {
            let asks: Vec<Ask> = kinds.into_iter().map(ask).collect();
            let met = intersect(Some(&asks), &grants, "any");
            assert_eq!(met.effective, effective, "case {index}");
            assert_eq!(met.missing.len(), missing, "case {index}");
        }
    }

    #[test]
    fn optional_and_per_action_asks_are_not_required() {
        let mut optional = ask(AskKind::Run {
            program: "*".into(),
        });
        optional.optional = true;
        let mut scoped = ask(AskKind::Env {
            name: "TOKEN".into(),
        });
        scoped.actions = vec!["publish".into()];
        let asks = [optional, scoped];
        let nothing = StepPermissions::default();
        assert!(intersect(Some(&asks), &nothing, "check").missing.is_empty());
        assert_eq!(intersect(Some(&asks), &nothing, "publish").missing.len(), 1);
        let token = StepPermissions {
            env: vec!["TOKEN".into()],
            ..StepPermissions::default()
        };
        assert_eq!(
            intersect(Some(&asks), &token, "publish").effective.env,
            ["TOKEN"]
        );
        assert!(intersect(Some(&asks), &token, "check").effective.is_empty());
    }
}
