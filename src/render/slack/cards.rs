//! Slack cards from the plan report: one thread parent per plan, then one card per stack that
//! got a change set. Pure; every limit holds by construction.

use std::collections::BTreeMap;

use super::mrkdwn::{clip, code, escape, link, truncate};
use super::{ascii_id, keywords, thread_id};
use crate::model::commit::short;
use crate::model::notification::{
    ACTION_GROUP, Content, DESCRIPTION_MAX, GROUP_CHANGE_SET, GROUP_CHANGE_SET_DRIFT, GROUP_INFO,
    Metadata, NEXT_STEP_MAX, Notification, TITLE_MAX, is_context_value,
};
use crate::model::report::{Classification, PlanReport, ResourceChangeSummary, StackPlan};
use crate::render::links::Links;

/// The thread parent first, then one card per stack that got a change set. Stacks without one
/// (busy, blocked, superseded, failed before CloudFormation) are lines in the parent.
pub fn plan_cards(report: &PlanReport, links: &Links) -> Vec<Notification> {
    let thread = thread_id(report);
    let mut cards = vec![parent(report, links, &thread)];
    cards.extend(
        report
            .stacks
            .iter()
            .filter(|stack| stack.change_set.is_some())
            .map(|stack| stack_card(report, stack, links, &thread)),
    );
    cards
}

fn repository_label(report: &PlanReport) -> String {
    match (&report.project, &report.repository) {
        (Some(project), Some(repository)) => format!("{project}/{repository}"),
        _ => "repository".into(),
    }
}

/// `*Repository* … · *PR* #57 · *Commit* d3adb33 on main`, with links when the space is
/// known, then the commit's subject and author.
fn origin_line(report: &PlanReport, links: &Links) -> String {
    let mut parts = vec![format!(
        "*Repository* {}",
        code(&clip(&repository_label(report), 120))
    )];
    if let Some(pr) = report.pr {
        parts.push(
            match links.pull_request(
                report.project.as_deref(),
                report.repository.as_deref(),
                report.pr,
            ) {
                Some(url) => format!("*PR* {}", link(&url, &format!("#{pr}"))),
                None => format!("*PR* #{pr}"),
            },
        );
    }
    let commit = short(&report.after);
    let branch = code(&clip(&report.branch, 100));
    parts.push(
        match links.commit(
            report.project.as_deref(),
            report.repository.as_deref(),
            &report.after,
        ) {
            Some(url) => format!("*Commit* {} on {branch}", link(&url, &commit)),
            None => format!("*Commit* {} on {branch}", code(&commit)),
        },
    );
    let mut line = parts.join(" · ");
    if let Some(message) = &report.commit_message {
        line.push_str(&format!("\n> {}", code(&clip(message, 200))));
    }
    if let Some(author) = &report.author {
        line.push_str(&format!(" by {}", code(&clip(author, 80))));
    }
    line
}

/// The thread's summary line: how many stacks, by class, and how many destructive changes.
fn thread_summary(report: &PlanReport) -> String {
    let mut parts = vec![format!("{} stack(s)", report.stacks.len())];
    for class in [
        Classification::Changes,
        Classification::Drift,
        Classification::NoChanges,
        Classification::Failed,
        Classification::Blocked,
        Classification::Busy,
        Classification::Superseded,
    ] {
        let n = report
            .stacks
            .iter()
            .filter(|stack| stack.classification == class)
            .count();
        if n > 0 {
            parts.push(format!("{n} {}", class.as_str().replace('_', " ")));
        }
    }
    let destructive: usize = report.stacks.iter().map(StackPlan::destructive_count).sum();
    if destructive > 0 {
        parts.push(format!("{destructive} destructive change(s)"));
    }
    truncate(
        &format!(
            "{}: {}",
            escape(&repository_label(report)),
            parts.join(", ")
        ),
        TITLE_MAX,
    )
}

