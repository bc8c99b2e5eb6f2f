//! `.cfn-chatops.yml`, the optional repository config: which stacks a push plans and how.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::names::{derived_stack_name, valid_stack_name};
use super::template::Capability;
use super::verdict::{BUILTIN_RULES, RiskLevels, Waiver};
use crate::model::report::PreviewSlack;
use crate::model::verdict::Level;

pub const CONFIG_FILE: &str = ".cfn-chatops.yml";

/// The repository's config that cannot be used: `.cfn-chatops.yml` itself, or a stack's
/// parameters file. Messages carry the file and, where known, the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{CONFIG_FILE}{}: {message}", at_line(*line))]
    Config {
        line: Option<usize>,
        message: String,
    },
    #[error("{path}{}: {message}", at_line(*line))]
    ParametersFile {
        path: String,
        line: Option<usize>,
        message: String,
    },
}

fn at_line(line: Option<usize>) -> String {
    line.map(|line| format!(":{line}")).unwrap_or_default()
}

/// The parsed file. Unknown keys are errors, so a typo cannot silently change a deployment.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// Templates found by their content, beside the `stacks` entries.
    #[serde(default)]
    pub discovery: DiscoverySettings,
    /// Stacks named, added or overridden: an entry owns its template.
    #[serde(default)]
    pub stacks: Vec<StackSpec>,
    /// How far the built-in risks go: `review` (the default) or `block`.
    #[serde(default)]
    pub risks: Risks,
    /// The team's Guard rules.
    pub policies: Option<Policies>,
    /// Findings the team accepted, per stack and rule: a reviewed change like any other.
    #[serde(default)]
    pub waivers: Vec<WaiverSpec>,
    /// Previews of open pull requests.
    #[serde(default)]
    pub preview: PreviewSettings,
}

/// `preview:`: when a pull request's preview goes to Slack (as a card without buttons); its
/// Backlog comment is always written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewSettings {
    #[serde(default)]
    pub slack: PreviewSlack,
}

/// `discovery:`: on unless turned off; paths it never plans.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverySettings {
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Globs of paths discovery skips (`*` stays within a folder, `**` crosses folders).
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl Default for DiscoverySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            exclude: vec![],
        }
    }
}

fn enabled() -> bool {
    true
}

/// What a finding does to the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    /// Executable after a person has read the reasons.
    Review,
    /// Not executable: the change set is deleted.
    Block,
}

impl Enforcement {
    pub fn level(self) -> Level {
        match self {
            Enforcement::Review => Level::Review,
            Enforcement::Block => Level::Blocked,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Risks {
    #[serde(default = "review")]
    pub data_loss: Enforcement,
    #[serde(default = "review")]
    pub permissions: Enforcement,
}

fn review() -> Enforcement {
    Enforcement::Review
}

fn block() -> Enforcement {
    Enforcement::Block
}

impl Default for Risks {
    fn default() -> Self {
        Self {
            data_loss: Enforcement::Review,
            permissions: Enforcement::Review,
        }
    }
}

impl Risks {
    pub fn levels(self) -> RiskLevels {
        RiskLevels {
            data_loss: self.data_loss.level(),
            permissions: self.permissions.level(),
        }
    }
}

/// `policies:`: Guard rule files and what their failures do (`block` unless said otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policies {
    pub rules: Vec<RuleFiles>,
    #[serde(default = "block")]
    pub enforcement: Enforcement,
}

/// Rule files: a glob, or a glob with its own enforcement.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    untagged,
    expecting = "a glob of rule files, or {files: <glob>, enforcement: review | block}"
)]
pub enum RuleFiles {
    Glob(String),
    With(RuleFilesWith),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFilesWith {
    pub files: String,
    pub enforcement: Enforcement,
}

impl RuleFiles {
    pub fn glob(&self) -> &str {
        match self {
            RuleFiles::Glob(glob) | RuleFiles::With(RuleFilesWith { files: glob, .. }) => glob,
        }
    }
}

impl Policies {
    /// The rule files at a commit that these globs select, each with its enforcement (a file
    /// matched twice takes its first entry's); `stack` overrides every file's.
    pub fn select(
        &self,
        files: &[String],
        stack: Option<Enforcement>,
    ) -> Vec<(String, Enforcement)> {
        let mut selected: Vec<(String, Enforcement)> = Vec::new();
        for entry in &self.rules {
            let Ok(pattern) = glob::Pattern::new(entry.glob()) else {
                continue;
            };
            let enforcement = stack.unwrap_or(match entry {
                RuleFiles::Glob(_) => self.enforcement,
                RuleFiles::With(with) => with.enforcement,
            });
            for file in files {
                if pattern.matches_with(file, GLOB_OPTIONS)
                    && !selected.iter().any(|(path, _)| path == file)
                {
                    selected.push((file.clone(), enforcement));
                }
            }
        }
        selected
    }
}

/// A stack's own Guard settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackPolicies {
    /// Overrides the enforcement of every rule file for this stack.
    pub enforcement: Option<Enforcement>,
}

/// `waivers:` entry: the stack, the rule id (built-in or a Guard rule's name), optionally the
/// resource's logical id, and why.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaiverSpec {
    pub stack: String,
    pub rule: String,
    pub resource: Option<String>,
    pub reason: String,
}

