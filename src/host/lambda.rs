//! `cfn-chatops lambda`: a small dispatcher choosing which function this process serves.

use std::sync::Arc;

use lambda_http::{LambdaEvent, lambda_runtime, service_fn};
use serde_json::Value;

use crate::aws;
use crate::cli::{Failure, LambdaArgs, LambdaFunction};
use crate::intake::router::router;
use crate::outcome::handler::OutcomeHandler;

pub async fn run(args: LambdaArgs) -> Result<(), Failure> {
    let aws = aws::load_config().await;
    let stopped =
        |err: lambda_runtime::Error| Failure::runtime(format!("lambda runtime stopped: {err}"));
    match args.function {
        LambdaFunction::Webhook => {
            let intake = Arc::new(args.intake.into_intake(&aws).await?);
            lambda_http::run(router(intake)).await.map_err(stopped)
        }
        LambdaFunction::Events => {
            let handler = Arc::new(
                OutcomeHandler::from_settings(
                    &aws,
                    &args.intake.ledger,
                    &args.intake.backlog,
                    &args.slack,
                )
                .await?,
            );
            // An error answer makes Lambda retry the event (then the dead-letter queue).
            lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
                let handler = Arc::clone(&handler);
                async move {
                    let handled = handler.handle(&event.payload).await?;
                    Ok::<_, lambda_runtime::Error>(serde_json::to_value(handled)?)
                }
            }))
            .await
            .map_err(stopped)
        }
    }
}
