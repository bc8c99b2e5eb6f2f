//! The two Lambda functions built from this binary: the webhook router (API Gateway payload v2
//! or a function URL) and the EventBridge events handler.

use std::sync::Arc;

use lambda_http::{LambdaEvent, lambda_runtime, service_fn};
use serde_json::Value;

use super::HostError;
use super::router::router;
use crate::pipeline::intake::Intake;
use crate::pipeline::outcome::OutcomeHandler;

pub async fn run_webhook(intake: Arc<Intake>) -> Result<(), HostError> {
    lambda_http::run(router(intake))
        .await
        .map_err(HostError::Lambda)
}

pub async fn run_events(handler: Arc<OutcomeHandler>) -> Result<(), HostError> {
    // An error answer makes Lambda retry the event (then the dead-letter queue).
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = Arc::clone(&handler);
        async move {
            let handled = handler.handle(&event.payload).await?;
            Ok::<_, lambda_runtime::Error>(serde_json::to_value(handled)?)
        }
    }))
    .await
    .map_err(HostError::Lambda)
}
