//! In-process evaluation of AWS CloudFormation Guard rule files.
//!
//! Uses `cloudformation-guard-lang` (the Guard parser/evaluator without the
//! `cfn-guard` CLI) and turns its event tree into typed failures, so callers
//! never parse report text. Everything the library returns is `Rc`-based and
//! `!Send`; it lives only inside one call, and the public types here are plain
//! owned data.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use cloudformation_guard_lang::display::ValueOnlyDisplay;
use cloudformation_guard_lang::errors::Error as LibError;
use cloudformation_guard_lang::eval::eval_rules_file;
use cloudformation_guard_lang::eval_context::{EventRecord, root_scope};
use cloudformation_guard_lang::exprs::RulesFile;
use cloudformation_guard_lang::parser::{Span, get_rule_name, rules_file};
use cloudformation_guard_lang::path_value::{Path, PathAwareValue};
use cloudformation_guard_lang::values::CmpOperator;
use cloudformation_guard_lang::{
    BlockCheck, ClauseCheck, NamedStatus, QueryResult, RecordType, Status, TypeBlockCheck,
    UnResolved,
};
use serde_json::Value;

use crate::core::text::{clip, collapse_whitespace};

/// Longest rendering of a template value inside a failure message; whole
/// resources can be hundreds of lines.
const MAX_VALUE_CHARS: usize = 80;
/// Longest excerpt of the rule file quoted in a parse error.
const MAX_EXCERPT_CHARS: usize = 60;

/// Why a rule file could not be checked at all (as opposed to failing rules).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum GuardError {
    #[error("{path}:{line}: the Guard rules do not parse: {message}")]
    Parse {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: the Guard rules could not be evaluated: {message}")]
    Evaluate { path: String, message: String },
}

/// One rule that failed for one resource (or for the template as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardFailure {
    pub rule: String,
    /// `"LogicalId (AWS::Type)"`; `None` when the failing value is not under
    /// `Resources` (e.g. a check on `Parameters`, or a query that selected nothing).
    pub resource: Option<String>,
    /// The clause's `<< >>` message on one line, or a short description of the check.
    pub message: String,
}

/// The result of one rule file against one template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuardOutcome {
    /// Rules in the file as Guard evaluates them: each `rule name { }`, plus one
    /// implicit `default` rule when the file has bare clauses outside any rule
    /// (so a file of only bare clauses counts as 1). Parameterized rules are only
    /// evaluated when called and are not counted; an empty file counts 0.
    pub rules_checked: usize,
    /// One entry per (rule, resource), sorted by rule then resource.
    pub failures: Vec<GuardFailure>,
}

/// Parses `rules` without evaluating them. `path` only labels errors.
pub fn check_syntax(path: &str, rules: &str) -> Result<(), GuardError> {
    guarded(path, || parse(path, rules).map(drop))
}

/// Evaluates every rule in `rules` against `template` (JSON long form).
///
/// Library panics are caught and returned as [`GuardError::Evaluate`]; this
/// only works when the binary is built with `panic = "unwind"` (with
/// `panic = "abort"` the process still aborts). The default panic hook still
/// prints the panic to stderr.
pub fn evaluate(path: &str, rules: &str, template: &Value) -> Result<GuardOutcome, GuardError> {
    guarded(path, || evaluate_unguarded(path, rules, template))
}

fn guarded<T>(path: &str, run: impl FnOnce() -> Result<T, GuardError>) -> Result<T, GuardError> {
    catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|payload| {
        let text = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("non-text panic payload");
        Err(GuardError::Evaluate {
            path: path.to_owned(),
            message: format!("the Guard library panicked: {}", collapse_whitespace(text)),
        })
    })
}

