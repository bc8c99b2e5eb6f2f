//! What the planner needs to know about a template before sending it: is it one, does it parse,
//! which capabilities it needs, and whether it must go through S3.

use std::fmt;

use serde_yaml_ng::Value;

/// CreateChangeSet's TemplateBody limit; larger templates go through S3 (up to 1 MB).
pub const MAX_TEMPLATE_BODY_BYTES: usize = 51_200;

/// An IAM acknowledgement CloudFormation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Capability {
    Iam,
    NamedIam,
    AutoExpand,
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Iam => "CAPABILITY_IAM",
            Capability::NamedIam => "CAPABILITY_NAMED_IAM",
            Capability::AutoExpand => "CAPABILITY_AUTO_EXPAND",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "CAPABILITY_IAM" => Some(Capability::Iam),
            "CAPABILITY_NAMED_IAM" => Some(Capability::NamedIam),
            "CAPABILITY_AUTO_EXPAND" => Some(Capability::AutoExpand),
            _ => None,
        }
    }
}

/// A file that is a CloudFormation template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub body: String,
    /// What the template needs, as far as its text shows.
    pub capabilities: Vec<Capability>,
    /// It has nested stacks (`AWS::CloudFormation::Stack`, or SAM's
    /// `AWS::Serverless::Application`): its change set must include theirs.
    pub nested_stacks: bool,
    /// The parameters it declares, in its order.
    pub parameters: Vec<DeclaredParameter>,
    /// The template as CloudFormation reads it, in JSON form: YAML's short tags (`!Ref`,
    /// `!Sub`, …) become their long forms (`{"Ref": …}`, `{"Fn::Sub": …}`). What the safety
    /// rules and Guard read.
    pub document: serde_json::Value,
}

/// A parameter as the template declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredParameter {
    pub name: String,
    /// `String`, `Number`, `AWS::SSM::Parameter::Value<String>`, …
    pub kind: String,
    pub has_default: bool,
    /// Its value is never shown.
    pub no_echo: bool,
}

/// What a `NoEcho` parameter's value is shown (and checked) as.
pub const MASKED: &str = "****";

/// Properties that name a local file or folder until `sam package` or
/// `aws cloudformation package` uploads it and writes its S3 location instead; CloudFormation
/// itself cannot read a local path.
const PACKAGED_PROPERTIES: [(&str, &str); 17] = [
    ("AWS::Serverless::Function", "CodeUri"),
    ("AWS::Serverless::LayerVersion", "ContentUri"),
    ("AWS::Serverless::Api", "DefinitionUri"),
    ("AWS::Serverless::HttpApi", "DefinitionUri"),
    ("AWS::Serverless::StateMachine", "DefinitionUri"),
    ("AWS::Serverless::Application", "Location"),
    ("AWS::Serverless::GraphQLApi", "SchemaUri"),
    ("AWS::Lambda::Function", "Code"),
    ("AWS::Lambda::LayerVersion", "Content"),
    ("AWS::ApiGateway::RestApi", "BodyS3Location"),
    ("AWS::ApiGatewayV2::Api", "BodyS3Location"),
    ("AWS::AppSync::GraphQLSchema", "DefinitionS3Location"),
    ("AWS::AppSync::Resolver", "RequestMappingTemplateS3Location"),
    (
        "AWS::AppSync::Resolver",
        "ResponseMappingTemplateS3Location",
    ),
    ("AWS::StepFunctions::StateMachine", "DefinitionS3Location"),
    ("AWS::ElasticBeanstalk::ApplicationVersion", "SourceBundle"),
    ("AWS::CloudFormation::Stack", "TemplateURL"),
];

/// A property that still names a local path: the template must be packaged first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalArtifact {
    pub resource: String,
    pub property: &'static str,
    pub path: String,
}

