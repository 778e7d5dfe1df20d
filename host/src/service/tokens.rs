//! API tokens: 32 random bytes from the operating system, shown once as
//! `wfh_` + hex, kept only as their sha256 digest. A request presents one
//! as `Authorization: Bearer wfh_…`; its name is who acted (the audit log,
//! `started_by`, approvals).

use sha2::{Digest as _, Sha256};

/// The prefix every token starts with (so secret scanners can spot one).
pub const PREFIX: &str = "wfh_";

/// A new token's secret.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{PREFIX}{}", hex::encode(bytes)))
}

/// What the store keeps of `secret`.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A token name: 1–64 of letters, digits, `-`, `_`, `.`, `@`.
pub fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a token name: use 1 to 64 letters, digits, `-`, `_`, `.` or `@`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_kept_as_digests() {
        let (a, b) = (generate().expect("random"), generate().expect("random"));
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 64, "{a}");
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
    }

    #[test]
    fn names_are_short_and_plain() {
        assert!(check_name("alice@ci").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
    }
}