impl RepoConfig {
    /// Whether an entry uses the file as its template or parameters file: discovery leaves it
    /// to the entry.
    pub fn owns(&self, path: &str) -> bool {
        self.stacks
            .iter()
            .any(|spec| spec.template == path || spec.parameters_file.as_deref() == Some(path))
    }

    /// Checks what serde cannot in `discovery`, `risks`, `policies` and `waivers`.
    /// `discovered` are the stacks discovery finds at the planned commit, which waivers may
    /// name besides the `stacks` entries.
    pub fn validate_top_level(
        &self,
        config_text: &str,
        discovered: &[String],
    ) -> Result<(), ConfigError> {
        let error = |line: Option<usize>, message: String| ConfigError::Config { line, message };
        for glob in &self.discovery.exclude {
            if let Err(err) = glob::Pattern::new(glob) {
                let line = config_text
                    .lines()
                    .position(|line| line.contains(glob.as_str()))
                    .map(|index| index + 1);
                return Err(error(line, format!("discovery: exclude {glob:?}: {err}")));
            }
        }
        if !self.discovery.enabled && self.stacks.is_empty() {
            let line = config_text
                .lines()
                .position(|line| line.starts_with("discovery:"))
                .map(|index| index + 1);
            return Err(error(
                line,
                "discovery is off and `stacks` names none: nothing would ever be planned".into(),
            ));
        }
        let policies_line = config_text
            .lines()
            .position(|line| line.starts_with("policies:"))
            .map(|index| index + 1);
        match &self.policies {
            Some(policies) => {
                if policies.rules.is_empty() {
                    return Err(error(
                        policies_line,
                        "policies: `rules` lists no files".into(),
                    ));
                }
                for entry in &policies.rules {
                    let glob = entry.glob();
                    if let Err(err) = glob::Pattern::new(glob) {
                        let line = config_text
                            .lines()
                            .position(|line| line.contains(glob))
                            .map(|index| index + 1);
                        return Err(error(line, format!("policies: rule files {glob:?}: {err}")));
                    }
                }
            }
            None => {
                if let Some(stack) = self.stacks.iter().find(|stack| stack.policies.is_some()) {
                    return Err(error(
                        stack.line(config_text),
                        format!(
                            "stack {} sets `policies`, but there are no `policies:` rule files at the top level",
                            stack.stack_name().unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        for (index, waiver) in self.waivers.iter().enumerate() {
            let known = self
                .stacks
                .iter()
                .any(|stack| stack.stack_name().as_ref() == Some(&waiver.stack))
                || discovered.contains(&waiver.stack);
            let problem = if !known {
                Some(format!(
                    "waiver for stack {:?}, which is not in `stacks`{}",
                    waiver.stack,
                    if self.discovery.enabled {
                        " and not a discovered template's stack"
                    } else {
                        ""
                    }
                ))
            } else if waiver.rule.trim().is_empty() {
                Some("a waiver names no rule".into())
            } else if let Some(meant) = misspelled_builtin(&waiver.rule) {
                Some(format!(
                    "no rule {:?}: did you mean {meant}? (the built-in rules are {})",
                    waiver.rule,
                    BUILTIN_RULES.join(", ")
                ))
            } else if is_builtin_style(&waiver.rule)
                && !BUILTIN_RULES.contains(&waiver.rule.as_str())
            {
                Some(format!(
                    "no built-in rule {:?}: the built-in rules are {}",
                    waiver.rule,
                    BUILTIN_RULES.join(", ")
                ))
            } else if waiver.reason.trim().is_empty() {
                Some(format!(
                    "the waiver of {} on {} gives no reason",
                    waiver.rule, waiver.stack
                ))
            } else {
                None
            };
            if let Some(message) = problem {
                // The same stack's earlier waivers come first in the file.
                let nth = self.waivers[..index]
                    .iter()
                    .filter(|other| other.stack == waiver.stack)
                    .count();
                // Counted from the top-level `waivers:`, where the entries are.
                let start = config_text
                    .lines()
                    .position(|line| line.starts_with("waivers:"))
                    .unwrap_or(0);
                let line = line_of_entry(
                    &config_text_from(config_text, start),
                    "stack",
                    &waiver.stack,
                    nth,
                )
                .map(|line| line + start);
                return Err(error(line, format!("waivers: {message}")));
            }
        }
        Ok(())
    }

    /// The waivers, as the verdict applies them.
    pub fn waivers(&self) -> Vec<Waiver> {
        self.waivers
            .iter()
            .map(|waiver| Waiver {
                stack: waiver.stack.clone(),
                rule: waiver.rule.clone(),
                resource: waiver.resource.clone(),
                reason: waiver.reason.clone(),
            })
            .collect()
    }
}

pub const GLOB_OPTIONS: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// The text from line `start` (0-based) on.
fn config_text_from(text: &str, start: usize) -> String {
    text.lines().skip(start).collect::<Vec<_>>().join("\n")
}

/// The built-in rule a waiver's id was most likely meant to be (`data_loss`, `Data-Loss`),
/// when it is not written as one.
fn misspelled_builtin(rule: &str) -> Option<&'static str> {
    let normal = rule.trim().to_ascii_lowercase().replace('_', "-");
    BUILTIN_RULES
        .into_iter()
        .find(|builtin| *builtin == normal && *builtin != rule)
}

/// A rule id in the built-in rules' style (`data-loss`): Guard rule names cannot have `-`, so
/// such an id that is not built in is a typo.
fn is_builtin_style(rule: &str) -> bool {
    rule.contains('-') && rule.chars().all(|c| c.is_ascii_lowercase() || c == '-')
}

/// One stack, as written in the config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackSpec {
    /// The stack's name; without it, the name discovery derives from the template's path.
    pub name: Option<String>,
    pub template: String,
    #[serde(default)]
    pub parameters: BTreeMap<String, ParameterValue>,
    pub parameters_file: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub capabilities: Option<Vec<String>>,
    pub region: Option<String>,
    pub role_arn: Option<String>,
    #[serde(default)]
    pub when_modified: Vec<String>,
    pub policies: Option<StackPolicies>,
}

/// A parameter value: scalars as written; a list (of scalars) becomes a CommaDelimitedList
/// value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    untagged,
    expecting = "a parameter value: text, a number, true or false, or a list of them"
)]
pub enum ParameterValue {
    Text(String),
    Number(serde_yaml_ng::Number),
    Flag(bool),
    List(Vec<ParameterValue>),
}

impl ParameterValue {
    pub fn render(&self) -> String {
        match self {
            ParameterValue::Text(text) => text.clone(),
            ParameterValue::Number(number) => number.to_string(),
            ParameterValue::Flag(flag) => flag.to_string(),
            ParameterValue::List(items) => items
                .iter()
                .map(ParameterValue::render)
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

/// Parses the config. Errors carry the file and line.
pub fn parse(text: &str) -> Result<RepoConfig, ConfigError> {
    serde_yaml_ng::from_str(text).map_err(|err| ConfigError::Config {
        line: err.location().map(|location| location.line()),
        message: err.to_string(),
    })
}

impl StackSpec {
    /// The stack's name: as written, or derived from the template's path.
    pub fn stack_name(&self) -> Option<String> {
        match &self.name {
            Some(name) => Some(name.clone()),
            None => derived_stack_name(&self.template),
        }
    }

    /// The stack's region: its own, or `default`.
    pub fn region_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.region.as_deref().unwrap_or(default)
    }

    /// The line of `key` in the entry's `parameters` (of `parameters:` itself when they are
    /// written inline), else the entry's own line.
    pub fn parameter_line(&self, config_text: &str, key: &str) -> Option<usize> {
        let entry = self.line(config_text)?;
        let lines: Vec<&str> = config_text.lines().collect();
        let indent = |line: &str| line.len() - line.trim_start().len();
        let entry_indent = indent(lines[entry - 1]);
        for (index, line) in lines.iter().enumerate().skip(entry) {
            let trimmed = line.trim_start();
            if trimmed.starts_with("- ") && indent(line) <= entry_indent {
                break;
            }
            let Some(rest) = trimmed.strip_prefix("parameters:") else {
                continue;
            };
            if !rest.trim().is_empty() {
                return Some(index + 1);
            }
            for (below, line) in lines.iter().enumerate().skip(index + 1) {
                let trimmed = line.trim_start();
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                if indent(line) <= indent(lines[index]) {
                    break;
                }
                let name = trimmed.split(':').next().unwrap_or_default();
                if name.trim().trim_matches(['"', '\'']) == key {
                    return Some(below + 1);
                }
            }
            return Some(index + 1);
        }
        Some(entry)
    }

    /// The line of the entry's `name:`, or of its `template:` when it has no name.
    fn line(&self, config_text: &str) -> Option<usize> {
        match &self.name {
            Some(name) => line_of_entry(config_text, "name", name, 0),
            None => line_of_entry(config_text, "template", &self.template, 0),
        }
    }

    /// Checks what serde cannot: names, paths, capabilities, region, role and globs. The line
    /// is that of the stack's `name:` entry (or `template:`, when it has no name).
    pub fn validate(&self, config_text: &str) -> Result<(), ConfigError> {
        let problem = if let Some(name) = self.name.as_ref().filter(|n| !valid_stack_name(n)) {
            Some(format!(
                "stack name {name:?} is not valid (a letter, then letters, digits and -; at most 128)"
            ))
        } else if self.stack_name().is_none() {
            Some(format!(
                "{:?} gives no stack name: add `name:` to the entry",
                self.template
            ))
        } else if let Some(path) = [Some(&self.template), self.parameters_file.as_ref()]
            .into_iter()
            .flatten()
            .find(|path| !is_repository_path(path))
        {
            Some(format!("{path:?} is not a path inside the repository"))
        } else if let Some(capability) = self
            .capabilities
            .iter()
            .flatten()
            .find(|c| Capability::parse(c).is_none())
        {
            Some(format!(
                "unknown capability {capability:?} (CAPABILITY_IAM, CAPABILITY_NAMED_IAM, CAPABILITY_AUTO_EXPAND)"
            ))
        } else if let Some(region) = self.region.as_ref().filter(|r| !is_region(r)) {
            Some(format!("{region:?} is not an AWS region"))
        } else if let Some(role) = self.role_arn.as_ref().filter(|role| !is_role_arn(role)) {
            Some(format!("role_arn {role:?} is not an IAM role ARN"))
        } else if self.tags.len() > 50 {
            Some("at most 50 tags".into())
        } else {
            self.when_modified.iter().find_map(|glob| {
                glob::Pattern::new(glob)
                    .err()
                    .map(|err| format!("when_modified {glob:?}: {err}"))
            })
        };
        match problem {
            None => Ok(()),
            Some(message) => Err(ConfigError::Config {
                line: self.line(config_text),
                message: format!(
                    "stack {}: {message}",
                    self.name.as_deref().unwrap_or(&self.template)
                ),
            }),
        }
    }

    pub fn capabilities(&self) -> Option<Vec<Capability>> {
        self.capabilities
            .as_ref()
            .map(|list| list.iter().filter_map(|c| Capability::parse(c)).collect())
    }

    /// Whether a changed path touches this stack: its template, its parameters file, or one of
    /// its `when_modified` globs (`*` stays within a folder, `**` crosses folders).
    pub fn is_touched_by(&self, path: &str) -> bool {
        path == self.template
            || self.parameters_file.as_deref() == Some(path)
            || self.when_modified.iter().any(|glob| {
                glob::Pattern::new(glob)
                    .is_ok_and(|pattern| pattern.matches_with(path, GLOB_OPTIONS))
            })
    }
}

/// A relative path without `..`, as git names files.
fn is_repository_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path.split('/').all(|part| !part.is_empty() && part != "..")
}

fn is_region(region: &str) -> bool {
    let parts: Vec<_> = region.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()))
}

/// The 1-based line of the `nth` (from 0) `key: value` entry, in a list item or not, the value
/// quoted or not.
fn line_of_entry(text: &str, key: &str, value: &str, nth: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let line = line.trim_start().trim_start_matches("- ").trim_start();
            line.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix(':'))
                .map(|rest| rest.split(" #").next().unwrap_or(rest))
                .is_some_and(|rest| rest.trim().trim_matches(['"', '\'']) == value)
        })
        .nth(nth)
        .map(|(index, _)| index + 1)
}

