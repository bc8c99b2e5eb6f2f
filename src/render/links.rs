//! Links to the Backlog space: the repository, a pull request, a commit. One rule for Slack
//! cards and Backlog comments alike: a link is only built from values that cannot alter it.

use crate::model::commit::is_full_commit_id;

/// What cards and comments link to.
#[derive(Debug, Clone, Default)]
pub struct Links {
    /// The Backlog space, e.g. `https://example.backlog.com`; no links without it.
    pub backlog_url: Option<String>,
}

/// Project keys and repository names as Backlog allows them (the webhook validates them, but a
/// report file may say anything).
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// An http(s) URL that cannot break out of a Slack `<url|label>` link, a Markdown `[label](url)`
/// or a Backlog `[[label>url]]`.
fn plain_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"<>|`\"'()[]".contains(&b))
}

impl Links {
    /// `{space}/git/{project}/{repository}`.
    pub fn repository(&self, project: Option<&str>, repository: Option<&str>) -> Option<String> {
        let base = self.backlog_url.as_deref()?.trim_end_matches('/');
        let (project, repository) = (project?, repository?);
        (plain_url(base) && plain_name(project) && plain_name(repository))
            .then(|| format!("{base}/git/{project}/{repository}"))
    }

    pub fn pull_request(
        &self,
        project: Option<&str>,
        repository: Option<&str>,
        pr: Option<u64>,
    ) -> Option<String> {
        Some(format!(
            "{}/pullRequests/{}",
            self.repository(project, repository)?,
            pr?
        ))
    }

    pub fn commit(
        &self,
        project: Option<&str>,
        repository: Option<&str>,
        commit: &str,
    ) -> Option<String> {
        self.repository(project, repository)
            .filter(|_| is_full_commit_id(commit))
            .map(|repository| format!("{repository}/commit/{commit}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "d3adb33fc0ffee00112233445566778899aabbcc";

    fn links(url: &str) -> Links {
        Links {
            backlog_url: Some(url.into()),
        }
    }

    #[test]
    fn links_are_built_from_plain_values_only() {
        let space = links("https://x.backlog.com/");
        assert_eq!(
            space
                .commit(Some("INFRA"), Some("cfn-templates"), SHA)
                .as_deref(),
            Some(format!("https://x.backlog.com/git/INFRA/cfn-templates/commit/{SHA}").as_str())
        );
        assert_eq!(
            space
                .pull_request(Some("INFRA"), Some("cfn-templates"), Some(57))
                .as_deref(),
            Some("https://x.backlog.com/git/INFRA/cfn-templates/pullRequests/57")
        );
        assert_eq!(space.pull_request(Some("INFRA"), Some("r"), None), None);
        assert_eq!(Links::default().repository(Some("INFRA"), Some("r")), None);
        for (url, project, repository, commit) in [
            ("ftp://x.backlog.com", "INFRA", "r", SHA),
            ("https://x.backlog.com/|evil", "INFRA", "r", SHA),
            ("https://x.backlog.com/)(", "INFRA", "r", SHA),
            ("https://x.backlog.com", "IN FRA", "r", SHA),
            ("https://x.backlog.com", "INFRA", "r>evil", SHA),
            ("https://x.backlog.com", "INFRA", "r", "d3adb33|x"),
            ("https://x.backlog.com", "INFRA", "r", "d3adb33"),
            ("https://x.backlog.com", "INFRA", "r", ""),
        ] {
            assert_eq!(
                links(url).commit(Some(project), Some(repository), commit),
                None,
                "{url} {project} {repository} {commit}"
            );
        }
    }
}