impl Template {
    /// The resources it declares, as (logical id, type), by logical id; and how many of them
    /// carry a `Condition` (CloudFormation may leave those out).
    pub fn declared_resources(&self) -> (Vec<(String, String)>, usize) {
        let Some(resources) = self.document.get("Resources").and_then(|r| r.as_object()) else {
            return (vec![], 0);
        };
        let conditional = resources
            .values()
            .filter(|resource| resource.get("Condition").is_some())
            .count();
        let declared = resources
            .iter()
            .map(|(id, resource)| {
                let kind = resource.get("Type").and_then(|t| t.as_str()).unwrap_or("");
                (id.clone(), kind.to_owned())
            })
            .collect();
        (declared, conditional)
    }

    pub fn needs_s3(&self) -> bool {
        self.body.len() > MAX_TEMPLATE_BODY_BYTES
    }

    pub fn is_no_echo(&self, name: &str) -> bool {
        self.parameters
            .iter()
            .any(|parameter| parameter.no_echo && parameter.name == name)
    }

    pub fn declares(&self, name: &str) -> bool {
        self.parameters
            .iter()
            .any(|parameter| parameter.name == name)
    }

    /// Properties that name local files (`CodeUri: ./src`), SAM's `Globals` included: such a
    /// template is deployable only once packaged.
    pub fn local_artifacts(&self) -> Vec<LocalArtifact> {
        let is_local = |value: &serde_json::Value| {
            value.as_str().is_some_and(|text| {
                !["s3://", "https://", "http://"]
                    .iter()
                    .any(|scheme| text.starts_with(scheme))
            })
        };
        let global_code = self.document["Globals"]["Function"]
            .get("CodeUri")
            .filter(|value| is_local(value));
        let mut found = Vec::new();
        let Some(resources) = self.document.get("Resources").and_then(|r| r.as_object()) else {
            return found;
        };
        for (logical_id, resource) in resources {
            let kind = resource["Type"].as_str().unwrap_or_default();
            let properties = &resource["Properties"];
            for (_, property) in PACKAGED_PROPERTIES.iter().filter(|(k, _)| *k == kind) {
                let value = properties.get(*property).or_else(|| {
                    // A function without code of its own takes the Globals' CodeUri.
                    let own_code = ["CodeUri", "InlineCode", "ImageUri"]
                        .iter()
                        .any(|key| properties.get(key).is_some());
                    (*property == "CodeUri" && !own_code)
                        .then_some(global_code)
                        .flatten()
                });
                if let Some(path) = value
                    .filter(|value| is_local(value))
                    .and_then(|v| v.as_str())
                {
                    found.push(LocalArtifact {
                        resource: logical_id.clone(),
                        property,
                        path: path.to_owned(),
                    });
                }
            }
        }
        found
    }

    /// The given parameter values with every `NoEcho` one masked: what may be shown.
    pub fn masked(&self, parameters: &[(String, String)]) -> Vec<(String, String)> {
        parameters
            .iter()
            .map(|(key, value)| {
                let value = if self.is_no_echo(key) {
                    MASKED.to_owned()
                } else {
                    value.clone()
                };
                (key.clone(), value)
            })
            .collect()
    }

    /// What rules whose messages are shown may see: [`Template::masked`], and every `NoEcho`
    /// parameter not given masked too, so no rule falls back to its `Default`.
    pub fn masked_for_rules(&self, parameters: &[(String, String)]) -> Vec<(String, String)> {
        let mut masked = self.masked(parameters);
        for parameter in self.parameters.iter().filter(|parameter| parameter.no_echo) {
            if !parameters.iter().any(|(given, _)| *given == parameter.name) {
                masked.push((parameter.name.clone(), MASKED.to_owned()));
            }
        }
        masked
    }
}

/// A template that cannot be sent: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub path: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

impl std::error::Error for TemplateError {}

/// The file extensions discovery looks at.
pub fn has_template_extension(path: &str) -> bool {
    [".yaml", ".yml", ".json", ".template"]
        .iter()
        .any(|extension| path.to_ascii_lowercase().ends_with(extension))
}

