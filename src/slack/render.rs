//! Slack cards from the plan report: one thread parent per plan, then one card per stack that
//! got a change set. Pure; every limit holds by construction.

use std::collections::BTreeMap;

use super::mrkdwn::{code, escape, link, truncate};
use super::notification::{
    ACTION_GROUP, Content, DESCRIPTION_MAX, GROUP_CHANGE_SET, GROUP_CHANGE_SET_DRIFT, GROUP_INFO,
    KEYWORD_MAX, Metadata, NEXT_STEP_MAX, Notification, TITLE_MAX, is_context_value,
};
use crate::plan::report::{Classification, PlanReport, ResourceChangeSummary, StackPlan, short};

/// What cards link to.
#[derive(Debug, Clone, Default)]
pub struct Links {
    /// The Backlog space, e.g. `https://example.backlog.com`; no links without it.
    pub backlog_url: Option<String>,
}

impl Links {
    fn repository(&self, report: &PlanReport) -> Option<String> {
        let base = self.backlog_url.as_deref()?.trim_end_matches('/');
        let (project, repository) = (report.project.as_deref()?, report.repository.as_deref()?);
        Some(format!("{base}/git/{project}/{repository}"))
    }

    fn pull_request(&self, report: &PlanReport) -> Option<String> {
        Some(format!(
            "{}/pullRequests/{}",
            self.repository(report)?,
            report.pr?
        ))
    }

    fn commit(&self, report: &PlanReport) -> Option<String> {
        Some(format!(
            "{}/commit/{}",
            self.repository(report)?,
            report.after
        ))
    }
}

/// One Slack thread per plan: per pull request when there is one, else per commit.
pub fn thread_id(report: &PlanReport) -> String {
    let subject = match report.pr {
        Some(pr) => format!("pr-{pr}"),
        None => format!("commit-{}", short(&report.after)),
    };
    let id = format!(
        "cfn-chatops/{}/{}/{subject}",
        report.project.as_deref().unwrap_or("local"),
        report.repository.as_deref().unwrap_or("repository")
    );
    // Thread ids are compared as strings; keep them printable ASCII.
    id.chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(200)
        .collect()
}

/// The thread parent first, then one card per stack that got a change set.
pub fn notifications(report: &PlanReport, links: &Links) -> Vec<Notification> {
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

/// `*Repository* … · *PR* #57 · *Commit* d3adb33 on main`, with links when the space is known.
fn origin_line(report: &PlanReport, links: &Links) -> String {
    let mut parts = vec![format!("*Repository* {}", code(&repository_label(report)))];
    if let Some(pr) = report.pr {
        parts.push(match links.pull_request(report) {
            Some(url) => format!("*PR* {}", link(&url, &format!("#{pr}"))),
            None => format!("*PR* #{pr}"),
        });
    }
    let commit = short(&report.after);
    parts.push(match links.commit(report) {
        Some(url) => format!(
            "*Commit* {} on {}",
            link(&url, &commit),
            code(&report.branch)
        ),
        None => format!("*Commit* {} on {}", code(&commit), code(&report.branch)),
    });
    let mut line = parts.join(" · ");
    if let Some(message) = &report.commit_message {
        line.push_str(&format!("\n> {}", code(&truncate(message, 200))));
    }
    if let Some(author) = &report.author {
        line.push_str(&format!(" by {}", code(&truncate(author, 80))));
    }
    line
}

fn summary(report: &PlanReport) -> String {
    let count = |class: Classification| {
        report
            .stacks
            .iter()
            .filter(|stack| stack.classification == class)
            .count()
    };
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
        let n = count(class);
        if n > 0 {
            parts.push(format!("{n} {}", class.as_str().replace('_', " ")));
        }
    }
    let destructive: usize = report
        .stacks
        .iter()
        .map(|stack| {
            stack
                .changes
                .iter()
                .filter(|c| c.destructive.is_some())
                .count()
        })
        .sum();
    if destructive > 0 {
        parts.push(format!("{destructive} destructive change(s)"));
    }
    truncate(
        &format!("{}: {}", repository_label(report), parts.join(", ")),
        TITLE_MAX,
    )
}

