//! Where runs are kept: a SQLite file (the embedded default, `wfhost.db`
//! in the home) or a PostgreSQL database every process of a deployment
//! shares (`--db postgres://…` or `WFHOST_DB`).

use std::path::{Path, PathBuf};

/// A store's location, as `--db` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL.
    Postgres(String),
}

impl Location {
    /// `text` as `--db` reads it: a PostgreSQL URL, or a SQLite file's path.
    pub fn parse(text: &str) -> Self {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Self::Postgres(text.to_string())
        } else {
            Self::Sqlite(PathBuf::from(text))
        }
    }

    /// Whether anything was ever kept there (a database server is taken
    /// to exist: connecting says otherwise).
    pub fn exists(&self) -> bool {
        match self {
            Self::Sqlite(path) => path.exists(),
            Self::Postgres(_) => true,
        }
    }

    /// The SQLite file, when it is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Self::Sqlite(path) => Some(path),
            Self::Postgres(_) => None,
        }
    }
}

impl std::str::FromStr for Location {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse(text))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => f.write_str(&super::postgres::redacted(url)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_postgres_and_anything_else_is_a_file() {
        assert_eq!(
            Location::parse("postgres://wf:pw@db/runs"),
            Location::Postgres("postgres://wf:pw@db/runs".into())
        );
        assert!(matches!(
            Location::parse("postgresql://db/runs"),
            Location::Postgres(_)
        ));
        assert_eq!(
            Location::parse("state/wfhost.db"),
            Location::Sqlite("state/wfhost.db".into())
        );
        assert_eq!(
            Location::parse("postgres://wf:pw@db/runs").to_string(),
            "postgres://wf@db/runs"
        );
    }
}
