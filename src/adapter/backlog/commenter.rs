//! Comments on pull requests through one client: the bot's own comment carrying a marker is
//! updated, else a new one is added, so the same plan or event never comments twice.

use std::collections::HashMap;

use tokio::sync::{Mutex, OnceCell};

use super::api::{BacklogClient, BacklogError, Comment};
use crate::model::backlog::TextFormat;
use crate::model::delivery::{CommentDelivery, CommentStatus};

/// Comments through one client, with what every comment needs cached for the process: the
/// bot's own user id (only its comments are edited) and each project's text format.
pub struct Commenter {
    pub client: BacklogClient,
    myself: OnceCell<u64>,
    formats: Mutex<HashMap<String, TextFormat>>,
}

/// Comments searched for the bot's marker: the newest ones, where a re-run's comment is.
const SEARCHED_PAGES: usize = 3;

impl Commenter {
    pub fn new(client: BacklogClient) -> Self {
        Self {
            client,
            myself: OnceCell::new(),
            formats: Mutex::new(HashMap::new()),
        }
    }

    pub async fn text_format(&self, project: &str) -> Result<TextFormat, BacklogError> {
        if let Some(format) = self.formats.lock().await.get(project) {
            return Ok(*format);
        }
        let format = self.client.project(project).await?.text_format();
        self.formats
            .lock()
            .await
            .insert(project.to_string(), format);
        Ok(format)
    }

    async fn myself(&self) -> Result<u64, BacklogError> {
        self.myself
            .get_or_try_init(|| async { self.client.myself().await.map(|user| user.id) })
            .await
            .copied()
    }

    /// The bot's own comment carrying `marker`, if any.
    pub async fn find(
        &self,
        project: &str,
        repository: &str,
        pr: u64,
        marker: &str,
    ) -> Result<Option<Comment>, BacklogError> {
        let myself = self.myself().await?;
        let mut max_id = None;
        for _ in 0..SEARCHED_PAGES {
            let page = self
                .client
                .comments(project, repository, pr, max_id, 100)
                .await?;
            let oldest = page.iter().map(|comment| comment.id).min();
            let full = page.len() == 100;
            if let Some(found) = page.into_iter().find(|comment| {
                comment.created_user.id == myself
                    && comment
                        .content
                        .as_deref()
                        .is_some_and(|content| content.contains(marker))
            }) {
                return Ok(Some(found));
            }
            match oldest {
                Some(oldest) if full && oldest > 1 => max_id = Some(oldest - 1),
                _ => break,
            }
        }
        Ok(None)
    }

    /// Updates the bot's comment with this marker if there is one; `None` when there is none
    /// (nothing is added).
    pub async fn update_if_present(
        &self,
        project: &str,
        repository: &str,
        pr: u64,
        marker: &str,
        content: &str,
    ) -> Result<Option<CommentDelivery>, BacklogError> {
        let Some(existing) = self.find(project, repository, pr, marker).await? else {
            return Ok(None);
        };
        let comment = self
            .client
            .update_comment(project, repository, pr, existing.id, content)
            .await?;
        Ok(Some(CommentDelivery {
            pr: Some(pr),
            status: CommentStatus::Updated,
            comment_id: Some(comment.id),
            detail: None,
        }))
    }

    /// Updates the bot's comment with this marker, or adds one. A POST that failed with a
    /// server error may still have landed, so the next try looks for the marker again first.
    pub async fn upsert(
        &self,
        project: &str,
        repository: &str,
        pr: u64,
        marker: &str,
        content: &str,
    ) -> Result<CommentDelivery, BacklogError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let result = match self.find(project, repository, pr, marker).await? {
                Some(Comment { id, .. }) => self
                    .client
                    .update_comment(project, repository, pr, id, content)
                    .await
                    .map(|comment| (CommentStatus::Updated, comment.id)),
                None => self
                    .client
                    .add_comment(project, repository, pr, content)
                    .await
                    .map(|comment| (CommentStatus::Added, comment.id)),
            };
            match result {
                Ok((status, id)) => {
                    tracing::info!(pr, comment_id = id, ?status, "backlog comment");
                    return Ok(CommentDelivery {
                        pr: Some(pr),
                        status,
                        comment_id: Some(id),
                        detail: None,
                    });
                }
                Err(err) if err.is_retryable() && tries < 3 => {
                    tracing::warn!(pr, error = %err, "backlog comment retried");
                }
                Err(err) => return Err(err),
            }
        }
    }
}
