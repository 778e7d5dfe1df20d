//! Verifying webhook requests, over the raw body and in constant time:
//! GitHub's `X-Hub-Signature-256`, Standard Webhooks (`webhook-id`,
//! `webhook-timestamp` within [`TOLERANCE`], `webhook-signature`), or a
//! bearer secret. Several secrets may be configured while one is rotated;
//! any of them verifies.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::workflow::model::WebhookScheme;

/// How far a Standard Webhooks timestamp may be from now.
pub const TOLERANCE: Duration = Duration::from_secs(300);

/// Why a request was refused (said to the sender, so it names no secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("missing header `{0}`")]
    Missing(&'static str),
    #[error("the signature does not match the body")]
    BadSignature,
    #[error("the timestamp is more than 5 minutes from now (a replay, or a clock off)")]
    Stale,
    #[error("malformed header `{0}`")]
    Malformed(&'static str),
}

/// Check `body` and its headers (`header(name)`, lower-case names) against
/// `secrets` as `scheme` says.
pub fn verify<'h>(
    scheme: WebhookScheme,
    secrets: &[String],
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
    now: SystemTime,
) -> Result<(), Refusal> {
    match scheme {
        WebhookScheme::GithubHmacSha256 => {
            let given =
                header("x-hub-signature-256").ok_or(Refusal::Missing("X-Hub-Signature-256"))?;
            let hex_digest = given
                .strip_prefix("sha256=")
                .ok_or(Refusal::Malformed("X-Hub-Signature-256"))?;
            let given =
                hex::decode(hex_digest).map_err(|_| Refusal::Malformed("X-Hub-Signature-256"))?;
            any_secret(secrets, |secret| {
                hmac(secret.as_bytes(), &[body])
                    .verify_slice(&given)
                    .is_ok()
            })
        }
        WebhookScheme::StandardWebhooks => {
            let id = header("webhook-id").ok_or(Refusal::Missing("webhook-id"))?;
            let timestamp =
                header("webhook-timestamp").ok_or(Refusal::Missing("webhook-timestamp"))?;
            let signatures =
                header("webhook-signature").ok_or(Refusal::Missing("webhook-signature"))?;
            let sent: u64 = timestamp
                .trim()
                .parse()
                .map_err(|_| Refusal::Malformed("webhook-timestamp"))?;
            let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            if now.abs_diff(sent) > TOLERANCE.as_secs() {
                return Err(Refusal::Stale);
            }
            let given: Vec<Vec<u8>> = signatures
                .split(' ')
                .filter_map(|entry| entry.strip_prefix("v1,"))
                .filter_map(|signature| STANDARD.decode(signature).ok())
                .collect();
            any_secret(secrets, |secret| {
                let key = secret.strip_prefix("whsec_").unwrap_or(secret);
                let Ok(key) = STANDARD.decode(key) else {
                    return false;
                };
                let expected = hmac(
                    &key,
                    &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
                )
                .finalize()
                .into_bytes();
                given
                    .iter()
                    .any(|signature| bool::from(signature.as_slice().ct_eq(&expected)))
            })
        }
        WebhookScheme::Bearer => {
            let given = header("authorization")
                .ok_or(Refusal::Missing("Authorization"))?
                .strip_prefix("Bearer ")
                .ok_or(Refusal::Malformed("Authorization"))?;
            any_secret(secrets, |secret| {
                bool::from(secret.as_bytes().ct_eq(given.trim().as_bytes()))
            })
        }
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// Every secret is tried (no early exit that would time which one matched).
fn any_secret(secrets: &[String], matches: impl Fn(&str) -> bool) -> Result<(), Refusal> {
    let matched = secrets
        .iter()
        .fold(false, |found, secret| matches(secret) | found);
    if matched {
        Ok(())
    } else {
        Err(Refusal::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// GitHub's documented example ("Validating webhook deliveries").
    #[test]
    fn githubs_documented_example_verifies_and_a_tampered_body_does_not() {
        let secret = vec!["It's a Secret to Everybody".to_string()];
        let signature = [(
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )];
        let now = SystemTime::now();
        let scheme = WebhookScheme::GithubHmacSha256;
        assert_eq!(
            verify(scheme, &secret, headers(&signature), b"Hello, World!", now),
            Ok(())
        );
        assert_eq!(
            verify(scheme, &secret, headers(&signature), b"Hello, World?", now),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            verify(scheme, &secret, headers(&[]), b"Hello, World!", now),
            Err(Refusal::Missing("X-Hub-Signature-256"))
        );
        // Rotation: an old and a new secret, either verifies.
        let rotated = vec!["new secret".to_string(), secret[0].clone()];
        assert_eq!(
            verify(scheme, &rotated, headers(&signature), b"Hello, World!", now),
            Ok(())
        );
    }

    #[test]
    fn standard_webhooks_check_the_signature_and_the_timestamp() {
        let key = STANDARD.encode(b"a standard webhooks key");
        let secret = vec![format!("whsec_{key}")];
        let (id, body) = ("msg_1", br#"{"a":1}"#);
        let sent = 1_700_000_000_u64;
        let signed = hmac(
            b"a standard webhooks key",
            &[id.as_bytes(), b".", sent.to_string().as_bytes(), b".", body],
        )
        .finalize()
        .into_bytes();
        let signature = format!("v1,bm90IGl0 v1,{}", STANDARD.encode(signed));
        let timestamp = sent.to_string();
        let pairs = [
            ("webhook-id", id),
            ("webhook-timestamp", timestamp.as_str()),
            ("webhook-signature", signature.as_str()),
        ];
        let at = |seconds: u64| UNIX_EPOCH + Duration::from_secs(seconds);
        let scheme = WebhookScheme::StandardWebhooks;
        assert_eq!(
            verify(scheme, &secret, headers(&pairs), body, at(sent + 10)),
            Ok(())
        );
        assert_eq!(
            verify(scheme, &secret, headers(&pairs), body, at(sent + 301)),
            Err(Refusal::Stale)
        );
        assert_eq!(
            verify(scheme, &secret, headers(&pairs), br#"{"a":2}"#, at(sent)),
            Err(Refusal::BadSignature)
        );
    }

    #[test]
    fn a_bearer_secret_must_match_exactly() {
        let secret = vec!["s3cret".to_string()];
        let scheme = WebhookScheme::Bearer;
        let now = SystemTime::now();
        assert_eq!(
            verify(
                scheme,
                &secret,
                headers(&[("authorization", "Bearer s3cret")]),
                b"",
                now
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                scheme,
                &secret,
                headers(&[("authorization", "Bearer s3cre")]),
                b"",
                now
            ),
            Err(Refusal::BadSignature)
        );
    }
}
