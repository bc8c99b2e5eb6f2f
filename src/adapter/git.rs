//! The real git CLI on the repository being planned. Files are read at the planned commit
//! (`git show`), never from the working tree, so the checkout's state does not matter.

use std::path::{Path, PathBuf};

use tokio::process::Command;

use crate::core::changes::{FileChange, parse_name_status};
use crate::model::commit::parse_full;

#[derive(Debug, thiserror::Error)]
#[error("git {args}: {message}")]
pub struct GitError {
    args: String,
    message: String,
}

pub struct Repo {
    dir: PathBuf,
}

impl Repo {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }

    async fn output(&self, args: &[&str]) -> Result<std::process::Output, GitError> {
        self.output_with(args, &[]).await
    }

    async fn output_with(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<std::process::Output, GitError> {
        Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .envs(env.iter().copied())
            .output()
            .await
            .map_err(|err| GitError {
                args: args.join(" "),
                message: format!("cannot run git: {err}"),
            })
    }

    async fn run(&self, args: &[&str]) -> Result<Vec<u8>, GitError> {
        let output = self.output(args).await?;
        if output.status.success() {
            Ok(output.stdout)
        } else {
            Err(GitError {
                args: args.join(" "),
                message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            })
        }
    }

    /// A shallow clone cannot tell parents or ancestry: deepen it from `origin` first.
    pub async fn ensure_history(&self) -> Result<(), GitError> {
        let shallow = self.run(&["rev-parse", "--is-shallow-repository"]).await?;
        if String::from_utf8_lossy(&shallow).trim() == "true" {
            self.run(&["fetch", "--quiet", "--unshallow", "origin"])
                .await?;
        }
        Ok(())
    }

    /// Whether `rev` names a commit here.
    pub async fn has_commit(&self, rev: &str) -> Result<bool, GitError> {
        let object = format!("{rev}^{{commit}}");
        Ok(self
            .output(&["cat-file", "-e", &object])
            .await?
            .status
            .success())
    }

    /// Makes sure `commit` is here, fetching it from `origin` if the clone is behind.
    pub async fn ensure_commit(&self, commit: &str) -> Result<(), GitError> {
        if self.has_commit(commit).await? {
            return Ok(());
        }
        self.run(&["fetch", "--quiet", "origin", commit]).await?;
        if self.has_commit(commit).await? {
            Ok(())
        } else {
            Err(GitError {
                args: format!("fetch origin {commit}"),
                message: "the commit is not in the repository".into(),
            })
        }
    }

    /// The first parent of `commit`, or `None` for a root commit.
    pub async fn first_parent(&self, commit: &str) -> Result<Option<String>, GitError> {
        self.resolve(&format!("{commit}^1")).await
    }

    /// The commit `rev` names, or `None` when it names none here.
    async fn resolve(&self, rev: &str) -> Result<Option<String>, GitError> {
        let output = self
            .output(&["rev-parse", "--verify", "--quiet", rev])
            .await?;
        Ok(output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned()))
    }

    /// Rename-aware name-status diff; `base` `None` compares with the empty tree.
    pub async fn changed_files(
        &self,
        base: Option<&str>,
        after: &str,
    ) -> Result<Vec<FileChange>, GitError> {
        let empty_tree;
        let base = match base {
            Some(base) => base,
            None => {
                empty_tree = self.empty_tree().await?;
                &empty_tree
            }
        };
        // -l0: no limit on rename detection, so a large push still reports renames.
        let output = self
            .run(&["diff", "--name-status", "-M", "-l0", "-z", base, after])
            .await?;
        Ok(parse_name_status(&output))
    }

    async fn empty_tree(&self) -> Result<String, GitError> {
        let output = self.run(&["hash-object", "-t", "tree", "--stdin"]).await?;
        Ok(String::from_utf8_lossy(&output).trim().to_owned())
    }

    /// The content of `path` at `commit`, or `None` if it does not exist there.
    pub async fn read(&self, commit: &str, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        let object = format!("{commit}:{path}");
        let output = self.output(&["cat-file", "blob", &object]).await?;
        Ok(output.status.success().then_some(output.stdout))
    }

    /// Every file path at `commit`.
    pub async fn files(&self, commit: &str) -> Result<Vec<String>, GitError> {
        let output = self
            .run(&["ls-tree", "-r", "-z", "--name-only", commit])
            .await?;
        Ok(output
            .split(|byte| *byte == 0)
            .filter(|path| !path.is_empty())
            .map(|path| String::from_utf8_lossy(path).into_owned())
            .collect())
    }

    /// The subject line and author name of `commit`.
    pub async fn subject_and_author(&self, commit: &str) -> Result<(String, String), GitError> {
        let output = self
            .run(&["log", "-1", "--format=%s%x00%an", commit])
            .await?;
        let text = String::from_utf8_lossy(&output);
        let (subject, author) = text
            .trim_end_matches('\n')
            .split_once('\0')
            .unwrap_or((&text, ""));
        Ok((subject.to_owned(), author.to_owned()))
    }

    /// Commits reachable from `after` but not from `base`, newest first, at most `limit`.
    pub async fn commits(
        &self,
        base: Option<&str>,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>, GitError> {
        let max = format!("--max-count={limit}");
        let excluded = base.map(|base| format!("^{base}"));
        let mut args = vec!["rev-list", max.as_str(), after];
        args.extend(excluded.as_deref());
        let output = self.run(&args).await?;
        Ok(String::from_utf8_lossy(&output)
            .lines()
            .map(str::to_owned)
            .collect())
    }

    /// Whether `ancestor` is an ancestor of (or equal to) `descendant`.
    pub async fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool, GitError> {
        let output = self
            .output(&["merge-base", "--is-ancestor", ancestor, descendant])
            .await?;
        Ok(output.status.success())
    }

    /// The commit `branch` is at: as `origin` has it now (fetched), or as this repository has
    /// it when it has no `origin`. `branch` is only ever read inside a full ref name, so no name
    /// can pass for an option.
    pub async fn fetch_branch(&self, branch: &str) -> Result<String, GitError> {
        let tip = if self.has_origin().await? {
            let tip = format!("refs/remotes/origin/{branch}");
            self.run(&[
                "fetch",
                "--quiet",
                "origin",
                &format!("+refs/heads/{branch}:{tip}"),
            ])
            .await?;
            tip
        } else {
            format!("refs/heads/{branch}")
        };
        self.resolve(&format!("{tip}^{{commit}}"))
            .await?
            .ok_or_else(|| GitError {
                args: format!("rev-parse {tip}"),
                message: format!("branch {branch} is not in the repository"),
            })
    }

    /// Where a pull request from `head` into a branch at `tip` starts. `None`: no common
    /// history.
    pub async fn merge_base(&self, tip: &str, head: &str) -> Result<Option<String>, GitError> {
        let output = self.output(&["merge-base", tip, head]).await?;
        match output.status.code() {
            Some(0) => Ok(Some(
                String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            )),
            Some(1) => Ok(None),
            _ => Err(GitError {
                args: format!("merge-base {tip} {head}"),
                message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            }),
        }
    }

    /// The merge of `head` into `tip`, as a commit of their merged tree (nothing is checked
    /// out, no ref moves). `None`: they conflict.
    pub async fn merged(&self, tip: &str, head: &str) -> Result<Option<String>, GitError> {
        let output = self
            .output(&["merge-tree", "--write-tree", "--no-messages", tip, head])
            .await?;
        let tree = match output.status.code() {
            Some(0) => String::from_utf8_lossy(&output.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
            Some(1) => return Ok(None),
            _ => {
                return Err(GitError {
                    args: format!("merge-tree --write-tree {tip} {head}"),
                    message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
                });
            }
        };
        // A fixed identity and date: the same merge is the same commit, whoever previews it.
        let output = self
            .output_with(
                &[
                    "commit-tree",
                    &tree,
                    "-p",
                    tip,
                    "-p",
                    head,
                    "-m",
                    "cfn-chatops preview merge",
                ],
                &[
                    ("GIT_AUTHOR_NAME", "cfn-chatops"),
                    ("GIT_AUTHOR_EMAIL", "cfn-chatops@invalid"),
                    ("GIT_AUTHOR_DATE", "1970-01-01T00:00:00Z"),
                    ("GIT_COMMITTER_NAME", "cfn-chatops"),
                    ("GIT_COMMITTER_EMAIL", "cfn-chatops@invalid"),
                    ("GIT_COMMITTER_DATE", "1970-01-01T00:00:00Z"),
                ],
            )
            .await?;
        if !output.status.success() {
            return Err(GitError {
                args: format!("commit-tree {tree}"),
                message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        Ok(Some(
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        ))
    }

    /// Where `branch` points now: at `origin` (asked, not fetched), or here when there is no
    /// `origin`. `None`: no such branch (or a name git cannot have). `branch` is only ever read
    /// inside a full ref name.
    pub async fn branch_tip(&self, branch: &str) -> Result<Option<String>, GitError> {
        let full = format!("refs/heads/{branch}");
        if !self.has_origin().await? {
            return self.resolve(&format!("{full}^{{commit}}")).await;
        }
        // `<sha>\t<ref>` lines, matched by their tail: the exact ref is picked.
        let listed = self.run(&["ls-remote", "origin", &full]).await?;
        Ok(String::from_utf8_lossy(&listed)
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .find(|(_, name)| *name == full)
            .and_then(|(commit, _)| parse_full(commit)))
    }

    async fn has_origin(&self) -> Result<bool, GitError> {
        Ok(self
            .output(&["config", "--get", "remote.origin.url"])
            .await?
            .status
            .success())
    }

    /// The parents of `commit` (two for a merge commit).
    pub async fn parents(&self, commit: &str) -> Result<Vec<String>, GitError> {
        let output = self
            .run(&["rev-list", "--parents", "-n", "1", commit])
            .await?;
        Ok(String::from_utf8_lossy(&output)
            .split_whitespace()
            .skip(1)
            .map(str::to_owned)
            .collect())
    }
}
