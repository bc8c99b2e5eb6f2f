//! Where the bot's Backlog credential comes from: the environment, or an AWS Secrets Manager
//! secret read once at start-up. Error messages never quote the secret's text.

use serde::Deserialize;

use super::api::Credentials;
use crate::adapter::aws::error_text;

/// The secret's JSON: one of the two keys (extra keys, e.g. git credentials, are allowed).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretDocument {
    api_key: Option<String>,
    access_token: Option<String>,
}

const SHAPE: &str = r#"not JSON with a non-empty "apiKey" or "accessToken" string"#;

/// Reads `{"apiKey": "…"}` or `{"accessToken": "…"}`.
pub fn parse_secret(text: &str) -> Result<Credentials, &'static str> {
    // serde's messages can quote the value they choked on: never pass them on.
    let document: SecretDocument = serde_json::from_str(text).map_err(|_| SHAPE)?;
    let present = |value: Option<String>| value.filter(|value| !value.trim().is_empty());
    match (present(document.api_key), present(document.access_token)) {
        (Some(key), None) => Ok(Credentials::ApiKey(key.trim().to_owned())),
        (None, Some(token)) => Ok(Credentials::AccessToken(token.trim().to_owned())),
        (Some(_), Some(_)) => Err(r#"has both "apiKey" and "accessToken": keep one"#),
        (None, None) => Err(SHAPE),
    }
}

/// Why the secret gave no credential. Never carries the secret's text.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {secret_id}: {detail}")]
    Unreadable { secret_id: String, detail: String },
    #[error("secret {secret_id} has no string value")]
    NotText { secret_id: String },
    #[error("secret {secret_id} is {why}")]
    Shape {
        secret_id: String,
        why: &'static str,
    },
}

/// Fetches and parses the secret.
pub async fn from_secret(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<Credentials, SecretError> {
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|err| SecretError::Unreadable {
            secret_id: secret_id.into(),
            detail: error_text("Secrets Manager GetSecretValue", &err),
        })?;
    let text = output.secret_string().ok_or_else(|| SecretError::NotText {
        secret_id: secret_id.into(),
    })?;
    parse_secret(text).map_err(|why| SecretError::Shape {
        secret_id: secret_id.into(),
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_key_is_read_and_nothing_else_is_quoted() {
        assert_eq!(
            parse_secret(r#"{"apiKey":" abc ","gitPassword":"x"}"#),
            Ok(Credentials::ApiKey("abc".into()))
        );
        assert_eq!(
            parse_secret(r#"{"accessToken":"t"}"#),
            Ok(Credentials::AccessToken("t".into()))
        );
        for bad in [
            r#"{"apiKey":12345678}"#,
            r#"{"apiKey":""}"#,
            r#"{"apiKey":"a","accessToken":"b"}"#,
            "s3cr3t-not-json",
            "{}",
        ] {
            let err = parse_secret(bad).unwrap_err();
            assert!(
                !err.contains("12345678") && !err.contains("s3cr3t"),
                "{err}"
            );
        }
    }
}