/// Reads a file as a template. `Ok(None)`: a data file that is not a template (no `Resources`,
/// no `AWSTemplateFormatVersion`). A file that means to be a template but does not parse is an
/// error with its line.
pub fn inspect(path: &str, content: &[u8]) -> Result<Option<Template>, TemplateError> {
    let error = |line, message: String| TemplateError {
        path: path.to_owned(),
        line,
        message,
    };
    let text = std::str::from_utf8(content)
        .map_err(|err| error(None, format!("not UTF-8 text ({err})")))?;
    let looks_like_template = text.contains("AWSTemplateFormatVersion")
        || text.lines().any(|line| {
            line.starts_with("Resources:") || line.trim_start().starts_with("\"Resources\"")
        });
    let parsed = if path.to_ascii_lowercase().ends_with(".json") {
        serde_json::from_str::<serde_json::Value>(text)
            .map_err(|err| error(Some(err.line()), err.to_string()))
            .and_then(|json| {
                serde_yaml_ng::to_value(json).map_err(|err| error(None, err.to_string()))
            })
    } else {
        serde_yaml_ng::from_str::<Value>(text).map_err(|err| {
            let line = err.location().map(|location| location.line());
            error(line, err.to_string())
        })
    };
    let document = match parsed {
        Ok(document) => document,
        Err(err) if looks_like_template => return Err(err),
        Err(_) => return Ok(None),
    };
    let Some(top) = document.as_mapping() else {
        return if looks_like_template {
            Err(error(
                Some(1),
                "a template is a mapping at the top level".into(),
            ))
        } else {
            Ok(None)
        };
    };
    if !top.contains_key("Resources") && !top.contains_key("AWSTemplateFormatVersion") {
        return Ok(None);
    }
    let resources = match top.get("Resources") {
        Some(Value::Mapping(resources)) => Some(resources),
        Some(_) => return Err(error(None, "`Resources` must be a mapping".into())),
        None => None,
    };
    let nested_stacks = resources
        .into_iter()
        .flat_map(|r| r.values())
        .any(|resource| {
            matches!(
                resource.get("Type").and_then(Value::as_str),
                Some("AWS::CloudFormation::Stack" | "AWS::Serverless::Application")
            )
        });
    let parameters = match top.get("Parameters") {
        Some(Value::Mapping(parameters)) => parameters
            .iter()
            .filter_map(|(name, declaration)| {
                Some(DeclaredParameter {
                    name: name.as_str()?.to_owned(),
                    kind: declaration
                        .get("Type")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    has_default: declaration.get("Default").is_some(),
                    no_echo: matches!(declaration.get("NoEcho"), Some(Value::Bool(true)))
                        || declaration
                            .get("NoEcho")
                            .and_then(Value::as_str)
                            .is_some_and(|text| text.eq_ignore_ascii_case("true")),
                })
            })
            .collect(),
        _ => vec![],
    };
    Ok(Some(Template {
        body: text.to_owned(),
        capabilities: required_capabilities(top.contains_key("Transform"), resources),
        nested_stacks,
        parameters,
        document: long_form(&document),
    }))
}

