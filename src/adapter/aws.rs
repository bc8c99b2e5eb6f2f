//! AWS wiring: one SDK configuration for every client, from the SDK's standard sources
//! (environment, profile, container or instance role), so `AWS_ENDPOINT_URL` points every
//! client at a local emulator; and how long each kind of client may retry.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The SDK configuration, with [`CallBudget::WEBHOOK`] for every client that has no budget of
/// its own (the ledger, CodeBuild, Secrets Manager).
pub async fn load_config() -> SdkConfig {
    let loaded = aws_config::defaults(BehaviorVersion::latest()).load().await;
    CallBudget::WEBHOOK.apply(&loaded)
}

/// How a client retries, and the timeouts that follow from it: the whole operation may take
/// every attempt at its longest plus every wait at its longest, so the retry policy can always
/// run to its end and the caller sees the service's last answer (a throttling error, say), not
/// a timeout that cut the retries short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallBudget {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait before the first retry; each next one doubles, up to `max_wait` (the SDK
    /// waits a random part of it, so these are the longest waits).
    pub first_wait: Duration,
    pub max_wait: Duration,
    /// One attempt's limit.
    pub attempt_timeout: Duration,
}

impl CallBudget {
    /// The ledger, CodeBuild and Secrets Manager on the webhook's path, and the ledger in the
    /// events function: 2 attempts of up to 4 s, half a second between, 8.5 s a call (Backlog
    /// waits 10 s for the webhook's answer).
    pub const WEBHOOK: Self = Self {
        attempts: 2,
        first_wait: Duration::from_millis(500),
        max_wait: Duration::from_millis(500),
        attempt_timeout: Duration::from_secs(4),
    };

    /// The ledger while planning, in CodeBuild: each stack's record is what a button and the
    /// outcome handler find, so 4 attempts, waits of 0.5 s to 2 s, 23.5 s in all.
    pub const LEDGER_PLAN: Self = Self {
        attempts: 4,
        first_wait: Duration::from_millis(500),
        max_wait: Duration::from_secs(2),
        attempt_timeout: Duration::from_secs(5),
    };

    /// CloudFormation while planning, in a CodeBuild run of up to 30 minutes: it throttles
    /// busy accounts with "Rate exceeded", so 8 attempts with waits of 1 s up to 20 s (at
    /// most 71 s of waiting, 4 min 47 s in all).
    pub const CLOUDFORMATION_PLAN: Self = Self {
        attempts: 8,
        first_wait: Duration::from_secs(1),
        max_wait: Duration::from_secs(20),
        attempt_timeout: Duration::from_secs(27),
    };

    /// CloudFormation from the events function, which has 60 s for a CloudFormation read, a
    /// comment and a card: 3 attempts, waits of 1 s and 2 s, 21 s in all.
    pub const CLOUDFORMATION_EVENTS: Self = Self {
        attempts: 3,
        first_wait: Duration::from_secs(1),
        max_wait: Duration::from_secs(2),
        attempt_timeout: Duration::from_secs(6),
    };

    /// SNS while planning (Amazon Q throttles at 10 events a second): 5 attempts, waits of
    /// 0.2 s to 5 s, 28 s in all.
    pub const SNS_PLAN: Self = Self {
        attempts: 5,
        first_wait: Duration::from_millis(200),
        max_wait: Duration::from_secs(5),
        attempt_timeout: Duration::from_secs(5),
    };

    /// SNS from the events function: 3 attempts, waits of 0.2 s and 0.4 s, 9.6 s in all.
    pub const SNS_EVENTS: Self = Self {
        attempts: 3,
        first_wait: Duration::from_millis(200),
        max_wait: Duration::from_secs(1),
        attempt_timeout: Duration::from_secs(3),
    };

    /// S3 uploads of templates over 51,200 bytes (up to 1 MB): 3 attempts of up to 30 s.
    pub const S3_UPLOAD: Self = Self {
        attempts: 3,
        first_wait: Duration::from_secs(1),
        max_wait: Duration::from_secs(5),
        attempt_timeout: Duration::from_secs(30),
    };

    /// The longest the retries wait in all: `first_wait` doubling, each at most `max_wait`.
    pub fn waits(self) -> Duration {
        (0..self.attempts.saturating_sub(1))
            .map(|retry| {
                self.first_wait
                    .saturating_mul(2u32.saturating_pow(retry))
                    .min(self.max_wait)
            })
            .sum()
    }

    /// The operation's limit: every attempt at its longest and every wait.
    pub fn total(self) -> Duration {
        self.attempt_timeout.saturating_mul(self.attempts) + self.waits()
    }

    /// An SDK configuration whose clients retry and time out by this budget.
    pub fn apply(self, sdk: &SdkConfig) -> SdkConfig {
        sdk.to_builder()
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(self.attempts)
                    .with_initial_backoff(self.first_wait)
                    .with_max_backoff(self.max_wait),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(self.attempt_timeout)
                    .operation_timeout(self.total())
                    .build(),
            )
            .build()
    }
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
        SdkError::TimeoutError(_) => "no answer in time".to_owned(),
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
        assert_eq!(text, "no answer in time");
    }

    #[test]
    fn each_budget_lets_its_retries_run_to_the_end() {
        let plan = CallBudget::CLOUDFORMATION_PLAN;
        // 1 + 2 + 4 + 8 + 16 + 20 + 20: the seventh retry's wait is capped.
        assert_eq!(plan.waits(), Duration::from_secs(71));
        assert_eq!(plan.total(), Duration::from_secs(8 * 27 + 71));
        assert!(
            plan.total() > Duration::from_secs(12),
            "longer than the old cut"
        );
        // The events function has 60 s: a CloudFormation read and a card take about half.
        let events = CallBudget::CLOUDFORMATION_EVENTS.total() + CallBudget::SNS_EVENTS.total();
        assert!(events <= Duration::from_secs(31), "{events:?}");
        // Backlog waits 10 s for the webhook's answer: one call fits.
        assert!(CallBudget::WEBHOOK.total() < Duration::from_secs(10));
        assert_eq!(
            CallBudget::LEDGER_PLAN.total(),
            Duration::from_millis(23_500)
        );
        assert_eq!(
            CallBudget::SNS_PLAN.waits(),
            Duration::from_millis(200 + 400 + 800 + 1600)
        );
        let sdk = SdkConfig::builder().build();
        let applied = plan.apply(&sdk);
        let timeouts = applied.timeout_config().unwrap();
        assert_eq!(timeouts.operation_timeout(), Some(plan.total()));
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(plan.attempt_timeout)
        );
        let retries = applied.retry_config().unwrap();
        assert_eq!(retries.max_attempts(), 8);
        assert_eq!(retries.max_backoff(), Duration::from_secs(20));
    }
}