fn evaluate_unguarded(
    path: &str,
    rules: &str,
    template: &Value,
) -> Result<GuardOutcome, GuardError> {
    let eval_error = |e: LibError| GuardError::Evaluate {
        path: path.to_owned(),
        message: collapse_whitespace(&e.to_string()),
    };
    let Some(parsed) = parse(path, rules)? else {
        return Ok(GuardOutcome::default());
    };
    let root = PathAwareValue::try_from((template, Path::root())).map_err(eval_error)?;
    let mut scope = root_scope(&parsed, Rc::new(root));
    eval_rules_file(&parsed, &mut scope, None).map_err(eval_error)?;
    let record = scope
        .reset_recorder()
        .final_event
        .ok_or_else(|| GuardError::Evaluate {
            path: path.to_owned(),
            message: "the Guard library recorded no result".to_owned(),
        })?;

    let mut by_pair: BTreeMap<(String, Option<String>), Vec<ClauseFailure>> = BTreeMap::new();
    for rule in &record.children {
        let Some(RecordType::RuleCheck(NamedStatus {
            name,
            status: Status::FAIL,
            ..
        })) = &rule.container
        else {
            continue;
        };
        let name = get_rule_name(path, name).to_owned();
        let mut clauses = Vec::new();
        collect_failed_clauses(&rule.children, &mut clauses);
        if clauses.is_empty() {
            // Never drop a failed rule just because no clause explains it.
            clauses.push(ClauseFailure::plain(None, "the rule failed".to_owned()));
        }
        for clause in clauses {
            let resource = clause
                .resource
                .as_deref()
                .map(|id| resource_label(template, id));
            by_pair
                .entry((name.clone(), resource))
                .or_default()
                .push(clause);
        }
    }

    let failures = by_pair
        .into_iter()
        .map(|((rule, resource), clauses)| GuardFailure {
            rule,
            resource,
            message: pair_message(&clauses),
        })
        .collect();
    Ok(GuardOutcome {
        rules_checked: parsed.guard_rules.len(),
        failures,
    })
}

/// `Ok(None)` for a file with nothing but comments and whitespace.
fn parse<'a>(path: &'a str, rules: &'a str) -> Result<Option<RulesFile<'a>>, GuardError> {
    rules_file(Span::new_extra(rules, path)).map_err(|e| match e {
        LibError::ParseError(text) => parse_error(path, &text),
        other => GuardError::Evaluate {
            path: path.to_owned(),
            message: collapse_whitespace(&other.to_string()),
        },
    })
}

/// The library reports parse errors only as text:
/// `Error parsing file <path> at line <n> at column <c>, when handling <ctx>, fragment <rest of file>`.
/// The line is taken from that text (line 1 if it has none), and the rest of
/// the file is cut to a one-line excerpt.
fn parse_error(path: &str, text: &str) -> GuardError {
    let anchor = format!("{path} at line ");
    let after_line = text
        .find(&anchor)
        .map(|at| &text[at + anchor.len()..])
        .or_else(|| {
            text.find(" at line ")
                .map(|at| &text[at + " at line ".len()..])
        });
    let line = after_line.and_then(leading_number).unwrap_or(1).max(1);
    let column = after_line
        .and_then(|rest| rest.split_once(" at column "))
        .and_then(|(_, rest)| leading_number(rest));
    let context = text
        .split_once(", when handling ")
        .and_then(|(_, rest)| rest.split_once(", fragment "))
        .map(|(context, _)| context.trim())
        .filter(|context| !context.is_empty());
    let fragment = text
        .split_once(", fragment ")
        .or_else(|| text.split_once(", remaining "))
        .map(|(_, rest)| rest.lines().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or(None);

    let message = match (column, fragment) {
        (Some(column), Some(fragment)) => {
            let mut message = format!(
                "unexpected input at column {column}: `{}`",
                clip(fragment, MAX_EXCERPT_CHARS)
            );
            if let Some(context) = context {
                message.push_str(&format!(" ({context})"));
            }
            message
        }
        (Some(column), None) => format!("unexpected end of input at column {column}"),
        _ => clip(&collapse_whitespace(text), 200),
    };
    GuardError::Parse {
        path: path.to_owned(),
        line,
        message,
    }
}

fn leading_number(text: &str) -> Option<usize> {
    let digits: &str = &text[..text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len())];
    digits.parse().ok()
}

/// A failing clause: the logical id it is about, its custom message, and a
/// generated description used when no clause of the rule has a custom message.
struct ClauseFailure {
    resource: Option<String>,
    custom: Option<String>,
    description: String,
}

impl ClauseFailure {
    fn plain(resource: Option<String>, description: String) -> Self {
        Self {
            resource,
            custom: None,
            description,
        }
    }
}

