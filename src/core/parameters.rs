//! Which parameter values a change set is created with, decided before CloudFormation is
//! asked: a parameter is given by the config (inline values over the parameters file), else
//! an existing stack keeps its current value (`UsePreviousValue`) when the template gives no
//! `Default`, else the template's `Default` applies; one with none of these is missing.

use std::fmt;

use super::config::CONFIG_FILE;
use super::template::Template;

/// Parameters without a value from anywhere: CloudFormation would refuse the change set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingParameters(pub Vec<String>);

impl fmt::Display for MissingParameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (noun, verb, them) = match self.0.len() {
            1 => ("parameter", "needs a value", "it"),
            _ => ("parameters", "need values", "them"),
        };
        write!(
            f,
            "{noun} {} {verb}: set {them} in {CONFIG_FILE} (stacks[].parameters or parameters_file)",
            self.0.join(", ")
        )
    }
}

impl std::error::Error for MissingParameters {}

/// The declared parameters an existing stack keeps with `UsePreviousValue`: those not given
/// that the stack already has, when the template gives no `Default` or a parameters file asked
/// to keep them (`requested`). `current` is `None` for a stack CloudFormation is to create. A
/// parameter with no value at all is an error.
pub fn kept_parameters(
    template: &Template,
    given: &[(String, String)],
    requested: &[String],
    current: Option<&[(String, String)]>,
) -> Result<Vec<String>, MissingParameters> {
    let mut kept = Vec::new();
    let mut missing = Vec::new();
    for parameter in &template.parameters {
        if given.iter().any(|(key, _)| *key == parameter.name) {
            continue;
        }
        let wanted = !parameter.has_default || requested.contains(&parameter.name);
        let has_one = current
            .into_iter()
            .flatten()
            .any(|(key, _)| *key == parameter.name);
        if wanted && has_one {
            kept.push(parameter.name.clone());
        } else if !parameter.has_default {
            missing.push(parameter.name.clone());
        }
    }
    if missing.is_empty() {
        Ok(kept)
    } else {
        Err(MissingParameters(missing))
    }
}

/// Given values the template does not declare: CloudFormation refuses them, so they are left
/// out, and said (a parameters file shared by several stacks gives each more than it uses).
pub fn undeclared(template: &Template, given: &[(String, String)]) -> Vec<String> {
    given
        .iter()
        .filter(|(key, _)| !template.declares(key))
        .map(|(key, _)| key.clone())
        .collect()
}

/// Where AWS publishes its public SSM parameters (AMI ids, regions): safe to show resolved
/// whoever named them.
pub const PUBLIC_SSM_PREFIX: &str = "/aws/service/";

/// A shown parameter value, with what CloudFormation resolved an SSM parameter type to
/// (`/aws/service/ami-… → ami-0abc`, `/app/ami (kept) → ami-0abc`). `NoEcho` values stay
/// masked.
pub fn with_resolved(
    template: &Template,
    key: &str,
    shown: &str,
    resolved: Option<&str>,
) -> String {
    let is_ssm = template.parameters.iter().any(|parameter| {
        parameter.name == key && parameter.kind.starts_with("AWS::SSM::Parameter::Value<")
    });
    match resolved {
        Some(resolved) if is_ssm && !template.is_no_echo(key) => {
            format!("{shown} → {resolved}")
        }
        _ => shown.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::template::inspect;

    const TEMPLATE: &str = "Parameters:\n  Env:\n    Type: String\n  Size:\n    Type: Number\n    Default: 1\n  Ami:\n    Type: AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>\n  Password:\n    Type: String\n    NoEcho: true\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n";

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn a_new_stack_needs_every_parameter_without_a_default() {
        let template = inspect("a.yaml", TEMPLATE.as_bytes()).unwrap().unwrap();
        let err = kept_parameters(&template, &pairs(&[("Env", "prod")]), &[], None).unwrap_err();
        assert_eq!(err.0, ["Ami", "Password"]);
        assert_eq!(
            err.to_string(),
            "parameters Ami, Password need values: set them in .cfn-chatops.yml (stacks[].parameters or parameters_file)"
        );
        let one = kept_parameters(
            &template,
            &pairs(&[("Env", "prod"), ("Ami", "/aws/service/ami")]),
            &[],
            None,
        )
        .unwrap_err();
        assert_eq!(
            one.to_string(),
            "parameter Password needs a value: set it in .cfn-chatops.yml (stacks[].parameters or parameters_file)"
        );
        let all = pairs(&[
            ("Env", "prod"),
            ("Ami", "/aws/service/ami"),
            ("Password", "x"),
        ]);
        assert_eq!(kept_parameters(&template, &all, &[], None), Ok(vec![]));
        // Asked to keep one it cannot (nothing exists yet): its Default, or missing.
        let asked = ["Size".to_owned(), "Ami".to_owned()];
        let given = pairs(&[("Env", "prod"), ("Password", "x")]);
        assert_eq!(
            kept_parameters(&template, &given, &asked, None),
            Err(MissingParameters(vec!["Ami".into()]))
        );
    }

    #[test]
    fn an_existing_stack_keeps_what_is_not_given_and_has_no_default() {
        let template = inspect("a.yaml", TEMPLATE.as_bytes()).unwrap().unwrap();
        let current = pairs(&[("Env", "prod"), ("Password", "****"), ("Size", "3")]);
        // Env is given: the config wins. Size has a Default: the Default applies. Ami is new.
        let err = kept_parameters(&template, &pairs(&[("Env", "dev")]), &[], Some(&current));
        assert_eq!(err, Err(MissingParameters(vec!["Ami".into()])));
        let given = pairs(&[("Env", "dev"), ("Ami", "/aws/service/ami")]);
        assert_eq!(
            kept_parameters(&template, &given, &[], Some(&current)),
            Ok(vec!["Password".into()])
        );
        // A parameters file's UsePreviousValue keeps even one with a Default.
        assert_eq!(
            kept_parameters(&template, &given, &["Size".into()], Some(&current)),
            Ok(vec!["Size".into(), "Password".into()])
        );
    }

    #[test]
    fn ssm_parameters_show_what_cloudformation_resolved() {
        let template = inspect("a.yaml", TEMPLATE.as_bytes()).unwrap().unwrap();
        assert_eq!(
            with_resolved(&template, "Ami", "/aws/service/ami", Some("ami-0abc")),
            "/aws/service/ami → ami-0abc"
        );
        assert_eq!(
            with_resolved(&template, "Env", "prod", Some("prod")),
            "prod"
        );
        assert_eq!(
            with_resolved(&template, "Ami", "/aws/service/ami", None),
            "/aws/service/ami"
        );
        let secret = TEMPLATE.replace(
            "Type: AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
            "Type: AWS::SSM::Parameter::Value<String>\n    NoEcho: true",
        );
        let template = inspect("a.yaml", secret.as_bytes()).unwrap().unwrap();
        assert_eq!(
            with_resolved(&template, "Ami", "****", Some("s3cr3t")),
            "****"
        );
    }

    #[test]
    fn values_the_template_does_not_declare_are_found() {
        let template = inspect("a.yaml", TEMPLATE.as_bytes()).unwrap().unwrap();
        let given = pairs(&[("Env", "prod"), ("VPCID", "vpc-1"), ("KeyPair", "k")]);
        assert_eq!(undeclared(&template, &given), ["VPCID", "KeyPair"]);
    }
}
