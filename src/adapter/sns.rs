//! SNS delivery to Amazon Q: the notification JSON string as `Message` (the subscription must
//! not use raw delivery), thread parent first, at most 10 per second per topic (Amazon Q drops
//! the excess), every outcome recorded.

use std::time::Duration;

use aws_config::SdkConfig;
use tokio::time::Instant;

use crate::adapter::aws::{CallBudget, error_text};
use crate::model::delivery::CardDelivery;
use crate::model::notification::Notification;

/// Amazon Q throttles at 10 events per second: a little slower than that, so jitter on the
/// way never puts 11 in one second.
pub const MIN_INTERVAL: Duration = Duration::from_millis(110);

pub struct Publisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl Publisher {
    /// Throttling and 5xx are retried by the SDK, within `budget`.
    pub fn new(sdk: &SdkConfig, budget: CallBudget, topic_arn: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_sns::Client::new(&budget.apply(sdk)),
            topic_arn: topic_arn.into(),
        }
    }

    /// Publishes in order, paced; one failure never stops the others.
    pub async fn publish(&self, cards: &[Notification]) -> Vec<CardDelivery> {
        let mut deliveries = Vec::with_capacity(cards.len());
        let mut next_slot = Instant::now();
        for card in cards {
            let mut delivery = CardDelivery {
                id: card.id.clone(),
                title: card.content.title.clone(),
                delivered: false,
                message_id: None,
                error: None,
            };
            let problems = card.problems();
            if !problems.is_empty() {
                // The service would drop it silently: say so instead of publishing.
                delivery.error = Some(format!("not a valid notification: {}", problems.join("; ")));
                deliveries.push(delivery);
                continue;
            }
            tokio::time::sleep_until(next_slot).await;
            next_slot = Instant::now() + MIN_INTERVAL;
            let message = match serde_json::to_string(card) {
                Ok(message) => message,
                Err(err) => {
                    delivery.error = Some(err.to_string());
                    deliveries.push(delivery);
                    continue;
                }
            };
            match self
                .client
                .publish()
                .topic_arn(&self.topic_arn)
                .message(message)
                .send()
                .await
            {
                Ok(output) => {
                    delivery.delivered = true;
                    delivery.message_id = output.message_id;
                }
                Err(err) => {
                    delivery.error =
                        Some(format!("SNS Publish: {}", error_text("SNS Publish", &err)))
                }
            }
            tracing::info!(
                id = delivery.id,
                delivered = delivery.delivered,
                error = delivery.error.as_deref(),
                "notification"
            );
            deliveries.push(delivery);
        }
        deliveries
    }
}