fn parent(report: &PlanReport, links: &Links, thread: &str) -> Notification {
    let pr = report.pr.map(|pr| format!(" PR #{pr}")).unwrap_or_default();
    let title = truncate(
        &format!(
            ":clipboard: CloudFormation plan for {}{pr} ({})",
            repository_label(report),
            short(&report.after)
        ),
        TITLE_MAX,
    );
    let mut lines = vec![origin_line(report, links)];
    let mut items: Vec<String> = report
        .stacks
        .iter()
        .map(|stack| {
            let mut line = format!(
                "• {} ({}) {}",
                code(&stack.stack),
                escape(&stack.region),
                stack.classification.as_str()
            );
            if matches!(
                stack.classification,
                Classification::Changes | Classification::Drift
            ) {
                line.push_str(&format!(" {}", stack.counts.summary()));
                let destructive = stack
                    .changes
                    .iter()
                    .filter(|c| c.destructive.is_some())
                    .count();
                if destructive > 0 {
                    line.push_str(&format!(" :warning: {destructive} destructive"));
                }
            } else if let Some(reason) = &stack.reason {
                line.push_str(&format!(": {}", escape(reason)));
            }
            line
        })
        .collect();
    items.extend(report.left_in_place.iter().map(|left| {
        format!(
            "• {} left in place: {}",
            code(&left.stack),
            escape(&left.reason)
        )
    }));
    items.extend(
        report
            .errors
            .iter()
            .map(|error| format!("• :x: {}", escape(error))),
    );
    if items.is_empty() {
        items.push("No stack touched by this push.".into());
    }
    lines.push(String::new());
    let description = fit(lines, items, "the Backlog pull request comment");
    Notification {
        version: "1.0".into(),
        source: "custom".into(),
        id: format!("{thread}/plan/{}", short(&report.after)),
        content: Content {
            text_type: "client-markdown".into(),
            title,
            description,
            next_steps: vec![truncate(
                "Each stack with a change set follows in this thread, with its buttons.",
                NEXT_STEP_MAX,
            )],
            keywords: keywords(["plan", "cloudformation"]),
        },
        metadata: Metadata {
            thread_id: thread.to_owned(),
            summary: summary(report),
            event_type: "cfn-chatops.plan".into(),
            related_resources: vec![],
            additional_context: BTreeMap::from([(ACTION_GROUP.into(), GROUP_INFO.into())]),
            enable_custom_actions: false,
        },
    }
}