/// A YAML template in CloudFormation's JSON form: `!GetAtt A.B` is `{"Fn::GetAtt": ["A",
/// "B"]}`, `!Ref` and `!Condition` keep their names, every other tag `!X` is `Fn::X`.
fn long_form(value: &Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        Value::Null => Json::Null,
        Value::Bool(flag) => Json::Bool(*flag),
        Value::Number(number) => serde_json::to_value(number).unwrap_or(Json::Null),
        Value::String(text) => Json::String(text.clone()),
        Value::Sequence(items) => Json::Array(items.iter().map(long_form).collect()),
        Value::Mapping(mapping) => Json::Object(
            mapping
                .iter()
                .map(|(key, value)| {
                    let key = match key {
                        Value::String(text) => text.clone(),
                        other => serde_yaml_ng::to_string(other)
                            .map(|text| text.trim_end().to_owned())
                            .unwrap_or_default(),
                    };
                    (key, long_form(value))
                })
                .collect(),
        ),
        Value::Tagged(tagged) => {
            let name = tagged.tag.to_string();
            let name = name.trim_start_matches('!');
            let inner = match (name, &tagged.value) {
                ("GetAtt", Value::String(text)) => match text.split_once('.') {
                    Some((resource, attribute)) => {
                        serde_json::json!([resource, attribute])
                    }
                    None => Json::String(text.clone()),
                },
                _ => long_form(&tagged.value),
            };
            let key = match name {
                "Ref" | "Condition" => name.to_owned(),
                _ => format!("Fn::{name}"),
            };
            serde_json::json!({ key: inner })
        }
    }
}

/// IAM resources need CAPABILITY_IAM, or CAPABILITY_NAMED_IAM when they carry a custom name;
/// SAM resources create roles; a Transform (macro) needs CAPABILITY_AUTO_EXPAND.
fn required_capabilities(
    has_transform: bool,
    resources: Option<&serde_yaml_ng::Mapping>,
) -> Vec<Capability> {
    const CUSTOM_NAMES: [&str; 5] = [
        "RoleName",
        "UserName",
        "GroupName",
        "InstanceProfileName",
        "ManagedPolicyName",
    ];
    let mut capabilities = Vec::new();
    for resource in resources.into_iter().flat_map(|r| r.values()) {
        let kind = resource
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if kind.starts_with("AWS::IAM::") {
            let named = resource.get("Properties").is_some_and(|properties| {
                CUSTOM_NAMES
                    .iter()
                    .any(|name| properties.get(name).is_some())
            });
            capabilities.push(if named {
                Capability::NamedIam
            } else {
                Capability::Iam
            });
        } else if kind.starts_with("AWS::Serverless::") {
            capabilities.push(Capability::Iam);
        }
    }
    if has_transform {
        capabilities.push(Capability::AutoExpand);
    }
    normalized(capabilities)
}

/// Each capability once, in order; NAMED_IAM covers IAM, so only one of them is asked for.
pub fn normalized(mut capabilities: Vec<Capability>) -> Vec<Capability> {
    if capabilities.contains(&Capability::NamedIam) {
        capabilities.retain(|capability| *capability != Capability::Iam);
    }
    capabilities.sort();
    capabilities.dedup();
    capabilities
}

