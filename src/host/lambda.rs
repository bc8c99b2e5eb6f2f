//! `cfn-chatops lambda`: a small dispatcher choosing which function this process serves.

use std::sync::Arc;

use crate::aws;
use crate::cli::{Failure, LambdaArgs, LambdaFunction};
use crate::intake::router::router;

pub async fn run(args: LambdaArgs) -> Result<(), Failure> {
    let aws = aws::load_config().await;
    match args.function {
        LambdaFunction::Webhook => {
            let intake = Arc::new(args.intake.into_intake(&aws)?);
            lambda_http::run(router(intake))
                .await
                .map_err(|err| Failure::runtime(format!("lambda runtime stopped: {err}")))
        }
    }
}