fn stack_card(report: &PlanReport, stack: &StackPlan, links: &Links, thread: &str) -> Notification {
    let change_set = stack.change_set.as_ref();
    let executable = change_set.is_some_and(|c| c.executable)
        && matches!(
            stack.classification,
            Classification::Changes | Classification::Drift
        );
    let drift = stack.classification == Classification::Drift;
    let group = match (executable, drift) {
        (true, true) => GROUP_CHANGE_SET_DRIFT,
        (true, false) => GROUP_CHANGE_SET,
        _ => GROUP_INFO,
    };
    // Buttons need every variable: an id that cannot be a variable means no buttons.
    let mut context = BTreeMap::from([(ACTION_GROUP.to_owned(), group.to_owned())]);
    let mut buttons = executable;
    for (key, value) in [
        ("StackName", Some(stack.stack.as_str())),
        ("ChangeSetArn", change_set.and_then(|c| c.arn.as_deref())),
        ("Region", Some(stack.region.as_str())),
    ] {
        match value.filter(|value| is_context_value(value)) {
            Some(value) => {
                context.insert(key.to_owned(), value.to_owned());
            }
            None => buttons = false,
        }
    }
    if !buttons {
        context.insert(ACTION_GROUP.to_owned(), GROUP_INFO.to_owned());
    }
    let destructive = stack
        .changes
        .iter()
        .filter(|c| c.destructive.is_some())
        .count();
    let icon = match stack.classification {
        Classification::Changes if destructive > 0 => ":warning:",
        Classification::Changes => ":large_blue_circle:",
        Classification::Drift => ":twisted_rightwards_arrows:",
        Classification::NoChanges => ":white_check_mark:",
        _ => ":x:",
    };
    let title = truncate(
        &format!(
            "{icon} {} ({}): {}{}",
            escape(&stack.stack),
            escape(&stack.region),
            stack.classification.as_str().replace('_', " "),
            match stack.classification {
                Classification::Changes | Classification::Drift =>
                    format!(" {}", stack.counts.summary()),
                _ => String::new(),
            }
        ),
        TITLE_MAX,
    );
    let mut header = vec![origin_line(report, links)];
    header.push(format!(
        "*Stack* {} in {} · *Template* {}",
        code(&stack.stack),
        code(&stack.region),
        code(&stack.template)
    ));
    if let Some(change_set) = change_set {
        header.push(format!(
            "*Change set* {} ({}{})",
            code(&change_set.name),
            escape(&change_set.change_set_type),
            if change_set.drift_aware {
                ", drift-aware"
            } else {
                ""
            }
        ));
    }
    if let Some(reason) = &stack.reason {
        header.push(format!("*Reason* {}", escape(reason)));
    }
    for note in &stack.notes {
        header.push(format!("_Note:_ {}", escape(note)));
    }
    header.push(String::new());
    let describe = change_set
        .and_then(|c| c.arn.as_deref())
        .map(|arn| {
            format!(
                "`aws cloudformation describe-change-set --change-set-name {} --region {}`",
                escape(arn).replace('`', "\u{02CB}"),
                escape(&stack.region).replace('`', "\u{02CB}")
            )
        })
        .unwrap_or_else(|| "the change set in the CloudFormation console".into());
    let description = fit(
        header,
        change_lines(stack),
        &format!("the Backlog pull request comment or {describe}"),
    );
    let next_steps = if buttons && drift {
        vec![
            "*Execute & overwrite drift* runs `cloudformation execute-change-set`: CloudFormation deploys this change set and overwrites the drift listed above (it rolls back on failure).".to_owned(),
            "*Discard* runs `cloudformation delete-change-set`: the change set is deleted and the stack is left as it is.".to_owned(),
        ]
    } else if buttons {
        vec![
            "*Execute* runs `cloudformation execute-change-set`: CloudFormation deploys this change set (it rolls back on failure).".to_owned(),
            "*Discard* runs `cloudformation delete-change-set`: the change set is deleted and the stack is left as it is.".to_owned(),
        ]
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
        id: truncate(&format!("{thread}/{}/{}", stack.region, stack.stack), 512),
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
            summary: summary(report),
            event_type: "cfn-chatops.change-set".into(),
            related_resources: [
                change_set.and_then(|c| c.stack_id.clone()),
                change_set.and_then(|c| c.arn.clone()),
            ]
            .into_iter()
            .flatten()
            .collect(),
            additional_context: context,
            enable_custom_actions: buttons,
        },
    }
}