/// The capabilities CloudFormation says a template needs (as it names them) that
/// `acknowledged` does not cover: NAMED_IAM covers IAM; a name the bot does not know is never
/// covered.
pub fn unacknowledged<'a>(needed: &'a [String], acknowledged: &[Capability]) -> Vec<&'a str> {
    needed
        .iter()
        .map(String::as_str)
        .filter(|needed| match Capability::parse(needed) {
            Some(Capability::Iam) => {
                !acknowledged.contains(&Capability::Iam)
                    && !acknowledged.contains(&Capability::NamedIam)
            }
            Some(capability) => !acknowledged.contains(&capability),
            None => true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_cloudformation_asks_for_is_covered_by_what_the_plan_acknowledges() {
        let needed = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let asked = needed(&["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]);
        assert_eq!(
            unacknowledged(&asked, &[]),
            ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
        );
        assert_eq!(
            unacknowledged(&asked, &[Capability::NamedIam]),
            ["CAPABILITY_AUTO_EXPAND"],
            "NAMED_IAM covers IAM"
        );
        assert!(unacknowledged(&asked, &[Capability::Iam, Capability::AutoExpand]).is_empty());
        let named = needed(&["CAPABILITY_NAMED_IAM", "CAPABILITY_SOMETHING_NEW"]);
        assert_eq!(
            unacknowledged(&named, &[Capability::Iam]),
            ["CAPABILITY_NAMED_IAM", "CAPABILITY_SOMETHING_NEW"],
            "IAM does not cover NAMED_IAM, and an unknown one is never covered"
        );
    }

    fn template(path: &str, text: &str) -> Template {
        inspect(path, text.as_bytes())
            .expect("parses")
            .expect("is a template")
    }

    #[test]
    fn yaml_with_cloudformation_tags_parses() {
        let text = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: !Sub '${AWS::StackName}-x'\n  Sub:\n    Type: AWS::SNS::Subscription\n    Properties:\n      TopicArn: !Ref Topic\n      Endpoint: !GetAtt Queue.Arn\n      Protocol: sqs\n";
        let parsed = template("stacks/app.yaml", text);
        assert!(parsed.capabilities.is_empty());
        assert!(!parsed.needs_s3());
        assert!(!parsed.nested_stacks);
    }

    #[test]
    fn the_document_is_cloudformation_json_with_long_form_functions() {
        let text = "Resources:\n  Sub:\n    Type: AWS::SNS::Subscription\n    Properties:\n      TopicArn: !Ref Topic\n      Endpoint: !GetAtt Queue.Arn\n      Name: !Sub '${AWS::StackName}-x'\n      Zone: !Select [0, !GetAZs '']\n      Port: 443\n";
        let document = template("stacks/app.yaml", text).document;
        assert_eq!(
            document["Resources"]["Sub"]["Properties"],
            serde_json::json!({
                "TopicArn": {"Ref": "Topic"},
                "Endpoint": {"Fn::GetAtt": ["Queue", "Arn"]},
                "Name": {"Fn::Sub": "${AWS::StackName}-x"},
                "Zone": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
                "Port": 443,
            })
        );
        let json = template(
            "stacks/app.json",
            r#"{"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}"#,
        );
        assert_eq!(json.document["Resources"]["T"]["Type"], "AWS::SNS::Topic");
    }

    #[test]
    fn no_echo_parameters_are_known() {
        let text = "Parameters:\n  DbPassword:\n    Type: String\n    NoEcho: true\n  Token:\n    Type: String\n    NoEcho: 'true'\n  Env:\n    Type: String\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n";
        let template = template("stacks/app.yaml", text);
        let no_echo: Vec<_> = template
            .parameters
            .iter()
            .filter(|parameter| parameter.no_echo)
            .map(|parameter| parameter.name.as_str())
            .collect();
        assert_eq!(no_echo, ["DbPassword", "Token"]);
        assert!(template.is_no_echo("Token") && !template.is_no_echo("Env"));
        assert!(template.declares("Env") && !template.declares("Other"));
        let given = [
            ("DbPassword".to_owned(), "hunter2".to_owned()),
            ("Env".to_owned(), "prod".to_owned()),
        ];
        assert_eq!(
            template.masked(&given).len(),
            2,
            "only what was given is shown"
        );
        assert_eq!(
            template.masked_for_rules(&given),
            [
                ("DbPassword".to_owned(), MASKED.to_owned()),
                ("Env".to_owned(), "prod".to_owned()),
                ("Token".to_owned(), MASKED.to_owned()),
            ],
            "a NoEcho parameter not given is masked too, never its Default"
        );
    }

    #[test]
    fn local_code_is_found_where_packaging_would_upload_it() {
        let sam = "Transform: AWS::Serverless-2016-10-31\nGlobals:\n  Function:\n    CodeUri: ./shared\nResources:\n  Api:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src/\n  Uses:\n    Type: AWS::Serverless::Function\n    Properties:\n      Handler: app.handler\n  Inline:\n    Type: AWS::Serverless::Function\n    Properties:\n      InlineCode: print(1)\n  Packaged:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: s3://bucket/key.zip\n  Mapped:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: {Bucket: b, Key: k}\n  Plain:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: ./lambda\n  Child:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      TemplateURL: nested/vpc.yaml\n  Remote:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      TemplateURL: https://bucket.s3.amazonaws.com/vpc.yaml\n";
        let found: Vec<_> = template("apps/a/template.yaml", sam)
            .local_artifacts()
            .into_iter()
            .map(|artifact| {
                format!(
                    "{}.{}={}",
                    artifact.resource, artifact.property, artifact.path
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                "Api.CodeUri=src/",
                "Uses.CodeUri=./shared",
                "Plain.Code=./lambda",
                "Child.TemplateURL=nested/vpc.yaml",
            ]
        );
        let packaged = "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: s3://bucket/key.zip\n";
        assert!(template("a.yaml", packaged).local_artifacts().is_empty());
    }

    #[test]
    fn every_transform_asks_for_auto_expand() {
        let foreach = "Transform: AWS::LanguageExtensions\nResources:\n  Fn::ForEach::Topics:\n    - Name\n    - [A, B]\n    - Topic${Name}:\n        Type: AWS::SNS::Topic\n";
        assert_eq!(
            template("a.yaml", foreach).capabilities,
            [Capability::AutoExpand]
        );
        let both = "Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n";
        assert_eq!(
            template("a.yaml", both).capabilities,
            [Capability::AutoExpand]
        );
    }

    #[test]
    fn nested_stacks_are_seen_in_both_forms() {
        for kind in ["AWS::CloudFormation::Stack", "AWS::Serverless::Application"] {
            let text = format!(
                "Resources:\n  Network:\n    Type: {kind}\n    Properties:\n      TemplateURL: https://example.s3.amazonaws.com/network.yaml\n"
            );
            assert!(template("stacks/app.yaml", &text).nested_stacks, "{kind}");
        }
    }

    #[test]
    fn data_files_are_not_templates_but_broken_templates_are_errors() {
        assert_eq!(
            inspect("buildspec.yml", b"version: 0.2\nphases: {}\n"),
            Ok(None)
        );
        assert_eq!(
            inspect("params/app.json", br#"[{"ParameterKey": "A"}]"#),
            Ok(None)
        );
        assert_eq!(inspect("notes.yaml", b"- : : broken [\n"), Ok(None));

        let err = inspect(
            "stacks/bad.yaml",
            b"AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n   Properties: {}\n",
        )
        .unwrap_err();
        assert_eq!(err.path, "stacks/bad.yaml");
        assert_eq!(err.line, Some(5), "{err}");
        assert!(err.to_string().starts_with("stacks/bad.yaml:5: "), "{err}");

        let err = inspect(
            "stacks/bad.json",
            b"{\n  \"Resources\": {\n    \"A\": }\n}\n",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");

        let err = inspect("stacks/list.yaml", b"Resources: [1, 2]\n").unwrap_err();
        assert_eq!(err.message, "`Resources` must be a mapping");
    }

    #[test]
    fn capabilities_follow_what_the_template_contains() {
        let role = "Resources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument: {}\n";
        assert_eq!(template("a.yaml", role).capabilities, [Capability::Iam]);
        let named = format!("{role}      RoleName: worker\n");
        assert_eq!(
            template("a.yaml", &named).capabilities,
            [Capability::NamedIam]
        );
        let sam = "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {}\n";
        assert_eq!(
            template("a.yaml", sam).capabilities,
            [Capability::Iam, Capability::AutoExpand]
        );
    }

    #[test]
    fn json_templates_and_size_limit() {
        let padding = "x".repeat(MAX_TEMPLATE_BODY_BYTES);
        let text = format!(
            "{{\"AWSTemplateFormatVersion\": \"2010-09-09\", \"Description\": \"{padding}\", \"Resources\": {{}}}}"
        );
        assert!(template("big.json", &text).needs_s3());
        assert!(has_template_extension("stacks/App.Template"));
        assert!(!has_template_extension("README.md"));
    }
}