fn parent(report: &PlanReport, links: &Links, thread: &str) -> Notification {
    let pr = report.pr.map(|pr| format!(" PR #{pr}")).unwrap_or_default();
    let title = truncate(
        &format!(
            ":clipboard: CloudFormation plan for {}{pr} ({})",
            escape(&repository_label(report)),
            escape(&short(&report.after))
        ),
        TITLE_MAX,
    );
    let mut items: Vec<String> = report
        .stacks
        .iter()
        .map(|stack| {
            let mut line = format!(
                "• {} ({}) {}",
                code(&clip(&stack.stack, 128)),
                escape(&clip(&stack.region, 40)),
                stack.classification.as_str()
            );
            if matches!(
                stack.classification,
                Classification::Changes | Classification::Drift
            ) {
                line.push_str(&format!(" {}", stack.counts.summary()));
                let destructive = stack.destructive_count();
                if destructive > 0 {
                    line.push_str(&format!(" :warning: {destructive} destructive"));
                }
                if !stack.warnings.is_empty() {
                    line.push_str(" :warning: CloudFormation warns");
                }
            } else if let Some(reason) = &stack.reason {
                line.push_str(&format!(": {}", escape(&clip(reason, 300))));
            }
            line
        })
        .collect();
    items.extend(report.left_in_place.iter().map(|left| {
        format!(
            "• {} left in place: {}",
            code(&clip(&left.stack, 128)),
            escape(&clip(&left.reason, 300))
        )
    }));
    items.extend(
        report
            .errors
            .iter()
            .map(|error| format!("• :x: {}", escape(&clip(error, 300)))),
    );
    if items.is_empty() {
        items.push("No stack touched by this push.".into());
    }
    let description = fit(
        vec![origin_line(report, links), String::new()],
        items,
        "the Backlog pull request comment",
    );
    Notification {
        version: "1.0".into(),
        source: "custom".into(),
        id: ascii_id(&format!("{thread}/plan/{}", short(&report.after)), 256),
        content: Content {
            text_type: "client-markdown".into(),
            title,
            description,
            next_steps: vec![
                "Each stack with a change set follows in this thread, with its buttons.".into(),
            ],
            keywords: keywords(["plan", "cloudformation"]),
        },
        metadata: Metadata {
            thread_id: thread.to_owned(),
            summary: thread_summary(report),
            event_type: "cfn-chatops.plan".into(),
            related_resources: vec![],
            additional_context: BTreeMap::from([(ACTION_GROUP.into(), GROUP_INFO.into())]),
            enable_custom_actions: false,
        },
    }
}

const DISCARD_STEP: &str = "*Discard* runs `cloudformation delete-change-set`: the change set is deleted and the stack is left as it is.";