/// The change lines, most important first: destructive, then drift, then the rest by action.
fn change_lines(stack: &StackPlan) -> Vec<String> {
    let mut lines: Vec<String> = stack
        .changes
        .iter()
        .filter(|change| change.destructive.is_some())
        .map(|change| {
            format!(
                ":warning: {} — {}",
                resource(change),
                escape(change.destructive.as_deref().unwrap_or_default())
            )
        })
        .collect();
    lines.extend(stack.drift.iter().map(|drift| {
        let property = drift
            .property
            .as_deref()
            .map(code)
            .unwrap_or_else(|| "(resource)".into());
        format!(
            ":twisted_rightwards_arrows: drift {} {} {property}: actual {} · previous {}",
            escape(&drift.status),
            code(&drift.logical_id),
            drift
                .actual
                .as_deref()
                .map(code)
                .unwrap_or_else(|| "?".into()),
            drift
                .previous
                .as_deref()
                .map(code)
                .unwrap_or_else(|| "?".into())
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
        escape(&change.action),
        code(&change.logical_id),
        escape(&change.resource_type)
    )
}

/// The header, then as many items as fit under the description limit, then "…and N more".
fn fit(header: Vec<String>, items: Vec<String>, where_to_see_all: &str) -> String {
    let footer_room = 40 + where_to_see_all.chars().count();
    let mut text = String::new();
    for line in header {
        text.push_str(&truncate(&line, 1_000));
        text.push('\n');
    }
    let mut length = text.chars().count();
    let budget = DESCRIPTION_MAX.saturating_sub(footer_room);
    let total = items.len();
    let mut shown = 0;
    for item in items {
        let item = truncate(&item, 1_000);
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
    truncate(text.trim_end(), DESCRIPTION_MAX)
}

fn keywords<'a>(words: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    words
        .into_iter()
        .map(|word| truncate(&escape(word), KEYWORD_MAX))
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::plan::report::{ActionCounts, ChangeSetRef, DriftedProperty, REPORT_VERSION};
    use crate::slack::actions::{self, Button};

    const SHA: &str = "d3adb33fc0ffee00112233445566778899aabbcc";

    fn change(action: &str, id: &str, destructive: Option<&str>) -> ResourceChangeSummary {
        ResourceChangeSummary {
            logical_id: id.into(),
            resource_type: "AWS::SNS::Topic".into(),
            physical_id: None,
            action: action.into(),
            replacement: None,
            policy_action: None,
            destructive: destructive.map(str::to_owned),
            drift_status: None,
            properties: vec![],
        }
    }

    fn stack(name: &str, classification: Classification, executable: bool) -> StackPlan {
        StackPlan {
            stack: name.into(),
            region: "us-east-1".into(),
            template: format!("stacks/{name}.yaml"),
            renamed_from: None,
            classification,
            reason: None,
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
            version: REPORT_VERSION,
            project: Some("INFRA".into()),
            repository: Some("cfn-templates".into()),
            branch: "main".into(),
            after: SHA.into(),
            commit_message: Some("<!channel> *x* <http://evil|y>".into()),
            author: Some("@here `Aiko`".into()),
            before: None,
            base: None,
            pr: Some(57),
            stacks,
            left_in_place: vec![],
            errors: vec![],
            notes: vec![],
            notifications: vec![],
        }
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
        let cards = notifications(&plan, &links);
        assert_eq!(cards.len(), 5);
        let actions = actions::all().unwrap();
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
            assert_eq!(button_texts(actions::buttons(&actions, card)), buttons);
        }
        let execute = &actions::buttons(&actions, &cards[1])[0];
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
        let cards = notifications(
            &report(vec![stack("app", Classification::Changes, true), drift]),
            &Links::default(),
        );
        for action in actions::all().unwrap() {
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
                    let key = path.strip_prefix(actions::CONTEXT_PATH).unwrap();
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
        for card in notifications(&plan, &Links::default()) {
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
        let parent = &notifications(&plan, &Links::default())[0];
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
        let card = &notifications(&report(vec![big]), &Links::default())[1];
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
        let card = &notifications(&report(vec![odd]), &Links::default())[1];
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
            any_text(),
            any_text(),
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
        )
            .prop_map(
                |(name, region, changes, value, classification, executable, arn)| {
                    let mut plan = stack("x", classification, executable);
                    plan.stack = name;
                    plan.region = region;
                    plan.reason = Some(value.clone());
                    if let Some(change_set) = plan.change_set.as_mut() {
                        change_set.arn = arn;
                    }
                    plan.changes = (0..changes)
                        .map(|i| {
                            let destructive = (i % 7 == 0).then_some(value.as_str());
                            change(
                                ["Add", "Modify", "Remove", "Dynamic"][i % 4],
                                &format!("{value}{i}"),
                                destructive,
                            )
                        })
                        .collect();
                    plan.drift = (0..changes.min(50))
                        .map(|_| DriftedProperty {
                            logical_id: value.clone(),
                            resource_type: value.clone(),
                            status: "MODIFIED".into(),
                            property: Some(value.clone()),
                            actual: Some(value.clone()),
                            previous: None,
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
            message in any_text(),
            project in any_text(),
        ) {
            let mut plan = report(stacks);
            plan.commit_message = Some(message);
            plan.project = Some(project);
            for card in notifications(&plan, &Links { backlog_url: Some("https://x.backlog.com".into()) }) {
                prop_assert_eq!(card.problems(), Vec::<String>::new());
                let json = serde_json::to_string(&card).unwrap();
                let back: Notification = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(&back, &card);
                prop_assert!(json.len() < 256 * 1024);
            }
        }
    }
}