/// Walks the library's event tree the way its own reporter does: only into
/// containers that FAILed, never into `when`/type conditions or filters, whose
/// failing clauses are selections rather than violations.
fn collect_failed_clauses(records: &[EventRecord<'_>], out: &mut Vec<ClauseFailure>) {
    for record in records {
        match &record.container {
            Some(RecordType::BlockGuardCheck(BlockCheck {
                status: Status::FAIL,
                message,
                ..
            })) if record.children.is_empty() => out.push(ClauseFailure::plain(
                None,
                message.as_deref().map_or_else(
                    || format!("{} selected no values", record.context.trim()),
                    collapse_whitespace,
                ),
            )),
            Some(
                RecordType::RuleCheck(NamedStatus {
                    status: Status::FAIL,
                    ..
                })
                | RecordType::BlockGuardCheck(BlockCheck {
                    status: Status::FAIL,
                    ..
                })
                | RecordType::Disjunction(BlockCheck {
                    status: Status::FAIL,
                    ..
                })
                | RecordType::GuardClauseBlockCheck(BlockCheck {
                    status: Status::FAIL,
                    ..
                })
                | RecordType::TypeBlock(Status::FAIL)
                | RecordType::TypeCheck(TypeBlockCheck {
                    block:
                        BlockCheck {
                            status: Status::FAIL,
                            ..
                        },
                    ..
                })
                | RecordType::WhenCheck(BlockCheck {
                    status: Status::FAIL,
                    ..
                }),
            ) => collect_failed_clauses(&record.children, out),
            Some(RecordType::ClauseValueCheck(check)) => {
                out.extend(clause_failure(check, &record.context));
            }
            _ => {}
        }
    }
}

fn clause_failure(check: &ClauseCheck<'_>, context: &str) -> Option<ClauseFailure> {
    let (from, custom, description) = match check {
        ClauseCheck::Comparison(c) if c.status == Status::FAIL => {
            let description = match (&c.from, &c.to) {
                (QueryResult::UnResolved(ur), _) => missing(ur),
                (from, Some(QueryResult::UnResolved(ur))) => format!(
                    "{}: the value to compare with, {}",
                    describe_place(from),
                    missing(ur)
                ),
                (from, Some(to)) => format!(
                    "{} expected {} {}, found {}",
                    describe_place(from),
                    operator(c.comparison),
                    describe_value(to),
                    describe_value(from)
                ),
                (from, None) => format!(
                    "{} expected {}, found {}",
                    describe_place(from),
                    operator(c.comparison),
                    describe_value(from)
                ),
            };
            (Some(&c.from), c.custom_message.as_deref(), description)
        }
        ClauseCheck::InComparison(c) if c.status == Status::FAIL => {
            let description = match &c.from {
                QueryResult::UnResolved(ur) => missing(ur),
                from => {
                    let allowed: Vec<String> = c.to.iter().map(describe_value).collect();
                    format!(
                        "{} expected {} {}, found {}",
                        describe_place(from),
                        operator(c.comparison),
                        allowed.join(", "),
                        describe_value(from)
                    )
                }
            };
            (Some(&c.from), c.custom_message.as_deref(), description)
        }
        ClauseCheck::Unary(u) if u.value.status == Status::FAIL => {
            let description = match &u.value.from {
                QueryResult::UnResolved(ur) if u.comparison == (CmpOperator::Exists, false) => {
                    missing(ur)
                }
                QueryResult::UnResolved(ur) => {
                    format!("{}; expected {}", missing(ur), operator(u.comparison))
                }
                from => format!(
                    "{} expected {}, found {}",
                    describe_place(from),
                    operator(u.comparison),
                    describe_value(from)
                ),
            };
            (
                Some(&u.value.from),
                u.value.custom_message.as_deref(),
                description,
            )
        }
        ClauseCheck::NoValueForEmptyCheck(custom) => (
            None,
            custom.as_deref(),
            format!("{} found no values", context.trim()),
        ),
        ClauseCheck::DependentRule(dependency) => (
            None,
            dependency.custom_message.as_deref(),
            format!("rule {} did not pass", dependency.rule),
        ),
        ClauseCheck::MissingBlockValue(block) => {
            let description = match &block.from {
                QueryResult::UnResolved(ur) => missing(ur),
                from => format!("{} is missing", describe_place(from)),
            };
            (
                Some(&block.from),
                block.custom_message.as_deref(),
                description,
            )
        }
        _ => return None,
    };
    Some(ClauseFailure {
        resource: from.and_then(|from| logical_id(query_path(from)).map(str::to_owned)),
        custom: custom.map(collapse_whitespace).filter(|m| !m.is_empty()),
        description,
    })
}

/// Custom messages win over generated descriptions; duplicates (the same
/// clause failing for several list items) are shown once, in first-seen order.
fn pair_message(clauses: &[ClauseFailure]) -> String {
    let customs: Vec<&str> = clauses.iter().filter_map(|c| c.custom.as_deref()).collect();
    let chosen = if customs.is_empty() {
        clauses.iter().map(|c| c.description.as_str()).collect()
    } else {
        customs
    };
    let mut distinct: Vec<&str> = Vec::with_capacity(chosen.len());
    for message in chosen {
        if !distinct.contains(&message) {
            distinct.push(message);
        }
    }
    distinct.join("; ")
}

/// The deepest template path a query reached, resolved or not.
fn query_path(result: &QueryResult) -> &str {
    match result {
        QueryResult::Literal(value) | QueryResult::Resolved(value) => &value.self_path().0,
        QueryResult::UnResolved(ur) => &ur.traversed_to.self_path().0,
    }
}

/// `/Resources/<Id>/...` → `Id`.
fn logical_id(path: &str) -> Option<&str> {
    let mut parts = path.strip_prefix("/Resources/")?.split('/');
    parts.next().filter(|id| !id.is_empty())
}

fn resource_label(template: &Value, id: &str) -> String {
    let kind = template
        .pointer("/Resources")
        .and_then(|resources| resources.get(id))
        .and_then(|resource| resource.get("Type"))
        .and_then(Value::as_str);
    super::resource_label(id, kind)
}

/// A template path as a property path relative to its resource:
/// `/Resources/B/Properties/Rules/0/Id` → `Properties.Rules[0].Id`.
fn relative_path(path: &str) -> String {
    let inside = match logical_id(path) {
        Some(id) => path["/Resources/".len() + id.len()..].trim_start_matches('/'),
        None => path.trim_start_matches('/'),
    };
    let mut out = String::with_capacity(inside.len());
    for part in inside.split('/').filter(|p| !p.is_empty()) {
        if part.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}

fn describe_place(result: &QueryResult) -> String {
    let place = relative_path(query_path(result));
    if place.is_empty() {
        match logical_id(query_path(result)) {
            Some(_) => "the resource".to_owned(),
            None => "the template".to_owned(),
        }
    } else {
        place
    }
}

fn missing(ur: &UnResolved) -> String {
    let reached = relative_path(&ur.traversed_to.self_path().0);
    let remaining = ur.remaining_query.trim();
    match (reached.is_empty(), remaining.is_empty()) {
        (true, _) => format!("{remaining} is missing"),
        (false, true) => format!("{reached} is missing"),
        (false, false) => format!("{reached}.{remaining} is missing"),
    }
}

fn describe_value(result: &QueryResult) -> String {
    match result {
        QueryResult::Literal(value) | QueryResult::Resolved(value) => clip(
            &ValueOnlyDisplay(Rc::clone(value)).to_string(),
            MAX_VALUE_CHARS,
        ),
        QueryResult::UnResolved(ur) => missing(ur),
    }
}

fn operator((op, negated): (CmpOperator, bool)) -> String {
    if negated {
        format!("NOT {op}")
    } else {
        op.to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::*;

    macro_rules! fixture {
        ($path:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/guard/",
                $path
            ))
        };
    }

    const REGISTRY_VERSIONING: &str = fixture!("rules/s3_bucket_versioning_enabled.guard");
    const REGISTRY_SSE: &str = fixture!("rules/s3_bucket_server_side_encryption_enabled.guard");
    const EXAMPLE_S3_SSE: &str = fixture!("rules/s3-bucket-sse.guard");
    const EXAMPLE_DDB_SSE: &str = fixture!("rules/dynamodb-table-sse.guard");
    const EXAMPLE_S3_SSE_TESTS: &str = fixture!("templates/s3-bucket-sse-tests.yaml");
    const EXAMPLE_DDB_SSE_TESTS: &str = fixture!("templates/dynamodb-table-sse-tests.yaml");
    const COMPLIANT_BUCKETS: &str = fixture!("templates/s3-compliant.json");
    const NON_COMPLIANT_BUCKETS: &str = fixture!("templates/s3-non-compliant.json");

    const SSE_MESSAGE: &str = "Violation: S3 Bucket must enable server-side encryption. \
        Fix: Set the S3 Bucket property BucketEncryption.ServerSideEncryptionConfiguration.\
        ServerSideEncryptionByDefault.SSEAlgorithm to either \"aws:kms\" or \"AES256\"";
    const VERSIONING_MESSAGE: &str = "Violation: S3 Bucket Versioning must be enabled. \
        Fix: Set the S3 Bucket property VersioningConfiguration.Status to 'Enabled' .";

    fn template(text: &str) -> Value {
        serde_json::from_str(text).expect("fixture template is JSON")
    }

    fn failure(rule: &str, resource: Option<&str>, message: &str) -> GuardFailure {
        GuardFailure {
            rule: rule.to_owned(),
            resource: resource.map(str::to_owned),
            message: message.to_owned(),
        }
    }

    fn bucket(properties: Value) -> Value {
        json!({ "Type": "AWS::S3::Bucket", "Properties": properties })
    }

    #[test]
    fn compliant_template_passes_the_registry_rules() {
        let compliant = template(COMPLIANT_BUCKETS);
        for (path, rules) in [
            ("versioning.guard", REGISTRY_VERSIONING),
            ("sse.guard", REGISTRY_SSE),
        ] {
            let outcome = evaluate(path, rules, &compliant).expect("evaluates");
            assert_eq!(outcome.rules_checked, 1, "{path}");
            assert_eq!(outcome.failures, [], "{path}");
        }
    }

    #[test]
    fn non_compliant_buckets_are_named_with_the_rule_message() {
        let non_compliant = template(NON_COMPLIANT_BUCKETS);

        let sse = evaluate("sse.guard", REGISTRY_SSE, &non_compliant).expect("evaluates");
        assert_eq!(sse.rules_checked, 1);
        let rule = "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED";
        assert_eq!(
            sse.failures,
            [
                // Fails on the `in` clause (message) and the `exists` clause (no message).
                failure(rule, Some("Plain (AWS::S3::Bucket)"), SSE_MESSAGE),
                failure(rule, Some("WrongAlgorithm (AWS::S3::Bucket)"), SSE_MESSAGE),
            ]
        );

        let versioning =
            evaluate("versioning.guard", REGISTRY_VERSIONING, &non_compliant).expect("evaluates");
        let rule = "S3_BUCKET_VERSIONING_ENABLED";
        assert_eq!(
            versioning.failures,
            [
                failure(rule, Some("Plain (AWS::S3::Bucket)"), VERSIONING_MESSAGE),
                failure(
                    rule,
                    Some("Suspended (AWS::S3::Bucket)"),
                    VERSIONING_MESSAGE
                ),
            ]
        );
    }

    #[test]
    fn registry_suppression_metadata_is_honoured() {
        let mut suppressed = template(NON_COMPLIANT_BUCKETS);
        for resource in suppressed["Resources"]
            .as_object_mut()
            .expect("Resources is an object")
            .values_mut()
        {
            resource["Metadata"] =
                json!({ "guard": { "SuppressedRules": ["S3_BUCKET_VERSIONING_ENABLED"] } });
        }
        let outcome = evaluate("v.guard", REGISTRY_VERSIONING, &suppressed).expect("evaluates");
        assert_eq!(outcome.failures, []);
        // The suppression names one rule only.
        let sse = evaluate("sse.guard", REGISTRY_SSE, &suppressed).expect("evaluates");
        assert_eq!(sse.failures.len(), 2);
    }

    /// Runs the cloudformation-guard example test specs: every rule expected to
    /// FAIL must be reported, and no PASS/SKIP rule may be.
    #[test]
    fn guard_examples_match_their_published_expectations() {
        for (path, rules, spec) in [
            ("s3-bucket-sse.guard", EXAMPLE_S3_SSE, EXAMPLE_S3_SSE_TESTS),
            (
                "dynamodb-table-sse.guard",
                EXAMPLE_DDB_SSE,
                EXAMPLE_DDB_SSE_TESTS,
            ),
        ] {
            let cases: Vec<Value> = serde_yaml_ng::from_str(spec).expect("test spec parses");
            assert!(cases.len() >= 3, "{path}");
            for (index, case) in cases.iter().enumerate() {
                let expectations = case["expectations"]["rules"]
                    .as_object()
                    .expect("expectations.rules is a map");
                let outcome = evaluate(path, rules, &case["input"]).expect("evaluates");
                let failed: BTreeSet<&str> =
                    outcome.failures.iter().map(|f| f.rule.as_str()).collect();
                let expected: BTreeSet<&str> = expectations
                    .iter()
                    .filter(|(_, status)| status.as_str() == Some("FAIL"))
                    .map(|(rule, _)| rule.as_str())
                    .collect();
                assert_eq!(failed, expected, "{path} case {index}");
                assert_eq!(outcome.rules_checked, expectations.len(), "{path}");
            }
        }
    }

    #[test]
    fn example_failures_describe_the_failing_value() {
        let template = json!({ "Resources": {
            "Kms": bucket(json!({ "BucketEncryption": { "ServerSideEncryptionConfiguration": [
                { "ServerSideEncryptionByDefault": { "SSEAlgorithm": "aws:kms" } } ] } })),
            "Aes": bucket(json!({ "BucketEncryption": { "ServerSideEncryptionConfiguration": [
                { "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" } } ] } })),
            "None": bucket(json!({})),
        }});
        let outcome =
            evaluate("s3-bucket-sse.guard", EXAMPLE_S3_SSE, &template).expect("evaluates");
        let rule = "s3_buckets_allowed_sse_algorithm";
        assert_eq!(
            outcome.failures,
            [
                failure(
                    rule,
                    Some("Aes (AWS::S3::Bucket)"),
                    "Properties.BucketEncryption.ServerSideEncryptionConfiguration[0]\
                     .ServerSideEncryptionByDefault.SSEAlgorithm expected IN [\"aws:kms\"], \
                     found \"AES256\""
                ),
                failure(
                    rule,
                    Some("None (AWS::S3::Bucket)"),
                    "Properties.BucketEncryption is missing"
                ),
            ]
        );
    }

    #[test]
    fn custom_messages_are_collapsed_to_collapse_whitespace() {
        let rules = "rule tagged {\n  Resources.*.Properties.Tags exists\n  <<\n\
                     \t  Violation:   every resource\n\n    needs   Tags.\n  >>\n}\n";
        let template = json!({ "Resources": { "B": bucket(json!({})) } });
        let outcome = evaluate("t.guard", rules, &template).expect("evaluates");
        assert_eq!(
            outcome.failures,
            [failure(
                "tagged",
                Some("B (AWS::S3::Bucket)"),
                "Violation: every resource needs Tags."
            )]
        );
    }

    #[test]
    fn syntax_error_reports_its_line() {
        let rules = "rule ok {\n  Resources.*.Type exists\n  Resources.*.Properties.X == == 1\n\
                     \x20 Resources.*.Type exists\n}\n";
        assert_eq!(rules.lines().count(), 5);
        let error = check_syntax("bad.guard", rules).expect_err("does not parse");
        let GuardError::Parse {
            path,
            line,
            message,
        } = &error
        else {
            panic!("expected a parse error, got {error:?}");
        };
        assert_eq!((path.as_str(), *line), ("bad.guard", 3));
        assert!(message.contains("column 30"), "{message}");
        assert!(!message.contains('\n'), "{message}");
        assert!(
            error
                .to_string()
                .starts_with("bad.guard:3: the Guard rules do not parse: ")
        );
        // evaluate reports the same error without touching the template.
        assert_eq!(evaluate("bad.guard", rules, &json!({})), Err(error));
    }

    #[test]
    fn syntax_errors_on_other_lines_and_at_end_of_file() {
        let unclosed = "rule a {\n  Resources.*.Type exists\n";
        assert!(matches!(
            check_syntax("u.guard", unclosed),
            Err(GuardError::Parse { line: 3, .. })
        ));
        let bad_regex = "let x = 1\nrule a {\n  Resources.*.Type exists\n}\n\
                         rule b {\n  Resources.*.Type == /(/\n}\n";
        assert!(matches!(
            check_syntax("r.guard", bad_regex),
            Err(GuardError::Parse { line: 6, .. })
        ));
    }

    #[test]
    fn published_rule_files_parse() {
        for (path, rules) in [
            ("versioning.guard", REGISTRY_VERSIONING),
            ("sse.guard", REGISTRY_SSE),
            ("s3-bucket-sse.guard", EXAMPLE_S3_SSE),
            ("dynamodb-table-sse.guard", EXAMPLE_DDB_SSE),
        ] {
            assert_eq!(check_syntax(path, rules), Ok(()), "{path}");
        }
    }

    #[test]
    fn comment_only_file_parses_and_checks_nothing() {
        let rules = "# nothing yet\n\n";
        assert_eq!(check_syntax("empty.guard", rules), Ok(()));
        let outcome = evaluate("empty.guard", rules, &json!({ "Resources": {} })).expect("ok");
        assert_eq!(outcome, GuardOutcome::default());
    }

    #[test]
    fn rules_without_matching_resources_are_skipped_unless_unguarded() {
        let queue_only = json!({ "Resources": { "Q": { "Type": "AWS::SQS::Queue" } } });
        // Registry rules guard with `when %selection !empty`: the library SKIPs them.
        for rules in [REGISTRY_VERSIONING, REGISTRY_SSE] {
            let outcome = evaluate("r.guard", rules, &queue_only).expect("evaluates");
            assert_eq!((outcome.rules_checked, outcome.failures.len()), (1, 0));
        }
        // A clause with no guard fails when its query selects nothing; that
        // failure is not under any resource.
        let outcome =
            evaluate("d.guard", EXAMPLE_DDB_SSE, &json!({ "Resources": {} })).expect("evaluates");
        assert_eq!(outcome.rules_checked, 3);
        assert_eq!(outcome.failures.len(), 1);
        assert_eq!(
            outcome.failures[0].rule,
            "assert_all_resources_have_non_empty_tags"
        );
        assert_eq!(outcome.failures[0].resource, None);
    }

    #[test]
    fn plain_values_are_compared_and_intrinsics_are_not_resolved() {
        let rules = "rule prod_bucket_name {\n  AWS::S3::Bucket {\n    \
                     Properties.BucketName == \"prod-logs\"\n  }\n}\n";
        let with_name =
            |name: Value| json!({ "Resources": { "Logs": bucket(json!({ "BucketName": name })) } });
        let pass = evaluate("p.guard", rules, &with_name(json!("prod-logs"))).expect("ok");
        assert_eq!(pass.failures, []);

        let fail = evaluate("p.guard", rules, &with_name(json!("dev-logs"))).expect("ok");
        assert_eq!(
            fail.failures,
            [failure(
                "prod_bucket_name",
                Some("Logs (AWS::S3::Bucket)"),
                "Properties.BucketName expected EQUALS \"prod-logs\", found \"dev-logs\""
            )]
        );

        // Parameters are the caller's job: an unresolved `Ref` is just a map.
        let unresolved = evaluate("p.guard", rules, &with_name(json!({ "Ref": "Name" })));
        let failures = unresolved.expect("ok").failures;
        assert_eq!(failures.len(), 1);
        assert!(failures[0].message.ends_with("found {\"Ref\":\"Name\"}"));
    }

    #[test]
    fn checks_outside_resources_have_no_resource() {
        let rules = "Parameters.Env == \"prod\"\n";
        let outcome = evaluate(
            "env.guard",
            rules,
            &json!({ "Parameters": { "Env": "dev" }, "Resources": {} }),
        )
        .expect("evaluates");
        assert_eq!(outcome.rules_checked, 1);
        assert_eq!(
            outcome.failures,
            [failure(
                "default",
                None,
                "Parameters.Env expected EQUALS \"prod\", found \"dev\""
            )]
        );
    }

    #[test]
    fn rule_count_includes_one_default_rule_for_bare_clauses() {
        let rules = "Resources exists\nrule a { Resources exists }\nrule b { Resources exists }\n";
        let outcome = evaluate("c.guard", rules, &json!({ "Resources": {} })).expect("ok");
        assert_eq!(outcome.rules_checked, 3);
        let only_bare = evaluate("c.guard", "Resources exists\n", &json!({})).expect("ok");
        assert_eq!(only_bare.rules_checked, 1);
        assert_eq!(
            only_bare.failures,
            [failure("default", None, "Resources is missing")]
        );
    }

    #[test]
    fn failures_are_one_per_rule_and_resource_in_stable_order() {
        let rules = "rule b_tags {\n  Resources.*.Properties.Tags[*].Value != \"\"\n}\n\
                     rule a_two_checks {\n  Resources.*.Properties.Tags exists\n  \
                     Resources.*.Properties.Owner exists\n}\n";
        let tags = json!([{ "Key": "a", "Value": "" }, { "Key": "b", "Value": "" }]);
        let template = json!({ "Resources": {
            "Zeta": bucket(json!({ "Tags": tags })),
            "Alpha": bucket(json!({ "Tags": tags })),
            "Bare": bucket(json!({})),
        }});
        let outcome = evaluate("o.guard", rules, &template).expect("evaluates");
        let pairs: Vec<(&str, Option<&str>)> = outcome
            .failures
            .iter()
            .map(|f| (f.rule.as_str(), f.resource.as_deref()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("a_two_checks", Some("Alpha (AWS::S3::Bucket)")),
                ("a_two_checks", Some("Bare (AWS::S3::Bucket)")),
                ("a_two_checks", Some("Zeta (AWS::S3::Bucket)")),
                ("b_tags", Some("Alpha (AWS::S3::Bucket)")),
                // Guard fails a comparison whose property is missing.
                ("b_tags", Some("Bare (AWS::S3::Bucket)")),
                ("b_tags", Some("Zeta (AWS::S3::Bucket)")),
            ]
        );
        // Two failing tags on one bucket make one failure listing both.
        assert_eq!(
            outcome.failures[3].message,
            "Properties.Tags[0].Value expected NOT EQUALS \"\", found \"\"; \
             Properties.Tags[1].Value expected NOT EQUALS \"\", found \"\""
        );
        // Distinct failing clauses of one rule are joined.
        assert_eq!(
            outcome.failures[1].message,
            "Properties.Tags is missing; Properties.Owner is missing"
        );
        assert_eq!(
            outcome.failures[4].message,
            "Properties.Tags[*].Value is missing"
        );
    }

    #[test]
    fn identical_clause_messages_are_shown_once() {
        let rules = "rule tags_have_values {\n  \
                     Resources.*.Properties.Tags[*].Value != \"\" <<Tag values must not be empty>>\n}\n";
        let template = json!({ "Resources": { "B": bucket(json!({ "Tags": [
            { "Key": "a", "Value": "" }, { "Key": "b", "Value": "" }, { "Key": "c", "Value": "x" }
        ] })) } });
        let outcome = evaluate("i.guard", rules, &template).expect("evaluates");
        assert_eq!(
            outcome.failures,
            [failure(
                "tags_have_values",
                Some("B (AWS::S3::Bucket)"),
                "Tag values must not be empty"
            )]
        );
    }

    #[test]
    fn library_errors_become_evaluate_errors() {
        let rules = "rule a {\n  %undefined_variable.Properties exists\n}\n";
        assert_eq!(check_syntax("v.guard", rules), Ok(()));
        let error = evaluate("v.guard", rules, &json!({ "Resources": {} })).expect_err("fails");
        let GuardError::Evaluate { path, message } = &error else {
            panic!("expected an evaluation error, got {error:?}");
        };
        assert_eq!(path, "v.guard");
        assert!(message.contains("undefined_variable"), "{message}");
    }

    /// A back-reference regex makes fancy-regex hit its backtrack limit, which
    /// the library `unwrap`s (path_value.rs, `PartialEq for PathAwareValue`).
    /// The default panic hook still prints the panic to stderr.
    #[test]
    fn library_panics_become_evaluate_errors() {
        let rules = "rule a {\n  Resources.*.Properties.BucketName in [/^(a+)+\\1$/]\n}\n";
        assert_eq!(check_syntax("p.guard", rules), Ok(()));
        let name = format!("{}b", "a".repeat(34));
        let template = json!({ "Resources": { "B": bucket(json!({ "BucketName": name })) } });
        let error = evaluate("p.guard", rules, &template).expect_err("panics inside");
        let GuardError::Evaluate { message, .. } = &error else {
            panic!("expected an evaluation error, got {error:?}");
        };
        assert!(
            message.starts_with("the Guard library panicked: ") && message.contains("Backtrack"),
            "{message}"
        );
        // The same rule on a short name evaluates normally.
        let short = json!({ "Resources": { "B": bucket(json!({ "BucketName": "ab" })) } });
        assert_eq!(
            evaluate("p.guard", rules, &short).map(|o| o.failures.len()),
            Ok(1)
        );
    }

    #[test]
    fn public_types_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<GuardOutcome>();
        assert_send_sync::<GuardError>();
    }
}
