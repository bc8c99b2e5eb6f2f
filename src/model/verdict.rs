//! The safety verdict on a planned change set: is it safe to execute, and if not, why.

use serde::{Deserialize, Serialize};

/// A stack's reason when the safety verdict blocked its change set (and it was deleted).
pub const BLOCKED_BY_VERDICT: &str = "blocked by the safety verdict";

/// How far a change set may go. Ordered: the worst finding sets the verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// No risk found.
    #[default]
    Ok,
    /// Executable, after a person has read the reasons.
    Review,
    /// Not executable: the change set is deleted.
    Blocked,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Review => "review",
            Level::Blocked => "blocked",
        }
    }
}

/// Who found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The bot's own risk rules.
    Builtin,
    /// CloudFormation's pre-deployment validation.
    Cloudformation,
    /// A CloudFormation Hook that ran on the change set.
    Hook,
    /// The team's Guard rules.
    Guard,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Builtin => "builtin",
            Source::Cloudformation => "cloudformation",
            Source::Hook => "hook",
            Source::Guard => "guard",
        }
    }
}

/// One reason for the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// A stable id: `data-loss`, `permissions`, a Guard rule's name, a validation or hook name.
    pub rule: String,
    /// The logical id (and type) it is about, when it is about one resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// What was found; CloudFormation's and hooks' words verbatim.
    pub message: String,
    pub source: Source,
    /// What this finding alone makes of the change set (after the repository's settings).
    pub level: Level,
    /// The reason of the waiver in `.cfn-chatops.yml` that lifts it, when one does: a waived
    /// finding is shown but does not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waived: Option<String>,
}

impl Finding {
    /// `rule — Resource (Type): message`, on one line.
    /// The source is named unless it is the bot's own rules.
    pub fn summary(&self) -> String {
        let rule = match self.source {
            Source::Builtin => self.rule.clone(),
            source => format!("{} ({})", self.rule, source.as_str()),
        };
        match &self.resource {
            Some(resource) => format!("{rule} — {resource}: {}", self.message),
            None => format!("{rule}: {}", self.message),
        }
    }

    /// `summary (waived: reason)`, for a waived finding.
    pub fn waiver_line(&self) -> String {
        match &self.waived {
            Some(reason) => format!("{} (waived: {reason})", self.summary()),
            None => self.summary(),
        }
    }

    /// Whether a waiver can lift it. CloudFormation's refusals (a validation or a Hook in
    /// `FAIL` mode, the only ones blocked) cannot: CloudFormation has already failed the change
    /// set.
    pub fn waivable(&self) -> bool {
        !(self.level == Level::Blocked
            && matches!(self.source, Source::Cloudformation | Source::Hook))
    }

    /// Whether it weighs on the verdict: not waived, and more than a remark.
    pub fn counts(&self) -> bool {
        self.waived.is_none() && self.level > Level::Ok
    }
}

/// The verdict on one change set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Verdict {
    pub level: Level,
    /// Worst first; waived ones, then remarks (level `ok`), last.
    pub findings: Vec<Finding>,
    /// How many rules were checked (built-in and Guard), for "no risks found by N rules".
    pub rules_checked: usize,
    /// What could not be checked (an older endpoint without the API, an unreadable answer):
    /// the verdict is then no more certain than what was checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchecked: Vec<String>,
}

impl Verdict {
    /// Orders the findings (worst first, waived and remarks last) and sets the level from those that count.
    pub fn new(mut findings: Vec<Finding>, rules_checked: usize, unchecked: Vec<String>) -> Self {
        // Reasons first, then what was waived, then remarks.
        findings.sort_by_key(|finding| {
            (
                !finding.counts(),
                finding.waived.is_none(),
                std::cmp::Reverse(finding.level),
                source_rank(finding.source),
            )
        });
        let level = findings
            .iter()
            .filter(|finding| finding.counts())
            .map(|finding| finding.level)
            .max()
            .unwrap_or_default();
        Self {
            level,
            findings,
            rules_checked,
            unchecked,
        }
    }

    /// The findings that set the level.
    pub fn reasons(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|finding| finding.counts())
    }

    /// The findings lifted by a waiver.
    pub fn waived(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|finding| finding.waived.is_some())
    }
}

/// At the same level: data loss and permissions (the bot's rules) first, so a card's few
/// lines never hide them behind the team's rules; then CloudFormation's checks, the Hooks',
/// the team's.
fn source_rank(source: Source) -> u8 {
    match source {
        Source::Builtin => 0,
        Source::Cloudformation => 1,
        Source::Hook => 2,
        Source::Guard => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(level: Level, source: Source, waived: bool) -> Finding {
        Finding {
            rule: "r".into(),
            resource: None,
            message: "m".into(),
            source,
            level,
            waived: waived.then(|| "accepted".into()),
        }
    }

    #[test]
    fn the_worst_finding_that_counts_sets_the_level() {
        let verdict = Verdict::new(
            vec![
                finding(Level::Review, Source::Builtin, false),
                finding(Level::Blocked, Source::Guard, true),
            ],
            3,
            vec![],
        );
        assert_eq!(verdict.level, Level::Review);
        assert_eq!(verdict.findings[0].level, Level::Review, "waived last");
        assert_eq!(verdict.reasons().count(), 1);
        assert_eq!(verdict.waived().count(), 1);

        let blocked = Verdict::new(
            vec![
                finding(Level::Review, Source::Builtin, false),
                finding(Level::Blocked, Source::Hook, false),
            ],
            3,
            vec![],
        );
        assert_eq!(blocked.level, Level::Blocked);
        assert_eq!(blocked.findings[0].source, Source::Hook, "worst first");
        assert_eq!(Verdict::new(vec![], 5, vec![]).level, Level::Ok);

        let same_level = Verdict::new(
            vec![
                finding(Level::Review, Source::Guard, false),
                finding(Level::Review, Source::Hook, false),
                finding(Level::Review, Source::Builtin, false),
            ],
            3,
            vec![],
        );
        let sources: Vec<Source> = same_level.findings.iter().map(|f| f.source).collect();
        assert_eq!(
            sources,
            [Source::Builtin, Source::Hook, Source::Guard],
            "data loss and permissions first at the same level"
        );
    }

    #[test]
    fn cloudformations_refusals_cannot_be_waived() {
        assert!(!finding(Level::Blocked, Source::Cloudformation, false).waivable());
        assert!(!finding(Level::Blocked, Source::Hook, false).waivable());
        assert!(finding(Level::Review, Source::Hook, false).waivable());
        assert!(finding(Level::Blocked, Source::Guard, false).waivable());
        assert!(finding(Level::Blocked, Source::Builtin, false).waivable());
    }

    #[test]
    fn levels_serialize_as_the_report_names_them() {
        for level in [Level::Ok, Level::Review, Level::Blocked] {
            assert_eq!(
                serde_json::to_value(level).unwrap(),
                serde_json::json!(level.as_str())
            );
        }
        assert_eq!(
            serde_json::to_value(Source::Cloudformation).unwrap(),
            serde_json::json!("cloudformation")
        );
    }
}
