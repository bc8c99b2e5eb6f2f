//! `.cfn-chatops.yml`, the optional repository config: which stacks a push plans and how.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::names::valid_stack_name;
use super::template::Capability;

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
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    pub stacks: Vec<StackSpec>,
}

/// One stack, as written in the config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackSpec {
    pub name: String,
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
}

/// A parameter value: scalars as written; a list becomes a CommaDelimitedList value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ParameterValue {
    Text(String),
    Number(serde_yaml_ng::Number),
    Flag(bool),
    List(Vec<String>),
}

impl ParameterValue {
    pub fn render(&self) -> String {
        match self {
            ParameterValue::Text(text) => text.clone(),
            ParameterValue::Number(number) => number.to_string(),
            ParameterValue::Flag(flag) => flag.to_string(),
            ParameterValue::List(items) => items.join(","),
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
    /// Checks what serde cannot: names, paths, capabilities, region, role and globs. The line
    /// is that of the stack's `name:` entry.
    pub fn validate(&self, config_text: &str) -> Result<(), ConfigError> {
        let problem = if !valid_stack_name(&self.name) {
            Some(format!(
                "stack name {:?} is not valid (a letter, then letters, digits and -; at most 128)",
                self.name
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
                line: line_of_stack(config_text, &self.name),
                message: format!("stack {}: {message}", self.name),
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
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        path == self.template
            || self.parameters_file.as_deref() == Some(path)
            || self.when_modified.iter().any(|glob| {
                glob::Pattern::new(glob).is_ok_and(|pattern| pattern.matches_with(path, options))
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

/// The 1-based line of `name: <stack>` in the config text, for messages.
fn line_of_stack(text: &str, stack: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let line = line.trim_start().trim_start_matches("- ").trim_start();
            line.strip_prefix("name:")
                .is_some_and(|rest| rest.trim().trim_matches(['"', '\'']) == stack)
        })
        .map(|index| index + 1)
}

/// Reads a parameters file: CloudFormation's list form
/// (`[{"ParameterKey": …, "ParameterValue": …}]`) or a plain mapping, in JSON or YAML.
pub fn parse_parameters_file(
    path: &str,
    text: &str,
) -> Result<BTreeMap<String, String>, ConfigError> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ParametersFile {
        List(Vec<ListEntry>),
        Map(BTreeMap<String, ParameterValue>),
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct ListEntry {
        parameter_key: String,
        parameter_value: ParameterValue,
    }
    let parsed: ParametersFile =
        serde_yaml_ng::from_str(text).map_err(|err| ConfigError::ParametersFile {
            path: path.into(),
            line: err.location().map(|location| location.line()),
            message: format!(
                "parameters file: {err} (expected [{{ParameterKey, ParameterValue}}] or a mapping)"
            ),
        })?;
    Ok(match parsed {
        ParametersFile::List(entries) => entries
            .into_iter()
            .map(|entry| (entry.parameter_key, entry.parameter_value.render()))
            .collect(),
        ParametersFile::Map(map) => map
            .into_iter()
            .map(|(key, value)| (key, value.render()))
            .collect(),
    })
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

    #[test]
    fn parameters_files_in_both_forms() {
        let list = r#"[{"ParameterKey": "Env", "ParameterValue": "prod"}, {"ParameterKey": "Size", "ParameterValue": 3}]"#;
        let parsed = parse_parameters_file("params/a.json", list).unwrap();
        assert_eq!(parsed["Env"], "prod");
        assert_eq!(parsed["Size"], "3");
        let map = parse_parameters_file("params/a.yaml", "Env: prod\nZones: [a, b]\n").unwrap();
        assert_eq!(map["Zones"], "a,b");
        let err = parse_parameters_file("params/a.json", "[1, 2]").unwrap_err();
        assert!(err.to_string().starts_with("params/a.json"), "{err}");
    }
}
