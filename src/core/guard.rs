//! Who may deliver: the secret path segment and the optional source-address allowlist.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Backlog signs no webhook (neither its webhook help page nor its API documents a signature), so
/// the secret in the URL is the credential.
pub const MIN_SECRET_LEN: usize = 32;

/// The webhook secret. Only its digest is kept; `Debug` never shows it.
#[derive(Clone)]
pub struct WebhookSecret {
    digest: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error(
        "the webhook secret must be at least {MIN_SECRET_LEN} characters (it has {0}); generate one with `openssl rand -hex 32`"
    )]
    TooShort(usize),
    #[error("the webhook secret must be URL-safe: letters, digits, - _ . and ~")]
    NotUrlSafe,
}

impl WebhookSecret {
    pub fn new(secret: &str) -> Result<Self, SecretError> {
        let length = secret.chars().count();
        if length < MIN_SECRET_LEN {
            return Err(SecretError::TooShort(length));
        }
        // Unreserved URL characters only, so the path segment needs no escaping anywhere.
        if !secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
        {
            return Err(SecretError::NotUrlSafe);
        }
        Ok(Self {
            digest: Sha256::digest(secret.as_bytes()).into(),
        })
    }

    /// Constant time: both sides are hashed to a fixed length first, so neither the contents
    /// nor the length of the secret leak through timing.
    pub fn matches(&self, candidate: &str) -> bool {
        let candidate: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        self.digest.ct_eq(&candidate).into()
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// Source addresses allowed to deliver. Empty means any.
#[derive(Debug, Clone, Default)]
pub struct SourceAllowlist {
    networks: Vec<IpNet>,
}

impl SourceAllowlist {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self { networks }
    }

    /// An unknown source is refused when the list is on: failing closed is the point of it.
    pub fn allows(&self, source: Option<IpAddr>) -> bool {
        if self.networks.is_empty() {
            return true;
        }
        let Some(source) = source else {
            return false;
        };
        // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
        let source = source.to_canonical();
        self.networks
            .iter()
            .any(|network| network.contains(&source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn the_secret_matches_only_itself() {
        let secret = WebhookSecret::new(SECRET).unwrap();
        assert!(secret.matches(SECRET));
        assert!(!secret.matches(&SECRET[..31]));
        assert!(!secret.matches(&format!("{SECRET}0")));
        assert!(!secret.matches(""));
        assert_eq!(format!("{secret:?}"), "WebhookSecret(<redacted>)");
    }

    #[test]
    fn short_or_unsafe_secrets_are_refused_without_echoing_them() {
        let err = WebhookSecret::new("short-secret").unwrap_err();
        assert_eq!(err, SecretError::TooShort(12));
        assert!(!err.to_string().contains("short-secret"));
        let err = WebhookSecret::new(&format!("{SECRET}/x")).unwrap_err();
        assert_eq!(err, SecretError::NotUrlSafe);
    }

    #[test]
    fn allowlist_matches_networks_and_mapped_ipv4_and_fails_closed() {
        let list = SourceAllowlist::new(vec![
            "54.248.107.22/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ]);
        assert!(list.allows(Some("54.248.107.22".parse().unwrap())));
        assert!(list.allows(Some("10.1.2.3".parse().unwrap())));
        assert!(list.allows(Some("::ffff:10.1.2.3".parse().unwrap())));
        assert!(!list.allows(Some("54.248.107.23".parse().unwrap())));
        assert!(!list.allows(None));
        assert!(SourceAllowlist::default().allows(None));
    }
}