fn stack_card(report: &PlanReport, stack: &StackPlan, links: &Links, thread: &str) -> Notification {
    let change_set = stack.change_set.as_ref();
    let executable = change_set.is_some_and(|c| c.executable)
        && matches!(
            stack.classification,
            Classification::Changes | Classification::Drift
        );
    let drift = stack.classification == Classification::Drift;
    // Buttons need every variable: an id that cannot be a variable turns them off.
    let variables: Vec<(&str, Option<&str>)> = vec![
        ("StackName", Some(stack.stack.as_str())),
        ("ChangeSetArn", change_set.and_then(|c| c.arn.as_deref())),
        ("Region", Some(stack.region.as_str())),
    ];
    let ids_usable = variables
        .iter()
        .all(|(_, value)| value.is_some_and(is_context_value));
    let show_buttons = executable && ids_usable;
    let group = match (show_buttons, drift) {
        (true, true) => GROUP_CHANGE_SET_DRIFT,
        (true, false) => GROUP_CHANGE_SET,
        (false, _) => GROUP_INFO,
    };
    let mut context = BTreeMap::from([(ACTION_GROUP.to_owned(), group.to_owned())]);
    for (key, value) in variables {
        if let Some(value) = value.filter(|value| is_context_value(value)) {
            context.insert(key.to_owned(), value.to_owned());
        }
    }
    let destructive = stack.destructive_count();
    let icon = match stack.classification {
        Classification::Changes if destructive > 0 || !stack.warnings.is_empty() => ":warning:",
        Classification::Changes => ":large_blue_circle:",
        Classification::Drift => ":twisted_rightwards_arrows:",
        Classification::NoChanges => ":white_check_mark:",
        _ => ":x:",
    };
    let counts = match stack.classification {
        Classification::Changes | Classification::Drift => format!(" {}", stack.counts.summary()),
        _ => String::new(),
    };
    let title = truncate(
        &format!(
            "{icon} {} ({}): {}{counts}",
            escape(&clip(&stack.stack, 128)),
            escape(&clip(&stack.region, 40)),
            stack.classification.as_str().replace('_', " "),
        ),
        TITLE_MAX,
    );
    // CloudFormation's own warnings first: they often mean the execution will fail.
    let mut header: Vec<String> = stack
        .warnings
        .iter()
        .map(|warning| {
            format!(
                ":warning: *CloudFormation warns:* {}",
                escape(&clip(warning, 1_000))
            )
        })
        .collect();
    header.push(origin_line(report, links));
    header.push(format!(
        "*Stack* {} in {} · *Template* {}",
        code(&clip(&stack.stack, 128)),
        code(&clip(&stack.region, 40)),
        code(&clip(&stack.template, 200))
    ));
    if let Some(change_set) = change_set {
        header.push(format!(
            "*Change set* {} ({}{})",
            code(&clip(&change_set.name, 128)),
            escape(&clip(&change_set.change_set_type, 20)),
            if change_set.drift_aware {
                ", drift-aware"
            } else {
                ""
            }
        ));
    }
    if let Some(reason) = &stack.reason {
        header.push(format!("*Reason* {}", escape(&clip(reason, 500))));
    }
    for note in &stack.notes {
        header.push(format!("_Note:_ {}", escape(&clip(note, 300))));
    }
    header.push(String::new());
    let describe = match change_set.and_then(|c| c.arn.as_deref()) {
        Some(arn) => code(&format!(
            "aws cloudformation describe-change-set --change-set-name {} --region {}",
            clip(arn, 300),
            clip(&stack.region, 40)
        )),
        None => "the change set in the CloudFormation console".into(),
    };
    let description = fit(
        header,
        change_lines(stack),
        &format!("the Backlog pull request comment or {describe}"),
    );
    let next_steps = if show_buttons {
        let execute = if drift {
            "*Execute & overwrite drift* runs `cloudformation execute-change-set`: CloudFormation deploys this change set and overwrites the drift listed above (it rolls back on failure)."
        } else {
            "*Execute* runs `cloudformation execute-change-set`: CloudFormation deploys this change set (it rolls back on failure)."
        };
        vec![execute.to_owned(), DISCARD_STEP.to_owned()]
    } else if executable {
        vec!["No buttons: the stack, region or change set id cannot be passed to a button; run the describe-change-set command above and execute it from the console.".to_owned()]
    } else {
        vec!["No buttons: there is nothing to execute for this stack.".to_owned()]
    };
    let mut keyword_list = vec![
        stack.classification.as_str().to_owned(),
        stack.region.clone(),
    ];
    if destructive > 0 {
        keyword_list.push("destructive".into());
    }
    Notification {
        version: "1.0".into(),
        source: "custom".into(),
        // Unique per plan and stack: a later push to the same pull request is a new event.
        id: ascii_id(
            &format!(
                "{thread}/{}/{}/{}",
                short(&report.after),
                stack.region,
                stack.stack
            ),
            512,
        ),
        content: Content {
            text_type: "client-markdown".into(),
            title,
            description,
            next_steps: next_steps
                .iter()
                .map(|step| truncate(step, NEXT_STEP_MAX))
                .collect(),
            keywords: keywords(keyword_list.iter().map(String::as_str)),
        },
        metadata: Metadata {
            thread_id: thread.to_owned(),
            summary: thread_summary(report),
            event_type: "cfn-chatops.change-set".into(),
            related_resources: [
                change_set.and_then(|c| c.stack_id.clone()),
                change_set.and_then(|c| c.arn.clone()),
            ]
            .into_iter()
            .flatten()
            .collect(),
            additional_context: context,
            enable_custom_actions: show_buttons,
        },
    }
}

