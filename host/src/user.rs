//! Who is at the keyboard: the name `wfhost` records for what a person
//! does from the command line (`cli:NAME`: runs started, signals sent,
//! approvals), and how a recorded actor names its person.

/// The OS user running this process (`USER`, `USERNAME`, `LOGNAME`, else
/// `uid-N`).
pub fn os_user() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| format!("uid-{}", rustix::process::getuid().as_raw()))
}

/// The person a recorded actor stands for: `alice` for `cli:alice` and
/// `api:alice` (a token's name); the actor itself otherwise.
pub fn person(actor: &str) -> &str {
    actor.split_once(':').map_or(actor, |(_, who)| who)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_name_their_person() {
        assert_eq!(person("cli:alice"), "alice");
        assert_eq!(person("api:deploy-bot"), "deploy-bot");
        assert_eq!(person("cli"), "cli");
    }
}
