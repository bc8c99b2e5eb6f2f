//! AWS wiring: one SDK configuration for every client, from the SDK's standard sources
//! (environment, profile, container or instance role), so `AWS_ENDPOINT_URL` points every
//! client at a local emulator.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(12))
                .build(),
        )
        .load()
        .await
}

/// A CloudFormation client for `region`. CloudFormation throttles with "Rate exceeded": more
/// attempts and longer backoff than the SDK's default of 3 attempts.
pub fn cloudformation(sdk: &SdkConfig, region: &str) -> aws_sdk_cloudformation::Client {
    let config = aws_sdk_cloudformation::config::Builder::from(sdk)
        .region(aws_sdk_cloudformation::config::Region::new(
            region.to_owned(),
        ))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(8)
                .with_initial_backoff(Duration::from_secs(1))
                .with_max_backoff(Duration::from_secs(20)),
        )
        .build();
    aws_sdk_cloudformation::Client::from_conf(config)
}