/// The change lines, most important first: destructive, then drift, then the rest by action.
/// Values are clipped before they are put in code spans, so no line can be cut inside one.
fn change_lines(stack: &StackPlan) -> Vec<String> {
    let value = |text: Option<&str>| {
        text.map(|t| code(&clip(t, 120)))
            .unwrap_or_else(|| "?".into())
    };
    let mut lines: Vec<String> = stack
        .changes
        .iter()
        .filter(|change| change.destructive.is_some())
        .map(|change| {
            format!(
                ":warning: {} — {}",
                resource(change),
                escape(&clip(
                    change.destructive.as_deref().unwrap_or_default(),
                    300
                ))
            )
        })
        .collect();
    lines.extend(stack.drift.iter().map(|drift| {
        let property = drift
            .property
            .as_deref()
            .map(|p| code(&clip(p, 120)))
            .unwrap_or_else(|| "(resource)".into());
        format!(
            ":twisted_rightwards_arrows: drift {} {} {property}: actual {} · previous {}",
            escape(&clip(&drift.status, 20)),
            code(&clip(&drift.logical_id, 128)),
            value(drift.actual.as_deref()),
            value(drift.previous.as_deref())
        )
    }));
    let order = [
        "Remove",
        "Modify",
        "Add",
        "Import",
        "Dynamic",
        "SyncWithActual",
    ];
    let mut rest: Vec<&ResourceChangeSummary> = stack
        .changes
        .iter()
        .filter(|change| change.destructive.is_none())
        .collect();
    rest.sort_by_key(|change| {
        order
            .iter()
            .position(|a| *a == change.action)
            .unwrap_or(order.len())
    });
    lines.extend(
        rest.into_iter()
            .map(|change| format!("• {}", resource(change))),
    );
    lines
}

fn resource(change: &ResourceChangeSummary) -> String {
    format!(
        "{} {} {}",
        escape(&clip(&change.action, 20)),
        code(&clip(&change.logical_id, 128)),
        escape(&clip(&change.resource_type, 100))
    )
}

/// Room kept for the header: whatever it holds, the items and the "…and N more" line follow.
const HEADER_MAX: usize = 3_000;