/// What a parameters file gives the stack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParametersFile {
    pub parameters: BTreeMap<String, String>,
    /// CodePipeline's template configuration only.
    pub tags: BTreeMap<String, String>,
    /// The template configuration has a `StackPolicy`, which a change set cannot carry.
    pub stack_policy: bool,
    /// Parameters the list form asks to keep (`UsePreviousValue: true`).
    pub kept: Vec<String>,
}

const PARAMETERS_FILE_SHAPES: &str = "CloudFormation's list [{ParameterKey, ParameterValue}], a mapping of names to values, or CodePipeline's template configuration {Parameters, Tags, StackPolicy}";

/// Reads a parameters file, in JSON or YAML: CloudFormation's list form, a plain mapping, or
/// CodePipeline's template configuration. A list entry with `UsePreviousValue: true` gives no
/// value (an existing stack keeps its own). A wrong shape says what was expected, with the line.
pub fn parse_parameters_file(path: &str, text: &str) -> Result<ParametersFile, ConfigError> {
    use serde_yaml_ng::Value;
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    struct ListEntry {
        parameter_key: String,
        parameter_value: Option<Value>,
        #[serde(default)]
        use_previous_value: bool,
        #[allow(
            dead_code,
            reason = "describe-stacks output has it; accepted, not used"
        )]
        resolved_value: Option<Value>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    struct TemplateConfiguration {
        #[serde(default)]
        parameters: BTreeMap<String, Value>,
        #[serde(default)]
        tags: BTreeMap<String, Value>,
        stack_policy: Option<Value>,
    }
    let error = |line: Option<usize>, message: String| ConfigError::ParametersFile {
        path: path.into(),
        line,
        message,
    };
    // The shape's own words, and the line, without serde_yaml_ng's "at line … column …".
    let shape_error = |shape: &str, err: serde_yaml_ng::Error| {
        let text = err.to_string();
        let reason = text.split(" at line ").next().unwrap_or(&text).to_owned();
        error(
            err.location().map(|location| location.line()),
            format!("{shape}: {reason}"),
        )
    };
    let line_of_key = |key: &str| {
        text.lines()
            .position(|line| {
                let line = line.trim_start().trim_start_matches(['{', '-', ' ']);
                line.starts_with(&format!("{key}:"))
                    || line.starts_with(&format!("\"{key}\""))
                    || (line.contains("ParameterKey") && line.contains(key))
            })
            .map(|index| index + 1)
    };
    // A value as CloudFormation takes it, or an error at its key's line.
    let render = |key: &str, value: &Value| {
        // As the config's own values read: text, a number, a flag, or a list of texts.
        serde_yaml_ng::from_value::<ParameterValue>(value.clone())
            .map(|value| value.render())
            .map_err(|_| {
                error(
                    line_of_key(key),
                    format!("{key}: a value is text, a number, true or false, or a list of them"),
                )
            })
    };
    let rendered = |map: BTreeMap<String, Value>| {
        map.into_iter()
            .map(|(key, value)| render(&key, &value).map(|value| (key, value)))
            .collect::<Result<BTreeMap<_, _>, _>>()
    };
    let value: Value =
        serde_yaml_ng::from_str(text).map_err(|err| shape_error("not JSON or YAML", err))?;
    match &value {
        Value::Sequence(_) => {
            let entries: Vec<ListEntry> = serde_yaml_ng::from_str(text).map_err(|err| {
                shape_error(
                    "in CloudFormation's list form each item is {ParameterKey, ParameterValue}",
                    err,
                )
            })?;
            let mut parameters = BTreeMap::new();
            let mut kept = Vec::new();
            for entry in entries {
                match &entry.parameter_value {
                    Some(value) => {
                        let value = render(&entry.parameter_key, value)?;
                        parameters.insert(entry.parameter_key, value);
                    }
                    None if entry.use_previous_value => kept.push(entry.parameter_key),
                    None => {
                        return Err(error(
                            line_of_key(&entry.parameter_key),
                            format!(
                                "{} has no ParameterValue (nor UsePreviousValue: true)",
                                entry.parameter_key
                            ),
                        ));
                    }
                }
            }
            Ok(ParametersFile {
                parameters,
                kept,
                ..ParametersFile::default()
            })
        }
        // CodePipeline's template configuration: `Parameters` as a mapping, or only its keys.
        Value::Mapping(map)
            if map.get("Parameters").is_some_and(Value::is_mapping)
                || (!map.is_empty()
                    && map.keys().all(|key| {
                        matches!(key.as_str(), Some("Parameters" | "Tags" | "StackPolicy"))
                    })) =>
        {
            let configuration: TemplateConfiguration =
                serde_yaml_ng::from_str(text).map_err(|err| {
                    shape_error(
                        "CodePipeline's template configuration has Parameters, Tags and StackPolicy",
                        err,
                    )
                })?;
            Ok(ParametersFile {
                parameters: rendered(configuration.parameters)?,
                tags: rendered(configuration.tags)?,
                stack_policy: configuration.stack_policy.is_some(),
                kept: vec![],
            })
        }
        Value::Mapping(_) => {
            let map: BTreeMap<String, Value> = serde_yaml_ng::from_str(text)
                .map_err(|err| shape_error("a mapping of parameter names to values", err))?;
            Ok(ParametersFile {
                parameters: rendered(map)?,
                ..ParametersFile::default()
            })
        }
        Value::Null => Err(error(
            None,
            format!("is empty: expected {PARAMETERS_FILE_SHAPES}"),
        )),
        _ => Err(error(Some(1), format!("expected {PARAMETERS_FILE_SHAPES}"))),
    }
}

