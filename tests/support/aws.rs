//! AWS set-up and inspection through the real SDK, pointed at moto directly.

use std::collections::HashMap;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveSpecification,
};

pub const REGION: &str = "us-east-1";

/// The environment the bot gets: every client of its SDK goes to `endpoint`.
pub fn env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", REGION),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

pub async fn config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await
}

/// The ledger table with the fixed key schema (`pk`, `sk`, TTL on `expires_at`).
pub async fn create_ledger(config: &SdkConfig, table: &str) {
    let client = aws_sdk_dynamodb::Client::new(config);
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .send()
        .await
        .unwrap();
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires_at")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

pub async fn ledger_items(config: &SdkConfig, table: &str) -> Vec<HashMap<String, AttributeValue>> {
    aws_sdk_dynamodb::Client::new(config)
        .scan()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
}

pub async fn create_codebuild_project(config: &SdkConfig, name: &str) {
    use aws_sdk_codebuild::types::{
        ComputeType, EnvironmentType, ProjectArtifacts, ProjectEnvironment, ProjectSource,
        SourceType,
    };
    aws_sdk_codebuild::Client::new(config)
        .create_project()
        .name(name)
        .source(
            ProjectSource::builder()
                // moto insists on a source location; the real project clones in its buildspec.
                .r#type(SourceType::S3)
                .location("cfn-chatops-artifacts/source.zip")
                .buildspec("version: 0.2\nphases:\n  build:\n    commands:\n      - cfn-chatops plan --repo .\n")
                .build()
                .unwrap(),
        )
        .artifacts(
            ProjectArtifacts::builder()
                .r#type(aws_sdk_codebuild::types::ArtifactsType::NoArtifacts)
                .build()
                .unwrap(),
        )
        .environment(
            ProjectEnvironment::builder()
                .r#type(EnvironmentType::ArmContainer)
                .image("aws/codebuild/amazonlinux-aarch64-standard:3.0")
                .compute_type(ComputeType::BuildGeneral1Small)
                .build()
                .unwrap(),
        )
        .service_role("arn:aws:iam::123456789012:role/cfn-chatops-codebuild")
        .send()
        .await
        .unwrap();
}

pub async fn builds(config: &SdkConfig, project: &str) -> Vec<String> {
    aws_sdk_codebuild::Client::new(config)
        .list_builds_for_project()
        .project_name(project)
        .send()
        .await
        .unwrap()
        .ids
        .unwrap_or_default()
}

/// Writes a ledger item as another process would have (string and number attributes).
pub async fn put_ledger_item(config: &SdkConfig, table: &str, item: &[(&str, AttributeValue)]) {
    aws_sdk_dynamodb::Client::new(config)
        .put_item()
        .table_name(table)
        .set_item(Some(
            item.iter()
                .map(|(name, value)| (name.to_string(), value.clone()))
                .collect(),
        ))
        .send()
        .await
        .unwrap();
}

/// The real AWS CLI (from requirements-dev.txt) against moto, as a person or Amazon Q runs it;
/// returns its output, panicking with its message on failure. A `--region` in `args` wins.
pub fn cli(args: &[&str]) -> String {
    let output = std::process::Command::new(super::moto::python())
        .args([
            "-m",
            "awscli",
            "--endpoint-url",
            &super::moto::moto().endpoint,
            "--region",
            REGION,
        ])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .expect("the AWS CLI runs");
    assert!(
        output.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