/// The header (capped), then as many items as fit, then "…and N more" when some did not.
fn fit(header: Vec<String>, items: Vec<String>, where_to_see_all: &str) -> String {
    let mut text = String::new();
    let mut length = 0;
    for line in header {
        let line_length = line.chars().count() + 1;
        if length + line_length > HEADER_MAX {
            text.push_str("…\n");
            length += 2;
            break;
        }
        text.push_str(&line);
        text.push('\n');
        length += line_length;
    }
    let footer_room = 40 + where_to_see_all.chars().count();
    let budget = DESCRIPTION_MAX.saturating_sub(footer_room);
    let total = items.len();
    let mut shown = 0;
    for item in items {
        let added = item.chars().count() + 1;
        if length + added > budget {
            break;
        }
        text.push_str(&item);
        text.push('\n');
        length += added;
        shown += 1;
    }
    if shown < total {
        text.push_str(&format!(
            "…and {} more: see {where_to_see_all}",
            total - shown
        ));
    }
    text.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::core::custom_actions::{self, Button};
    use crate::model::report::{
        ActionCounts, ChangeSetRef, DriftedProperty, sample_change as change, sample_report,
    };

    const SHA: &str = "d3adb33fc0ffee00112233445566778899aabbcc";

    fn stack(name: &str, classification: Classification, executable: bool) -> StackPlan {
        StackPlan {
            stack: name.into(),
            region: "us-east-1".into(),
            template: format!("stacks/{name}.yaml"),
            renamed_from: None,
            classification,
            reason: None,
            warnings: vec![],
            change_set: Some(ChangeSetRef {
                name: format!("cfn-chatops-{SHA}"),
                arn: Some(format!(
                    "arn:aws:cloudformation:us-east-1:123456789012:changeSet/cfn-chatops-{SHA}/{name}"
                )),
                stack_id: Some(format!(
                    "arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/1"
                )),
                change_set_type: "UPDATE".into(),
                drift_aware: true,
                executable,
                template_url: None,
            }),
            counts: ActionCounts {
                add: 1,
                ..ActionCounts::default()
            },
            changes: vec![change("Add", "Topic", None)],
            drift: vec![],
            superseded: vec![],
            notes: vec![],
        }
    }

    fn report(stacks: Vec<StackPlan>) -> PlanReport {
        PlanReport {
            commit_message: Some("<!channel> *x* <http://evil|y>".into()),
            author: Some("@here `Aiko`".into()),
            ..sample_report(stacks)
        }
    }

    #[test]
    fn cloudformation_warnings_lead_the_card_verbatim_and_mark_the_thread() {
        let warning = "[WARN] --include-property-values option can return incomplete ChangeSet data because: ChangeSet creation failed for resource [MyFoo] because: No export named <shared-vpc-id>";
        let mut warned = stack("app", Classification::Changes, true);
        warned.warnings = vec![warning.into()];
        let cards = plan_cards(&report(vec![warned]), &Links::default());
        let card = &cards[1];
        assert!(
            card.content.title.starts_with(":warning: app"),
            "{}",
            card.content.title
        );
        let first = card.content.description.lines().next().unwrap();
        assert_eq!(
            first,
            format!(":warning: *CloudFormation warns:* {}", escape(warning)),
            "the warning comes first, escaped but otherwise verbatim"
        );
        assert!(first.contains("No export named &lt;shared-vpc-id&gt;"));
        assert!(
            cards[0]
                .content
                .description
                .contains(":warning: CloudFormation warns"),
            "{}",
            cards[0].content.description
        );
        // Without a warning, nothing of the kind.
        let plain = plan_cards(
            &report(vec![stack("app", Classification::Changes, true)]),
            &Links::default(),
        );
        assert!(
            !plain[1]
                .content
                .description
                .contains("CloudFormation warns")
        );
        assert!(plain[1].content.title.starts_with(":large_blue_circle:"));
    }

    fn button_texts(buttons: Vec<Button>) -> Vec<String> {
        buttons.into_iter().map(|b| b.text).collect()
    }

    #[test]
    fn each_class_gets_its_action_group_and_buttons() {
        let mut drift = stack("worker", Classification::Drift, true);
        drift.drift.push(DriftedProperty {
            logical_id: "Fn".into(),
            resource_type: "AWS::Lambda::Function".into(),
            status: "MODIFIED".into(),
            property: Some("Timeout".into()),
            actual: Some("45".into()),
            previous: Some("30".into()),
        });
        let plan = report(vec![
            stack("app", Classification::Changes, true),
            drift,
            stack("same", Classification::NoChanges, false),
            stack("broken", Classification::Failed, false),
        ]);
        let links = Links {
            backlog_url: Some("https://example.backlog.com".into()),
        };
        let cards = plan_cards(&plan, &links);
        assert_eq!(cards.len(), 5);
        let actions = custom_actions::all().unwrap();
        let expected: [(&str, &[&str]); 5] = [
            (GROUP_INFO, &[]),
            (GROUP_CHANGE_SET, &["Execute", "Discard"]),
            (
                GROUP_CHANGE_SET_DRIFT,
                &["Execute & overwrite drift", "Discard"],
            ),
            (GROUP_INFO, &[]),
            (GROUP_INFO, &[]),
        ];
        for (card, (group, buttons)) in cards.iter().zip(expected) {
            assert_eq!(card.problems(), Vec::<String>::new());
            assert_eq!(card.metadata.additional_context[ACTION_GROUP], group);
            assert_eq!(
                card.metadata.thread_id,
                "cfn-chatops/INFRA/cfn-templates/pr-57"
            );
            assert_eq!(
                button_texts(custom_actions::buttons(&actions, card)),
                buttons
            );
        }
        let execute = &custom_actions::buttons(&actions, &cards[1])[0];
        assert_eq!(
            execute.command,
            format!(
                "cloudformation execute-change-set --change-set-name arn:aws:cloudformation:us-east-1:123456789012:changeSet/cfn-chatops-{SHA}/app --region us-east-1 --no-disable-rollback"
            )
        );
        assert!(
            cards[2]
                .content
                .description
                .contains("actual `45` · previous `30`")
        );
        assert!(
            cards[0].content.description.contains(
                "<https://example.backlog.com/git/INFRA/cfn-templates/pullRequests/57|#57>"
            )
        );
    }

    #[test]
    fn every_variable_path_exists_in_the_cards_of_its_action_group() {
        let mut drift = stack("worker", Classification::Drift, true);
        drift.drift.push(DriftedProperty {
            logical_id: "Fn".into(),
            resource_type: "AWS::Lambda::Function".into(),
            status: "MODIFIED".into(),
            property: None,
            actual: None,
            previous: None,
        });
        let cards = plan_cards(
            &report(vec![stack("app", Classification::Changes, true), drift]),
            &Links::default(),
        );
        for action in custom_actions::all().unwrap() {
            for attachment in &action.attachments {
                let group = attachment
                    .criteria
                    .iter()
                    .find(|c| c.variable_name == ACTION_GROUP && c.operator == "EQUALS")
                    .and_then(|c| c.value.clone())
                    .expect("each attachment is tied to an action group");
                let card = cards
                    .iter()
                    .find(|card| card.metadata.additional_context[ACTION_GROUP] == group)
                    .unwrap_or_else(|| panic!("no card of group {group}"));
                for path in attachment.variables.values() {
                    let key = path.strip_prefix(custom_actions::CONTEXT_PATH).unwrap();
                    assert!(
                        card.metadata.additional_context.contains_key(key),
                        "{} {group}: {path}",
                        action.action_name
                    );
                }
            }
        }
    }

    #[test]
    fn untrusted_text_arrives_inert() {
        let mut plan = report(vec![stack("app", Classification::Changes, true)]);
        plan.stacks[0]
            .notes
            .push("<@U024BE7LH> see <https://evil.example|here>".into());
        for card in plan_cards(&plan, &Links::default()) {
            let text = serde_json::to_string(&card).unwrap();
            for raw in [
                "<!channel>",
                "<http://evil",
                "<@U024BE7LH>",
                "<https://evil",
                "@here",
            ] {
                assert!(!text.contains(raw), "{raw} in {text}");
            }
        }
        let parent = &plan_cards(&plan, &Links::default())[0];
        assert!(
            parent.content.description.contains(
                "> `&lt;!channel&gt; *x* &lt;http://evil|y&gt;` by `@\u{2060}here ˋAikoˋ`"
            )
        );
    }

    #[test]
    fn ten_thousand_changes_fit_with_the_destructive_ones_first() {
        let mut big = stack("big", Classification::Changes, true);
        big.changes = (0..10_000)
            .map(|i| change("Add", &format!("Topic{i}"), None))
            .collect();
        big.changes
            .push(change("Remove", "OldBucket", Some("removed")));
        let card = &plan_cards(&report(vec![big]), &Links::default())[1];
        assert_eq!(card.problems(), Vec::<String>::new());
        let description = &card.content.description;
        assert!(description.chars().count() <= 8_000);
        let first_change = description
            .lines()
            .find(|l| l.contains("Topic") || l.contains("OldBucket"));
        assert!(
            first_change.unwrap().contains("OldBucket"),
            "destructive first"
        );
        assert!(description.contains(
            "more: see the Backlog pull request comment or `aws cloudformation describe-change-set"
        ));
    }

    #[test]
    fn ids_that_cannot_be_variables_turn_the_buttons_off() {
        let mut odd = stack("app", Classification::Changes, true);
        odd.region = "us east 1".into();
        let card = &plan_cards(&report(vec![odd]), &Links::default())[1];
        assert!(!card.metadata.enable_custom_actions);
        assert_eq!(card.metadata.additional_context[ACTION_GROUP], GROUP_INFO);
        assert_eq!(card.problems(), Vec::<String>::new());
    }

    fn any_text() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,40}",
            "[a-zA-Z0-9-]{1,20}",
            Just("<!channel> *x* <http://evil|y> `".to_owned()),
            ".{300,1200}",
        ]
    }

    fn any_stack() -> impl Strategy<Value = StackPlan> {
        (
            (any_text(), any_text(), any_text(), any_text()),
            0usize..10_000,
            any_text(),
            prop::sample::select(vec![
                Classification::Changes,
                Classification::Drift,
                Classification::NoChanges,
                Classification::Failed,
                Classification::Blocked,
            ]),
            any::<bool>(),
            prop::option::of(any_text()),
            prop::collection::vec(any_text(), 0..8),
        )
            .prop_map(
                |(
                    (name, region, template, kind),
                    changes,
                    value,
                    classification,
                    executable,
                    arn,
                    notes,
                )| {
                    let mut plan = stack("x", classification, executable);
                    plan.stack = name;
                    plan.region = region;
                    plan.template = template;
                    plan.reason = Some(value.clone());
                    plan.notes = notes;
                    if let Some(change_set) = plan.change_set.as_mut() {
                        change_set.arn = arn;
                        change_set.name = value.clone();
                        change_set.change_set_type = kind.clone();
                        change_set.stack_id = Some(value.clone());
                    }
                    plan.changes = (0..changes)
                        .map(|i| {
                            let destructive = (i % 7 == 0).then_some(value.as_str());
                            let mut row = change(
                                ["Add", "Modify", "Remove", "Dynamic"][i % 4],
                                &format!("{value}{i}"),
                                destructive,
                            );
                            row.resource_type = kind.clone();
                            row
                        })
                        .collect();
                    plan.drift = (0..changes.min(50))
                        .map(|_| DriftedProperty {
                            logical_id: value.clone(),
                            resource_type: kind.clone(),
                            status: kind.clone(),
                            property: Some(value.clone()),
                            actual: Some(value.clone()),
                            previous: Some(kind.clone()),
                        })
                        .collect();
                    plan
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_report_gives_valid_cards_within_every_limit(
            stacks in prop::collection::vec(any_stack(), 0..4),
            texts in prop::collection::vec(any_text(), 6),
            pr in prop::option::of(any::<u64>()),
            url in any_text(),
        ) {
            let mut plan = report(stacks);
            plan.commit_message = Some(texts[0].clone());
            plan.project = Some(texts[1].clone());
            plan.repository = Some(texts[2].clone());
            plan.branch = texts[3].clone();
            plan.author = Some(texts[4].clone());
            plan.after = texts[5].clone();
            plan.pr = pr;
            plan.errors = texts.clone();
            let links = Links { backlog_url: Some(url) };
            for card in plan_cards(&plan, &links) {
                prop_assert_eq!(card.problems(), Vec::<String>::new());
                // Whatever the header holds, a card that could not show everything says so.
                let changes = plan
                    .stacks
                    .iter()
                    .find(|s| card.id.ends_with(&ascii_id(&format!("/{}/{}", s.region, s.stack), 512)))
                    .map_or(0, |s| s.changes.len() + s.drift.len());
                if changes > 400 {
                    prop_assert!(card.content.description.contains(" more: see "), "{}", card.id);
                }
                let json = serde_json::to_string(&card).unwrap();
                let back: Notification = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(&back, &card);
                prop_assert!(json.len() < 256 * 1024);
            }
        }
    }
}