/// `arn:aws…:iam::<account>:role/<name>`: an IAM role, as CloudFormation's `RoleARN` takes.
pub fn is_role_arn(arn: &str) -> bool {
    arn.starts_with("arn:aws") && arn.contains(":iam::") && arn.contains(":role/")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"# Two stacks from one template
stacks:
  - name: app-staging
    template: stacks/app.yaml
    parameters_file: params/app-staging.json
    parameters:
      Env: staging
      Replicas: 2
      Subnets: [subnet-1, subnet-2]
    tags: {team: infra}
    when_modified: ["lambda/**", "shared/*.yaml"]
  - name: app-prod
    template: stacks/app.yaml
    capabilities: [CAPABILITY_IAM]
    region: ap-northeast-1
    role_arn: arn:aws:iam::123456789012:role/cfn-exec
"#;

    #[test]
    fn the_documented_example_parses_and_validates() {
        let config = parse(EXAMPLE).unwrap();
        assert_eq!(config.stacks.len(), 2);
        let staging = &config.stacks[0];
        assert_eq!(staging.parameters["Replicas"].render(), "2");
        assert_eq!(staging.parameters["Subnets"].render(), "subnet-1,subnet-2");
        for stack in &config.stacks {
            stack.validate(EXAMPLE).unwrap();
        }
        assert_eq!(config.stacks[1].capabilities(), Some(vec![Capability::Iam]));
    }

    #[test]
    fn what_touches_a_stack() {
        let config = parse(EXAMPLE).unwrap();
        let staging = &config.stacks[0];
        assert!(staging.is_touched_by("stacks/app.yaml"));
        assert!(staging.is_touched_by("params/app-staging.json"));
        assert!(staging.is_touched_by("lambda/worker/handler.py"));
        assert!(staging.is_touched_by("shared/vpc.yaml"));
        assert!(
            !staging.is_touched_by("shared/nested/vpc.yaml"),
            "* stays in its folder"
        );
        assert!(!staging.is_touched_by("params/app-prod.json"));
        assert!(!config.stacks[1].is_touched_by("params/app-staging.json"));
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let typo = "stacks:\n  - name: app\n    template: app.yaml\n    paramters: {}\n";
        let err = parse(typo).unwrap_err();
        let ConfigError::Config { line, message } = &err else {
            panic!("{err:?} is about the config file");
        };
        assert_eq!(*line, Some(4), "{err}");
        assert!(err.to_string().starts_with(".cfn-chatops.yml:4: "), "{err}");
        assert!(message.contains("unknown field `paramters`"), "{err}");

        let text = "stacks:\n  - name: app\n    template: app.yaml\n  - name: bad_name\n    template: ../x.yaml\n";
        let config = parse(text).unwrap();
        config.stacks[0].validate(text).unwrap();
        let err = config.stacks[1].validate(text).unwrap_err();
        assert!(matches!(err, ConfigError::Config { line: Some(4), .. }));
        assert!(
            err.to_string()
                .starts_with(".cfn-chatops.yml:4: stack bad_name: stack name"),
            "{err}"
        );

        for (field, message) in [
            ("template: ../x.yaml", "is not a path inside the repository"),
            ("capabilities: [CAPABILITY_ALL]", "unknown capability"),
            ("region: tokyo", "is not an AWS region"),
            ("role_arn: admin", "is not an IAM role ARN"),
            ("when_modified: ['[']", "when_modified"),
        ] {
            let text = format!("stacks:\n  - name: app\n    template: app.yaml\n    {field}\n");
            let text = text.replacen(
                "template: app.yaml\n    template: ../x.yaml",
                "template: ../x.yaml",
                1,
            );
            let config = parse(&text).unwrap();
            let err = config.stacks[0].validate(&text).unwrap_err();
            assert!(err.to_string().contains(message), "{field}: {err}");
        }
    }

    const REVIEWED: &str = r#"stacks:
  - name: app
    template: stacks/app.yaml
    policies: {enforcement: review}
  - name: db
    template: stacks/db.yaml
risks: {data_loss: block}
policies:
  rules:
    - policies/*.guard
    - files: policies/advisory/*.guard
      enforcement: review
waivers:
  - stack: db
    rule: data-loss
    resource: Table
    reason: rebuilt from S3 nightly
"#;

    #[test]
    fn risks_policies_and_waivers_parse_with_their_defaults() {
        let config = parse(REVIEWED).unwrap();
        config.validate_top_level(REVIEWED, &[]).unwrap();
        assert_eq!(config.risks.levels().data_loss, Level::Blocked);
        assert_eq!(config.risks.levels().permissions, Level::Review);
        let policies = config.policies.as_ref().unwrap();
        assert_eq!(
            policies.enforcement,
            Enforcement::Block,
            "block unless said"
        );
        let files: Vec<String> = [
            "policies/s3.guard",
            "policies/advisory/tags.guard",
            "policies/README.md",
            "stacks/app.yaml",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(
            policies.select(&files, None),
            [
                ("policies/s3.guard".to_owned(), Enforcement::Block),
                (
                    "policies/advisory/tags.guard".to_owned(),
                    Enforcement::Review
                ),
            ]
        );
        let app = config.stacks[0].policies.unwrap().enforcement;
        assert_eq!(app, Some(Enforcement::Review));
        assert!(
            policies
                .select(&files, app)
                .iter()
                .all(|(_, enforcement)| *enforcement == Enforcement::Review),
            "the stack's enforcement wins"
        );
        assert_eq!(config.waivers()[0].resource.as_deref(), Some("Table"));

        let plain = parse("stacks:\n  - name: a\n    template: a.yaml\n").unwrap();
        assert_eq!(plain.risks, Risks::default());
        assert_eq!(plain.policies, None);
        assert_eq!(plain.preview.slack, PreviewSlack::Risky);
    }

    #[test]
    fn preview_settings_say_when_slack_hears_of_a_preview() {
        for (text, slack) in [
            ("preview:\n  slack: none\n", PreviewSlack::None),
            ("preview:\n  slack: all\n", PreviewSlack::All),
            ("preview: {}\n", PreviewSlack::Risky),
        ] {
            assert_eq!(parse(text).unwrap().preview.slack, slack, "{text}");
        }
        let err = parse("preview:\n  slack: sometimes\n").unwrap_err();
        assert!(
            err.to_string().contains("unknown variant `sometimes`"),
            "{err}"
        );
        let err = parse("preview:\n  comment: none\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `comment`"), "{err}");
    }

    #[test]
    fn bad_risks_policies_and_waivers_are_errors_with_their_line() {
        let err = parse(&REVIEWED.replace("data_loss: block", "data_loss: maybe")).unwrap_err();
        assert!(err.to_string().contains("unknown variant `maybe`"), "{err}");
        for (from, to, message, line) in [
            ("stack: db", "stack: nope", "waiver for stack \"nope\"", 14),
            (
                "reason: rebuilt from S3 nightly",
                "reason: ' '",
                "gives no reason",
                14,
            ),
            (
                "- policies/*.guard",
                "- 'policies/[.guard'",
                "policies: rule files",
                10,
            ),
        ] {
            let text = REVIEWED.replace(from, to);
            let err = parse(&text)
                .unwrap()
                .validate_top_level(&text, &[])
                .unwrap_err();
            assert!(err.to_string().contains(message), "{err}");
            assert!(
                err.to_string()
                    .starts_with(&format!(".cfn-chatops.yml:{line}: ")),
                "{err}"
            );
        }
        // The top-level `policies:`, not a stack's, which comes first in the file.
        let empty = REVIEWED.replace(
            "  rules:\n    - policies/*.guard\n    - files: policies/advisory/*.guard\n      enforcement: review\n",
            "  rules: []\n",
        );
        let err = parse(&empty)
            .unwrap()
            .validate_top_level(&empty, &[])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            ".cfn-chatops.yml:8: policies: `rules` lists no files"
        );

        // Each waiver's own line, even for the same stack, and a stack named like another.
        let two = REVIEWED.replace(
            "waivers:\n",
            "waivers:\n  - stack: db\n    rule: iam-broadened\n    reason: ok\n",
        ) + "  - stack: db\n    rule: data-los\n    reason: typo\n";
        let two = two.replace(
            "  - name: db\n",
            "  - name: db-prod\n    template: x.yaml\n  - name: db\n",
        );
        let err = parse(&two)
            .unwrap()
            .validate_top_level(&two, &[])
            .unwrap_err();
        assert!(
            err.to_string().starts_with(".cfn-chatops.yml:23: waivers: no built-in rule \"data-los\": the built-in rules are data-loss,"),
            "{err}"
        );

        // The `risks:` key's spelling of a rule, and a `stack: db` elsewhere (a tag) and a
        // comment that must not move the line.
        let meant = REVIEWED
            .replace("rule: data-loss", "rule: data_loss")
            .replace("stack: db\n", "stack: db # prod\n")
            .replace(
                "  - name: db\n    template: stacks/db.yaml\n",
                "  - name: db\n    template: stacks/db.yaml\n    tags:\n      stack: db\n",
            );
        let err = parse(&meant)
            .unwrap()
            .validate_top_level(&meant, &[])
            .unwrap_err();
        assert!(
            err.to_string().starts_with(
                ".cfn-chatops.yml:16: waivers: no rule \"data_loss\": did you mean data-loss?"
            ),
            "{err}"
        );

        // A Guard rule's or a check's name is not a built-in id.
        let guard = REVIEWED.replace("rule: data-loss", "rule: S3_BUCKET_VERSIONING_ENABLED");
        parse(&guard)
            .unwrap()
            .validate_top_level(&guard, &[])
            .unwrap();

        // A stack's `policies` with no rule files: said, not ignored.
        let orphan = REVIEWED
            .split("policies:\n  rules")
            .next()
            .unwrap()
            .to_owned();
        let err = parse(&orphan)
            .unwrap()
            .validate_top_level(&orphan, &[])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            ".cfn-chatops.yml:2: stack app sets `policies`, but there are no `policies:` rule files at the top level"
        );

        // A rule-files entry of the wrong shape says what was expected; typos are errors.
        for wrong in [
            "    - files: policies/advisory/*.guard\n      enforcement: never\n",
            "    - files: policies/advisory/*.guard\n      enforce: review\n",
        ] {
            let text = REVIEWED.replace(
                "    - files: policies/advisory/*.guard\n      enforcement: review\n",
                wrong,
            );
            let err = parse(&text).unwrap_err().to_string();
            assert!(
                err.contains(
                    "a glob of rule files, or {files: <glob>, enforcement: review | block}"
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn discovery_is_on_unless_turned_off_and_its_settings_are_checked() {
        let plain = parse("stacks:\n  - name: a\n    template: a.yaml\n").unwrap();
        assert!(
            plain.discovery.enabled,
            "a config does not turn discovery off"
        );
        let only_discovery = parse("discovery:\n  exclude: [examples/**]\n").unwrap();
        assert!(only_discovery.stacks.is_empty());
        only_discovery
            .validate_top_level("discovery:\n  exclude: [examples/**]\n", &[])
            .unwrap();

        let typo = parse("discovery:\n  enable: false\n").unwrap_err();
        assert!(
            typo.to_string().contains("unknown field `enable`"),
            "{typo}"
        );
        let bad_glob = "discovery:\n  exclude: ['[']\n";
        let err = parse(bad_glob)
            .unwrap()
            .validate_top_level(bad_glob, &[])
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with(".cfn-chatops.yml:2: discovery: exclude \"[\""),
            "{err}"
        );
        let nothing = "discovery: {enabled: false}\n";
        let err = parse(nothing)
            .unwrap()
            .validate_top_level(nothing, &[])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            ".cfn-chatops.yml:1: discovery is off and `stacks` names none: nothing would ever be planned"
        );
    }

    #[test]
    fn an_entry_without_a_name_takes_the_derived_one_and_waivers_may_name_discovered_stacks() {
        let text = "stacks:\n  - template: infra/DynamoDB_Table.yaml\n    parameters: {HashKeyElementName: id}\n  - template: infra/___.yaml\nwaivers:\n  - stack: orders\n    rule: data-loss\n    reason: rebuilt nightly\n";
        let config = parse(text).unwrap();
        assert_eq!(
            config.stacks[0].stack_name().as_deref(),
            Some("DynamoDB-Table")
        );
        config.stacks[0].validate(text).unwrap();
        let err = config.stacks[1].validate(text).unwrap_err();
        assert_eq!(
            err.to_string(),
            ".cfn-chatops.yml:4: stack infra/___.yaml: \"infra/___.yaml\" gives no stack name: add `name:` to the entry"
        );
        config.validate_top_level(text, &["orders".into()]).unwrap();
        let err = config.validate_top_level(text, &[]).unwrap_err();
        assert!(
            err.to_string().starts_with(
                ".cfn-chatops.yml:6: waivers: waiver for stack \"orders\", which is not in `stacks` and not a discovered template's stack"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_parameter_is_found_on_its_own_line() {
        let text = "stacks:\n  - name: a\n    template: a.yaml\n    tags: {Env: x}\n    parameters_file: p.json\n    parameters:\n      Subnets:\n        - s-1\n      \"Evn\": prod\n  - name: b\n    template: b.yaml\n    parameters: {Evn: prod}\n  - name: c\n    template: c.yaml\n";
        let config = parse(text).unwrap();
        assert_eq!(config.stacks[0].parameter_line(text, "Evn"), Some(9));
        assert_eq!(config.stacks[0].parameter_line(text, "Subnets"), Some(7));
        assert_eq!(config.stacks[0].parameter_line(text, "file"), Some(6));
        assert_eq!(config.stacks[1].parameter_line(text, "Evn"), Some(12));
        assert_eq!(config.stacks[2].parameter_line(text, "Evn"), Some(13));
    }

    #[test]
    fn parameters_files_in_every_form() {
        let list = r#"[{"ParameterKey": "Env", "ParameterValue": "prod"}, {"ParameterKey": "Size", "ParameterValue": 3}, {"ParameterKey": "Kept", "UsePreviousValue": true}]"#;
        let parsed = parse_parameters_file("params/a.json", list).unwrap();
        assert_eq!(parsed.parameters.len(), 2, "{parsed:?}");
        assert_eq!(parsed.kept, ["Kept"]);
        assert_eq!(parsed.parameters["Env"], "prod");
        assert_eq!(parsed.parameters["Size"], "3");
        let map = parse_parameters_file(
            "params/a.yaml",
            "Env: prod\nZones: [a, b]\nPorts: [80, 443]\n",
        )
        .unwrap();
        assert_eq!(map.parameters["Zones"], "a,b");
        assert_eq!(map.parameters["Ports"], "80,443");
        assert!(map.tags.is_empty() && !map.stack_policy);
        // CodePipeline's template configuration (synthetic; the real one in
        // tests/fixtures/real-repo/params/config-prod.json has only Parameters).
        let pipeline = r#"{
  "Parameters": {"Env": "prod", "Count": 2},
  "Tags": {"team": "infra", "cost-center": 1234},
  "StackPolicy": {"Statement": [{"Effect": "Deny", "Action": "Update:Replace", "Principal": "*", "Resource": "*"}]}
}"#;
        let parsed = parse_parameters_file("params/prod.json", pipeline).unwrap();
        assert_eq!(parsed.parameters["Count"], "2");
        assert_eq!(parsed.tags["cost-center"], "1234");
        assert!(parsed.stack_policy);
        let tags_only =
            parse_parameters_file("params/t.json", r#"{"Tags": {"team": "x"}}"#).unwrap();
        assert_eq!(tags_only.tags["team"], "x");
        assert!(tags_only.parameters.is_empty());
    }

    #[test]
    fn a_parameters_file_of_the_wrong_shape_says_what_was_expected_and_where() {
        for (text, line, expected) in [
            (
                "[1, 2]",
                Some(1),
                "params/a.json:1: in CloudFormation's list form each item is {ParameterKey, ParameterValue}: ",
            ),
            (
                "[\n  {\"ParameterKey\": \"A\", \"Value\": \"x\"}\n]",
                Some(2),
                "params/a.json:2: in CloudFormation's list form each item is {ParameterKey, ParameterValue}: .[0]: unknown field `Value`",
            ),
            (
                "[\n  {\"ParameterKey\": \"A\"}\n]",
                Some(2),
                "params/a.json:2: A has no ParameterValue (nor UsePreviousValue: true)",
            ),
            (
                "{\n  \"Parameters\": {\"A\": \"x\"},\n  \"Tag\": {}\n}",
                Some(3),
                "params/a.json:3: CodePipeline's template configuration has Parameters, Tags and StackPolicy: unknown field `Tag`",
            ),
            (
                "A: x\nB:\n  nested: map\n",
                Some(2),
                "params/a.json:2: B: a value is text, a number, true or false, or a list of them",
            ),
            (
                "\"just text\"",
                Some(1),
                "params/a.json:1: expected CloudFormation's list",
            ),
            (
                "",
                None,
                "params/a.json: is empty: expected CloudFormation's list",
            ),
            (
                "{\"A\": \"x\",\n  \"B\": [}\n",
                Some(2),
                "params/a.json:2: not JSON or YAML: ",
            ),
        ] {
            let err = parse_parameters_file("params/a.json", text).unwrap_err();
            let ConfigError::ParametersFile { line: found, .. } = &err else {
                panic!("{err:?}");
            };
            assert_eq!(*found, line, "{text}: {err}");
            assert!(err.to_string().starts_with(expected), "{text}: {err}");
            assert!(!err.to_string().contains("untagged"), "{err}");
        }
    }
}
