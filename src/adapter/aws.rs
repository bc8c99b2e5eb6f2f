//! AWS wiring: one SDK configuration for every client, from the SDK's standard sources
//! (environment, profile, container or instance role), so `AWS_ENDPOINT_URL` points every
//! client at a local emulator.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

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

/// An AWS call's failure as people read it: the service's code and message when it answered,
/// else what went wrong on the way, in a few words. The SDK's whole story (which can hold
/// `Debug` dumps of its types) goes to the log, never to cards, comments or reports.
pub fn error_text<E, R>(operation: &str, err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    tracing::warn!(operation, error = %DisplayErrorContext(err), "AWS call failed");
    match err {
        SdkError::ServiceError(_) => match (err.code(), err.message()) {
            (Some(code), Some(message)) if !message.is_empty() => format!("{code}: {message}"),
            (Some(code), _) => code.to_owned(),
            (None, Some(message)) if !message.is_empty() => message.to_owned(),
            _ => "the service refused the request".to_owned(),
        },
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => "timed out".to_owned(),
        SdkError::DispatchFailure(failure) if failure.is_io() => {
            "could not reach the service".to_owned()
        }
        SdkError::DispatchFailure(_) => "the request could not be sent".to_owned(),
        SdkError::ResponseError(_) => "the answer could not be read".to_owned(),
        SdkError::ConstructionFailure(_) => "the request could not be built".to_owned(),
        _ => "failed".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudformation::error::ErrorMetadata;
    use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksError;

    use super::*;

    #[test]
    fn the_service_speaks_first_and_no_sdk_type_is_dumped() {
        // The raw answer plays no part in the text: `()` stands for it.
        let refused: SdkError<DescribeStacksError, ()> = SdkError::service_error(
            DescribeStacksError::generic(
                ErrorMetadata::builder()
                    .code("Throttling")
                    .message("Rate exceeded")
                    .build(),
            ),
            (),
        );
        assert_eq!(
            error_text("DescribeStacks", &refused),
            "Throttling: Rate exceeded"
        );
        let timed_out: SdkError<DescribeStacksError, ()> =
            SdkError::timeout_error("MaybeTimeoutError { kind: Operation, duration: 12s }");
        let text = error_text("DescribeStacks", &timed_out);
        assert_eq!(text, "timed out");
    }
}
