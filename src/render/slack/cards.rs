//! Slack cards from the plan report: one thread parent per plan, then one card per stack that
//! got a change set. Pure; every limit holds by construction.

use std::collections::{BTreeMap, HashMap};

use super::mrkdwn::{clip, clip_middle, code, escape, link, truncate};
use super::{ascii_id, keywords, thread_id};
use crate::core::properties::{
    because, changed_parameters, display_value, is_security_relevant, shown_properties,
    stands_alone,
};
use crate::model::commit::short;
use crate::model::notification::{
    ACTION_GROUP, Content, DESCRIPTION_MAX, GROUP_CHANGE_SET, GROUP_CHANGE_SET_DRIFT, GROUP_INFO,
    Metadata, NEXT_STEP_MAX, Notification, TITLE_MAX, is_context_value,
};
use crate::model::report::{Classification, PlanReport, ResourceChangeSummary, StackPlan};
use crate::model::verdict::{Finding, Level, Verdict};
use crate::render::links::Links;
use crate::render::{blocked_next_step, reason_beside_verdict, verdict_headline};

/// The thread parent first, then one card per stack that got a change set. Stacks without one
/// (busy, blocked, superseded, failed before CloudFormation) are lines in the parent.
pub fn plan_cards(report: &PlanReport, links: &Links) -> Vec<Notification> {
    let thread = thread_id(report);
    let mut cards = vec![parent(report, links, &thread)];
    cards.extend(
        report
            .stacks
            .iter()
            // A preview's new stack has no change set, only its template's resources.
            .filter(|stack| {
                stack.change_set.is_some()
                    || (report.preview.is_some() && !stack.changes.is_empty())
            })
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
    let (icon, what) = match report.preview {
        Some(_) => (":mag:", "preview"),
        None => (":clipboard:", "plan"),
    };
    let title = truncate(
        &format!(
            "{icon} CloudFormation {what} for {}{pr} ({})",
            escape(&repository_label(report)),
            escape(&short(&report.after))
        ),
        TITLE_MAX,
    );
    // Stacks with a change set one line each; those without one, sharing a class and a
    // reason (the same refusal for many stacks), one line naming them all.
    let mut items: Vec<Item> = Vec::new();
    let mut refusals: Vec<(Classification, Option<&str>, Vec<&StackPlan>)> = Vec::new();
    for stack in &report.stacks {
        if matches!(
            stack.classification,
            Classification::Changes | Classification::Drift
        ) {
            let mut line = format!(
                "• {} ({}) {} {}",
                code(&clip(&stack.stack, 128)),
                escape(&clip(&stack.region, 40)),
                stack.classification.as_str(),
                stack.counts.summary()
            );
            if let Some(verdict) = &stack.verdict {
                match verdict.level {
                    Level::Review => line.push_str(" :warning: review"),
                    Level::Ok if verdict.waived().next().is_some() => {
                        line.push_str(" :white_check_mark: no risks left (waived)")
                    }
                    Level::Ok => line.push_str(" :white_check_mark: no risks found"),
                    Level::Blocked => {}
                }
                if !verdict.unchecked.is_empty() {
                    line.push_str(" :grey_question: not all checked");
                }
            }
            let destructive = stack.destructive_count();
            if destructive > 0 {
                line.push_str(&format!(" :warning: {destructive} destructive"));
            }
            if !stack.warnings.is_empty() {
                line.push_str(" :warning: CloudFormation warns");
            }
            if !stack.incomplete.is_empty() {
                line.push_str(" :warning: incomplete review");
            }
            // A hidden stack line counts as destructive when its stack has such changes.
            items.push(Item {
                line: Line::Text(line),
                rows: 1,
                destructive: usize::from(destructive > 0),
            });
            continue;
        }
        let key = (stack.classification, stack.reason.as_deref());
        match refusals
            .iter_mut()
            .find(|(class, reason, _)| (*class, *reason) == key)
        {
            Some((_, _, stacks)) => stacks.push(stack),
            None => refusals.push((key.0, key.1, vec![stack])),
        }
    }
    items.extend(refusals.into_iter().map(|(class, reason, stacks)| {
        let mut names: Vec<String> = stacks
            .iter()
            .take(NAMES_PER_LINE)
            .map(|stack| {
                format!(
                    "{} ({})",
                    code(&clip(&stack.stack, 128)),
                    escape(&clip(&stack.region, 40))
                )
            })
            .collect();
        if stacks.len() > NAMES_PER_LINE {
            names.push(format!("and {} more", stacks.len() - NAMES_PER_LINE));
        }
        let mut line = format!("• {} {}", names.join(", "), class.as_str());
        if let Some(reason) = reason {
            line.push_str(&format!(": {}", escape(&clip(reason, 300))));
        }
        Item {
            line: Line::Text(line),
            rows: stacks.len(),
            destructive: 0,
        }
    }));
    items.extend(report.left_in_place.iter().map(|left| {
        Item::one(format!(
            "• {} left in place: {}",
            code(&clip(&left.stack, 128)),
            escape(&clip(&left.reason, 300))
        ))
    }));
    items.extend(
        report
            .errors
            .iter()
            .map(|error| Item::one(format!("• :x: {}", escape(&clip(error, 300))))),
    );
    if items.is_empty() {
        items.push(Item::one("No stack touched by this push.".into()));
    }
    // Only a pull request has a comment; a direct push has the plan's text report.
    let where_to_see_all = if report.pr.is_some() {
        "the Backlog pull request comment"
    } else {
        "the text report of `cfn-chatops plan` in the build log"
    };
    // Hidden lines of the parent are stacks: say how many of them have destructive changes.
    let mut header = vec![origin_line(report, links)];
    if let Some(preview) = &report.preview {
        header.push(format!(
            ":lock: *Preview before the merge: nothing can be executed.* The real change set is created after the merge into {}.",
            code(&clip(&preview.into, 100))
        ));
    }
    header.push(String::new());
    let description = fit(header, items, "with destructive changes", where_to_see_all);
    let next_step = match report.preview {
        Some(_) => "Each stack previewed follows in this thread, without buttons.",
        None => "Each stack with a change set follows in this thread, with its buttons.",
    };
    Notification {
        version: "1.0".into(),
        source: "custom".into(),
        id: ascii_id(&format!("{thread}/{what}/{}", short(&report.after)), 256),
        content: Content {
            text_type: "client-markdown".into(),
            title,
            description,
            next_steps: vec![next_step.into()],
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

/// The verdict's lines on a card: what counts (the headline, how to proceed, what was not
/// checked), and after it what does not (the waivers used, the remarks), a few of each.
fn verdict_lines(stack: &StackPlan, verdict: &Verdict) -> (Vec<String>, Vec<String>) {
    let mut lines = vec![match verdict.level {
        Level::Ok => format!(
            ":white_check_mark: {}",
            escape(&clip(&verdict_headline(verdict), 600))
        ),
        level => {
            let label = match level {
                Level::Blocked => ":no_entry: *Blocked:*",
                _ => ":warning: *Review:*",
            };
            let reasons: Vec<String> = verdict
                .reasons()
                .take(WARNINGS_SHOWN)
                .map(|finding| escape(&clip(&finding.summary(), 400)))
                .collect();
            let more = more_text(verdict.reasons().count(), WARNINGS_SHOWN);
            format!("{label} {}{more}", reasons.join("; "))
        }
    }];
    if verdict.level == Level::Blocked {
        lines.push(escape(blocked_next_step(stack)));
    }
    if !verdict.unchecked.is_empty() {
        lines.push(format!(
            ":grey_question: *Not checked:* {}",
            escape(&clip(&verdict.unchecked.join("; "), 400))
        ));
    }
    let mut tail = Vec::new();
    let waived: Vec<&Finding> = verdict.waived().collect();
    tail.extend(counted(
        &waived,
        ":memo: *Waived:*",
        ":memo: …and {} more waived",
        |f| f.waiver_line(),
    ));
    // Remarks: what a rule found and why it is no risk ("the old bucket is retained").
    let remarks: Vec<&Finding> = verdict
        .findings
        .iter()
        .filter(|finding| finding.waived.is_none() && !finding.counts())
        .collect();
    tail.extend(counted(
        &remarks,
        ":information_source:",
        ":information_source: …and {} more",
        Finding::summary,
    ));
    (lines, tail)
}

/// A few findings, one line each after `label`, then `more` (its `{}` the count) for the rest.
fn counted(
    findings: &[&Finding],
    label: &str,
    more: &str,
    text: impl Fn(&Finding) -> String,
) -> Vec<String> {
    let mut lines: Vec<String> = findings
        .iter()
        .take(WARNINGS_SHOWN)
        .map(|finding| format!("{label} {}", escape(&clip(&text(finding), 400))))
        .collect();
    if findings.len() > WARNINGS_SHOWN {
        lines.push(more.replace("{}", &(findings.len() - WARNINGS_SHOWN).to_string()));
    }
    lines
}

/// ` …and N more` when `count` is over the `shown`, else nothing.
fn more_text(count: usize, shown: usize) -> String {
    match count.saturating_sub(shown) {
        0 => String::new(),
        more => format!(" …and {more} more"),
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
    // A preview never has buttons, whatever its change set said before it was deleted.
    let show_buttons = executable && ids_usable && report.preview.is_none();
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
    let level = stack.verdict.as_ref().map(|verdict| verdict.level);
    let icon = match stack.classification {
        _ if level == Some(Level::Blocked) => ":no_entry:",
        Classification::Changes | Classification::Drift
            if destructive > 0
                || !stack.warnings.is_empty()
                || !stack.incomplete.is_empty()
                || level == Some(Level::Review) =>
        {
            ":warning:"
        }
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
    // The verdict first: it answers the question the button asks. Then what the review could
    // not show, and CloudFormation's own warnings: they often mean the card is not the whole
    // story or the execution will fail. A few of each, so the header keeps room for what the
    // bot decided; the comment and the report have them all.
    // Waivers and remarks come after CloudFormation's warnings: they do not count.
    let (mut header, verdict_tail) = stack
        .verdict
        .as_ref()
        .map(|verdict| verdict_lines(stack, verdict))
        .unwrap_or_default();
    header.extend(
        stack
            .incomplete
            .iter()
            .take(WARNINGS_SHOWN)
            .map(|gap| format!(":warning: *Incomplete review:* {}", escape(&clip(gap, 500)))),
    );
    header.extend(stack.warnings.iter().take(WARNINGS_SHOWN).map(|warning| {
        format!(
            ":warning: *CloudFormation warns:* {}",
            escape(&clip(warning, 600))
        )
    }));
    let unshown = stack.incomplete.len().saturating_sub(WARNINGS_SHOWN)
        + stack.warnings.len().saturating_sub(WARNINGS_SHOWN);
    if unshown > 0 {
        let elsewhere = match report.pr {
            Some(_) => "the Backlog pull request comment",
            None => "the text report of `cfn-chatops plan` in the build log",
        };
        header.push(format!(
            ":warning: …and {unshown} more warning(s): see {elsewhere}"
        ));
    }
    header.extend(verdict_tail);
    header.push(origin_line(report, links));
    header.push(format!(
        "*Stack* {} in {} · *Template* {}",
        code(&clip(&stack.stack, 128)),
        code(&clip(&stack.region, 40)),
        code(&clip(&stack.template, 200))
    ));
    if report.preview.is_some() {
        // Its change set was deleted at once: naming it would only send a reader looking.
        header.push(match change_set {
            Some(change_set) if change_set.deleted => format!(
                "*Preview* of an {} (its change set was deleted)",
                escape(&clip(&change_set.change_set_type, 20))
            ),
            Some(change_set) => format!(
                ":warning: *Preview change set {} could not be deleted:* delete it, never execute it",
                code(&clip(&change_set.name, 128))
            ),
            None => "*Preview* of a new stack: the template validated, nothing created".into(),
        });
    } else if let Some(change_set) = change_set {
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
        if change_set.change_set_type == "CREATE" {
            header.push(format!(
                "*New stack* {} will be created",
                code(&clip(&stack.stack, 128))
            ));
            if let Some(from) = &stack.renamed_from {
                header.push(format!(
                    ":warning: Renamed from {}: this creates a new stack with new resources; the stack of the old name keeps its own (delete it deliberately)",
                    code(&clip(from, 200))
                ));
            }
        }
    }
    if !stack.capabilities.is_empty() {
        let acknowledged: Vec<String> = stack.capabilities.iter().map(|c| code(c)).collect();
        header.push(format!("*Acknowledges* {}", acknowledged.join(", ")));
    }
    if !stack.parameters.is_empty() {
        let shown: Vec<String> = stack
            .parameters
            .iter()
            .take(PARAMETERS_SHOWN)
            .map(|p| {
                format!(
                    "{}={}",
                    code(&clip(&p.key, 128)),
                    code(&display_value(&p.value))
                )
            })
            .collect();
        let more = more_text(stack.parameters.len(), PARAMETERS_SHOWN);
        header.push(format!("*Parameters* {}{more}", shown.join(", ")));
    }
    for superseded in &stack.superseded {
        header.push(format!(
            "*Supersedes* {} (deleted: its card's buttons no longer work)",
            code(&clip(superseded, 128))
        ));
    }
    let parameters = changed_parameters(&stack.changes);
    if !parameters.is_empty() {
        let names: Vec<String> = parameters
            .iter()
            .map(|name| code(&clip(name, 128)))
            .collect();
        header.push(format!("*Parameters changed* {}", names.join(", ")));
    }
    if let Some(reason) = reason_beside_verdict(stack) {
        header.push(format!("*Reason* {}", escape(&clip(reason, 500))));
    }
    for note in &stack.notes {
        header.push(format!("_Note:_ {}", escape(&clip(note, 300))));
    }
    header.push(String::new());
    let describe = match change_set
        .filter(|_| report.preview.is_none())
        .and_then(|c| c.arn.as_deref())
    {
        Some(arn) => code(&format!(
            "aws cloudformation describe-change-set --change-set-name {} --region {}",
            clip(arn, 300),
            clip(&stack.region, 40)
        )),
        None if report.preview.is_some() => "the next preview".into(),
        None => "the change set in the CloudFormation console".into(),
    };
    let description = fit(
        header,
        change_lines(stack),
        "destructive",
        &match report.pr {
            Some(_) => format!("the Backlog pull request comment or {describe}"),
            // The root's describe-change-set does not list its nested stacks' rows.
            None => format!("the text report of `cfn-chatops plan` in the build log or {describe}"),
        },
    );
    let next_steps = if let Some(preview) = &report.preview {
        vec![format!(
            "No buttons: a preview before the merge. The change set to execute is created, and reviewed again, after the merge into {}.",
            code(&clip(&preview.into, 100))
        )]
    } else if show_buttons {
        let execute = if drift {
            "*Execute & overwrite drift* runs `cloudformation execute-change-set`: CloudFormation deploys this change set and overwrites the drift listed above (it rolls back on failure)."
        } else {
            "*Execute* runs `cloudformation execute-change-set`: CloudFormation deploys this change set (it rolls back on failure)."
        };
        vec![execute.to_owned(), DISCARD_STEP.to_owned()]
    } else if level == Some(Level::Blocked) {
        vec![format!(
            "No buttons: blocked by the safety verdict. {}",
            blocked_next_step(stack)
        )]
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
                "{thread}/{}{}/{}/{}",
                if report.preview.is_some() {
                    "preview/"
                } else {
                    ""
                },
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

/// One line of a card's list: how many rows it stands for, how many of them destructive.
struct Item<'a> {
    line: Line<'a>,
    rows: usize,
    destructive: usize,
}

/// An item's text, rendered only if it is shown: a card lists a few hundred of thousands.
enum Line<'a> {
    Text(String),
    Destructive(Vec<&'a ResourceChangeSummary>),
    Other(Vec<&'a ResourceChangeSummary>),
}

impl Item<'_> {
    fn one(line: String) -> Self {
        Self {
            line: Line::Text(line),
            rows: 1,
            destructive: 0,
        }
    }

    fn text(&self) -> String {
        match &self.line {
            Line::Text(text) => text.clone(),
            Line::Destructive(group) => {
                let why = group[0].destructive.as_deref().unwrap_or_default();
                format!(
                    ":warning: {} — {}{}",
                    resources(group),
                    escape(&clip(why, 300)),
                    property_lines(group)
                )
            }
            Line::Other(group) => format!("• {}{}", resources(group), property_lines(group)),
        }
    }
}

/// Rows of one kind (action, type, and why destructive) shown as one line from this many on.
const GROUP_FROM: usize = 3;
/// Logical ids named on a grouped line.
const GROUP_NAMES: usize = 3;

/// The change lines, most important first: destructive, then drift, then the rest by action.
/// Three or more rows alike (same action, type and reason) become one counted line. Values
/// are clipped before they are put in code spans, so no line can be cut inside one.
fn change_lines(stack: &StackPlan) -> Vec<Item<'_>> {
    let value = |text: Option<&str>| {
        text.map(|t| code(&clip(t, 120)))
            .unwrap_or_else(|| "?".into())
    };
    let destructive: Vec<&ResourceChangeSummary> = stack
        .changes
        .iter()
        .filter(|change| change.destructive.is_some())
        .collect();
    let mut items: Vec<Item> = grouped(&destructive)
        .into_iter()
        .map(|group| Item {
            rows: group.len(),
            destructive: group.len(),
            line: Line::Destructive(group),
        })
        .collect();
    items.extend(stack.drift.iter().map(|drift| {
        let property = drift
            .property
            .as_deref()
            .map(|p| code(&clip(p, 120)))
            .unwrap_or_else(|| "(resource)".into());
        Item::one(format!(
            ":twisted_rightwards_arrows: drift {} {} {property}: actual {} · previous {}",
            escape(&clip(&drift.status, 20)),
            code(&clip_middle(&drift.logical_id, 128)),
            value(drift.actual.as_deref()),
            value(drift.previous.as_deref())
        ))
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
    // Security-relevant changes (permissions, network rules, keys) before the rest.
    rest.sort_by_key(|change| {
        (
            !is_security_relevant(&change.resource_type),
            order
                .iter()
                .position(|a| *a == change.action)
                .unwrap_or(order.len()),
        )
    });
    items.extend(grouped(&rest).into_iter().map(|group| Item {
        rows: group.len(),
        destructive: 0,
        line: Line::Other(group),
    }));
    items
}

/// Rows in their order, those alike (action, type, reason) gathered where there are enough of
/// them to group; a group stands where its first row stood.
fn grouped<'a>(rows: &[&'a ResourceChangeSummary]) -> Vec<Vec<&'a ResourceChangeSummary>> {
    let mut index: HashMap<(&str, &str, Option<&str>), usize> = HashMap::new();
    let mut groups: Vec<Vec<&ResourceChangeSummary>> = Vec::new();
    for row in rows {
        if stands_alone(row) {
            groups.push(vec![row]);
            continue;
        }
        let key = (
            row.action.as_str(),
            row.resource_type.as_str(),
            row.destructive.as_deref(),
        );
        match index.get(&key) {
            Some(&at) => groups[at].push(row),
            None => {
                index.insert(key, groups.len());
                groups.push(vec![row]);
            }
        }
    }
    // Small groups are shown row by row, in place.
    groups
        .into_iter()
        .flat_map(|group| {
            if group.len() >= GROUP_FROM {
                vec![group]
            } else {
                group.into_iter().map(|row| vec![row]).collect()
            }
        })
        .collect()
}

/// Warnings (and lines of an incomplete review) shown at the top of a card.
const WARNINGS_SHOWN: usize = 3;

/// Stacks named on one line of the thread parent.
const NAMES_PER_LINE: usize = 20;

/// Parameter values shown on a card; the comment shows them all.
const PARAMETERS_SHOWN: usize = 20;

/// Statements of a policy document shown per property.
const STATEMENTS_SHOWN: usize = 5;

/// Under a single row, its changed properties worth showing: `↳ `TopicName`: `a` → `b``, why,
/// and a policy's statements that come and go. A group shows none.
fn property_lines(group: &[&ResourceChangeSummary]) -> String {
    let [row] = group else {
        return common_property_lines(group);
    };
    let (shown, hidden) = shown_properties(row);
    let side = |value: &Option<String>| value.as_deref().map_or("—".to_owned(), code);
    let mut text = String::new();
    for property in shown {
        text.push_str(&format!(
            "\n      ↳ {}: {} → {}",
            code(&property.name),
            side(&property.before),
            side(&property.after)
        ));
        if property.forces_replacement {
            text.push_str(" _(forces replacement)_");
        }
        if let Some(because) = &property.because {
            text.push_str(&format!(" — because {}", escape(because)));
        }
        for statement in property.statements.iter().take(STATEMENTS_SHOWN) {
            text.push_str(&format!("\n            {}", code(statement)));
        }
        if property.statements.len() > STATEMENTS_SHOWN {
            text.push_str(&format!(
                "\n            …{} more statement(s)",
                property.statements.len() - STATEMENTS_SHOWN
            ));
        }
    }
    if hidden > 0 {
        text.push_str(&format!("\n      ↳ …{hidden} more changed propert(ies)"));
    }
    text
}

/// For a group, the changed properties every row shares, with the same cause: 112 secrets
/// whose `KmsKeyId` changes because one key is replaced say so once.
fn common_property_lines(group: &[&ResourceChangeSummary]) -> String {
    let Some((first, others)) = group.split_first() else {
        return String::new();
    };
    shown_properties(first)
        .0
        .into_iter()
        .filter(|shown| {
            others.iter().all(|row| {
                row.properties.iter().any(|property| {
                    property.name.as_deref() == Some(shown.name.as_str())
                        && because(property) == shown.because
                })
            })
        })
        .map(|shown| {
            let because = shown
                .because
                .as_deref()
                .map(|because| format!(" — because {}", escape(because)))
                .unwrap_or_default();
            format!("\n      ↳ {} changes on each{because}", code(&shown.name))
        })
        .collect()
}

/// `Remove `OldTopic` AWS::SNS::Topic`, or for a group
/// `30 × Remove AWS::InspectorV2::Filter (`A`, `B`, `C`, …)`.
fn resources(group: &[&ResourceChangeSummary]) -> String {
    let first = group[0];
    let action = escape(&clip(&first.action, 20));
    let kind = escape(&clip(&first.resource_type, 100));
    if group.len() == 1 {
        return format!(
            "{action} {} {kind}",
            code(&clip_middle(&first.logical_id, 128))
        );
    }
    let mut names: Vec<String> = group
        .iter()
        .take(GROUP_NAMES)
        .map(|row| code(&clip_middle(&row.logical_id, 60)))
        .collect();
    if group.len() > GROUP_NAMES {
        names.push("…".into());
    }
    format!("{} × {action} {kind} ({})", group.len(), names.join(", "))
}

/// Room kept for the header: whatever it holds, the items and the "…and N more" line follow.
const HEADER_MAX: usize = 3_000;

/// The header (capped), then as many items as fit, then "…and N more" when some did not,
/// saying how many of the hidden changes are destructive.
fn fit(
    header: Vec<String>,
    items: Vec<Item>,
    destructive_are: &str,
    where_to_see_all: &str,
) -> String {
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
    let footer_room = 80 + where_to_see_all.chars().count();
    let budget = DESCRIPTION_MAX.saturating_sub(footer_room);
    let mut items = items.into_iter().peekable();
    while let Some(item) = items.peek() {
        let line = item.text();
        let added = line.chars().count() + 1;
        if length + added > budget {
            break;
        }
        text.push_str(&line);
        text.push('\n');
        length += added;
        items.next();
    }
    let hidden: Vec<Item> = items.collect();
    if !hidden.is_empty() {
        let rows: usize = hidden.iter().map(|item| item.rows).sum();
        let destructive: usize = hidden.iter().map(|item| item.destructive).sum();
        let of_which = if destructive > 0 {
            format!(" ({destructive} {destructive_are})")
        } else {
            String::new()
        };
        text.push_str(&format!(
            "…and {rows} more{of_which}: see {where_to_see_all}"
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
        ActionCounts, ChangeSetRef, DriftedProperty, PropertyChange, sample_change as change,
        sample_report,
    };
    use crate::model::verdict::Source;

    const SHA: &str = "d3adb33fc0ffee00112233445566778899aabbcc";

    fn stack(name: &str, classification: Classification, executable: bool) -> StackPlan {
        StackPlan {
            stack: name.into(),
            region: "us-east-1".into(),
            template: format!("stacks/{name}.yaml"),
            renamed_from: None,
            classification,
            verdict: None,
            reason: None,
            warnings: vec![],
            incomplete: vec![],
            capabilities: vec![],
            parameters: vec![],
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
                deleted: false,
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

    fn finding(rule: &str, level: Level, waived: Option<&str>) -> Finding {
        Finding {
            rule: rule.into(),
            resource: Some("Table (AWS::DynamoDB::Table)".into()),
            message:
                "replaced, PolicyAction ReplaceAndDelete: the old table and its data are deleted"
                    .into(),
            source: Source::Builtin,
            level,
            waived: waived.map(str::to_owned),
        }
    }

    #[test]
    fn the_verdict_leads_the_card_and_marks_the_parent() {
        let mut reviewed = stack("app", Classification::Changes, true);
        reviewed.warnings = vec!["[WARN] something".into()];
        reviewed.verdict = Some(Verdict::new(
            vec![
                finding("data-loss", Level::Review, None),
                finding("iam-broadened", Level::Review, Some("break-glass role")),
            ],
            7,
            vec![],
        ));
        let mut fine = stack("web", Classification::Changes, true);
        fine.verdict = Some(Verdict::new(vec![], 9, vec![]));
        let mut blocked = stack("db", Classification::Blocked, false);
        blocked.reason = Some(crate::model::verdict::BLOCKED_BY_VERDICT.into());
        blocked.verdict = Some(Verdict::new(
            vec![finding("data-loss", Level::Blocked, None)],
            7,
            vec![],
        ));
        let cards = plan_cards(&report(vec![reviewed, fine, blocked]), &Links::default());
        let lines: Vec<&str> = cards[1].content.description.lines().collect();
        assert_eq!(
            lines[0],
            ":warning: *Review:* data-loss — Table (AWS::DynamoDB::Table): replaced, PolicyAction ReplaceAndDelete: the old table and its data are deleted",
            "the verdict before CloudFormation's warnings"
        );
        assert!(
            lines[1].starts_with(":warning: *CloudFormation warns:*"),
            "what counts before what does not"
        );
        assert_eq!(
            lines[2],
            ":memo: *Waived:* iam-broadened — Table (AWS::DynamoDB::Table): replaced, PolicyAction ReplaceAndDelete: the old table and its data are deleted (waived: break-glass role)"
        );
        assert!(cards[1].content.title.starts_with(":warning: app"));
        assert_eq!(
            cards[1].metadata.additional_context[ACTION_GROUP], GROUP_CHANGE_SET,
            "review keeps the buttons"
        );
        assert_eq!(
            cards[2].content.description.lines().next(),
            Some(":white_check_mark: No risks found by 9 rules")
        );
        let blocked = &cards[3];
        assert!(
            blocked.content.title.starts_with(":no_entry: db"),
            "{}",
            blocked.content.title
        );
        assert!(
            blocked
                .content
                .description
                .starts_with(":no_entry: *Blocked:* data-loss")
        );
        assert_eq!(
            blocked.metadata.additional_context[ACTION_GROUP],
            GROUP_INFO
        );
        assert!(
            blocked.content.next_steps[0].starts_with("No buttons: blocked by the safety verdict.")
        );
        let parent = &cards[0].content.description;
        assert!(
            parent.contains("`app` (us-east-1) changes +1 ~0 -0 :warning: review"),
            "{parent}"
        );
        assert!(
            parent.contains("`web` (us-east-1) changes +1 ~0 -0 :white_check_mark: no risks found"),
            "{parent}"
        );
        assert!(
            parent.contains("`db` (us-east-1) blocked: blocked by the safety verdict"),
            "{parent}"
        );
        assert!(
            !blocked.content.description.contains("*Reason*"),
            "the reasons are the verdict's, said once"
        );
    }

    #[test]
    fn what_a_card_cuts_from_the_verdict_is_counted_and_what_was_not_checked_is_said() {
        let mut waived = stack("app", Classification::Changes, true);
        let mut findings: Vec<Finding> = (0..5)
            .map(|i| finding(&format!("rule-{i}"), Level::Review, Some("accepted")))
            .collect();
        findings.extend((0..4).map(|i| Finding {
            message: format!(
                "replaced; the old bucket {i} is retained (PolicyAction ReplaceAndRetain)"
            ),
            ..finding("data-loss", Level::Ok, None)
        }));
        waived.verdict = Some(Verdict::new(
            findings,
            7,
            vec!["CloudFormation Hook results: not offered by this endpoint".into()],
        ));
        let cards = plan_cards(&report(vec![waived]), &Links::default());
        let lines: Vec<&str> = cards[1].content.description.lines().collect();
        assert_eq!(
            lines[0],
            ":white_check_mark: No risks left by 7 rules: 5 waived"
        );
        assert_eq!(
            lines[1],
            ":grey_question: *Not checked:* CloudFormation Hook results: not offered by this endpoint"
        );
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with(":memo: *Waived:*"))
                .count(),
            3
        );
        assert!(lines.contains(&":memo: …and 2 more waived"), "{lines:#?}");
        assert!(
            lines.contains(&":information_source: data-loss — Table (AWS::DynamoDB::Table): replaced; the old bucket 0 is retained (PolicyAction ReplaceAndRetain)"),
            "remarks are said: {lines:#?}"
        );
        assert!(
            lines.contains(&":information_source: …and 1 more"),
            "{lines:#?}"
        );
        let parent = &cards[0].content.description;
        assert!(
            parent.contains(
                ":white_check_mark: no risks left (waived) :grey_question: not all checked"
            ),
            "{parent}"
        );
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
        // Many warnings: a few on the card, the count of the rest, and what the bot decided
        // still in the header.
        let mut noisy = stack("app", Classification::Changes, true);
        noisy.warnings = (0..5)
            .map(|i| format!("[WARN] {i} {}", "x".repeat(900)))
            .collect();
        noisy.capabilities = vec!["CAPABILITY_IAM".into()];
        let card = &plan_cards(&report(vec![noisy]), &Links::default())[1];
        let text = &card.content.description;
        assert_eq!(text.matches("*CloudFormation warns:*").count(), 3, "{text}");
        assert!(
            text.contains(":warning: …and 2 more warning(s): see the Backlog pull request comment"),
            "{text}"
        );
        assert!(text.contains("*Acknowledges* `CAPABILITY_IAM`"), "{text}");
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

    #[test]
    fn cards_show_the_change_not_only_the_resource() {
        // A change set recorded against AWS: TopicName forces a replacement; DisplayName of the
        // other topic is known only after apply.
        let path = format!(
            "{}/tests/fixtures/cloudformation/localstack-modify-replace-and-delete-sns-prop-values.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let description = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let assessment = crate::core::classify::classify(&description);
        let mut topics = stack("topics", Classification::Changes, true);
        topics.changes = assessment.changes;
        let card = &plan_cards(&report(vec![topics]), &Links::default())[1];
        let lines: Vec<_> = card.content.description.lines().collect();
        let replaced = lines
            .iter()
            .position(|l| l.starts_with(":warning: Modify `Topic1`"))
            .unwrap();
        assert_eq!(
            lines[replaced + 1],
            "      ↳ `TopicName`: `topic-name-1` → `updated-topic-name-1` _(forces replacement)_"
        );
        assert_eq!(
            lines[replaced + 2],
            "      ↳ `DisplayName`: `value` → `new_value`"
        );
        assert!(
            lines.iter().any(|l| l.contains("→ `known after apply`")),
            "{lines:#?}"
        );

        // IAM first among the rest, with its statements; a group says what its rows share.
        let mut policy = change("Modify", "WorkerPolicy", None);
        policy.resource_type = "AWS::IAM::Policy".into();
        policy.properties = vec![PropertyChange {
            attribute: "Properties".into(),
            name: Some("PolicyDocument".into()),
            requires_recreation: Some("Never".into()),
            change_source: Some("DirectModification".into()),
            causing_entity: None,
            before: Some(r#"{"Statement":[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"arn:aws:sqs:us-east-1:1:orders"}]}"#.into()),
            after: Some(r#"{"Statement":[{"Effect":"Allow","Action":"sqs:*","Resource":"*"}]}"#.into()),
        }];
        let secret = |i: usize| {
            let mut row = change("Modify", &format!("Secret{i}"), None);
            row.resource_type = "AWS::SecretsManager::Secret".into();
            row.properties = vec![PropertyChange {
                attribute: "Properties".into(),
                name: Some("KmsKeyId".into()),
                requires_recreation: Some("Never".into()),
                change_source: Some("ResourceAttribute".into()),
                causing_entity: Some("Key.Arn".into()),
                before: Some(format!("k{i}")),
                after: Some("known".into()),
            }];
            row
        };
        let mut mixed = stack("mixed", Classification::Changes, true);
        mixed.changes = vec![
            change("Add", "Queue", None),
            secret(0),
            secret(1),
            secret(2),
            policy,
        ];
        let card = &plan_cards(&report(vec![mixed]), &Links::default())[1];
        let text = &card.content.description;
        let order: Vec<_> = ["Modify `WorkerPolicy`", "3 × Modify", "Add `Queue`"]
            .iter()
            .map(|needle| {
                text.find(needle)
                    .unwrap_or_else(|| panic!("{needle}: {text}"))
            })
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(text.contains("            `+ Allow sqs:* on *`"), "{text}");
        assert!(
            text.contains(
                "            `- Allow sqs:SendMessage on arn:aws:sqs:us-east-1:1:orders`"
            ),
            "{text}"
        );
        assert!(
            text.contains("      ↳ `KmsKeyId` changes on each — because Key.Arn changes"),
            "{text}"
        );
    }

    #[test]
    fn policy_changes_are_never_folded_into_a_group() {
        let policy = |i: usize| {
            let mut row = change("Modify", &format!("Policy{i}"), None);
            row.resource_type = "AWS::IAM::Policy".into();
            row.properties = vec![PropertyChange {
                attribute: "Properties".into(),
                name: Some("PolicyDocument".into()),
                requires_recreation: Some("Never".into()),
                change_source: Some("DirectModification".into()),
                causing_entity: None,
                before: Some(r#"{"Statement":[]}"#.into()),
                after: Some(format!(
                    r#"{{"Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b{i}/*"}}]}}"#
                )),
            }];
            row
        };
        let mut policies = stack("policies", Classification::Changes, true);
        policies.changes = (0..3).map(policy).collect();
        let card = &plan_cards(&report(vec![policies]), &Links::default())[1];
        let text = &card.content.description;
        assert!(!text.contains(" × "), "{text}");
        for i in 0..3 {
            assert!(
                text.contains(&format!("`+ Allow s3:GetObject on arn:aws:s3:::b{i}/*`")),
                "{text}"
            );
        }
    }

    #[test]
    fn the_same_refusal_for_many_stacks_is_said_once() {
        let refused = "Stack is in UPDATE_ROLLBACK_FAILED state and can not be updated.";
        let mut stacks: Vec<StackPlan> = ["a", "b", "c"]
            .iter()
            .map(|name| {
                let mut plan = stack(name, Classification::Blocked, false);
                plan.change_set = None;
                plan.reason = Some(refused.into());
                plan
            })
            .collect();
        stacks.push(stack("d", Classification::Changes, true));
        let parent = &plan_cards(&report(stacks), &Links::default())[0];
        let text = &parent.content.description;
        assert_eq!(text.matches(refused).count(), 1, "{text}");
        assert!(
            text.contains(&format!(
                "• `a` (us-east-1), `b` (us-east-1), `c` (us-east-1) blocked: {refused}"
            )),
            "{text}"
        );
        assert!(
            text.contains("• `d` (us-east-1) changes +1 ~0 -0"),
            "{text}"
        );
    }

    #[test]
    fn a_renamed_template_says_it_creates_a_second_stack_and_supersession_is_said() {
        let mut renamed = stack("app-v2", Classification::Changes, true);
        if let Some(change_set) = renamed.change_set.as_mut() {
            change_set.change_set_type = "CREATE".into();
        }
        renamed.renamed_from = Some("stacks/app.yaml".into());
        renamed.superseded = vec!["cfn-chatops-7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b".into()];
        let card = &plan_cards(&report(vec![renamed]), &Links::default())[1];
        let text = &card.content.description;
        assert!(
            text.contains("*New stack* `app-v2` will be created"),
            "{text}"
        );
        assert!(
            text.contains(":warning: Renamed from `stacks/app.yaml`: this creates a new stack with new resources; the stack of the old name keeps its own"),
            "{text}"
        );
        assert!(
            text.contains("*Supersedes* `cfn-chatops-7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b` (deleted: its card's buttons no longer work)"),
            "{text}"
        );
    }

    #[test]
    fn a_preview_has_no_buttons_and_its_own_ids_in_the_pull_requests_thread() {
        let changes = stack("app", Classification::Changes, true);
        let mut fresh = StackPlan::new("fresh", "us-east-1", "fresh.yaml", Classification::Changes);
        fresh.changes = vec![change("Add", "Topic", None)];
        let merge_plan = report(vec![changes.clone()]);
        let mut preview = report(vec![changes, fresh]);
        preview.preview = Some(crate::model::report::Preview {
            into: "main".into(),
            slack: crate::model::report::PreviewSlack::All,
            withheld: None,
            slack_quiet: false,
        });
        let cards = plan_cards(&preview, &Links::default());
        assert_eq!(
            cards.len(),
            3,
            "the parent, the existing stack and the new one"
        );
        assert!(
            cards[0]
                .content
                .title
                .starts_with(":mag: CloudFormation preview for")
        );
        for card in &cards {
            assert!(!card.metadata.enable_custom_actions, "{card:?}");
            assert_eq!(card.metadata.additional_context[ACTION_GROUP], GROUP_INFO);
            assert_eq!(card.metadata.thread_id, thread_id(&preview));
        }
        assert!(
            cards[1].content.next_steps[0].starts_with("No buttons: a preview before the merge.")
        );
        let plan_ids: Vec<String> = plan_cards(&merge_plan, &Links::default())
            .into_iter()
            .map(|card| card.id)
            .collect();
        assert!(
            cards.iter().all(|card| !plan_ids.contains(&card.id)),
            "{plan_ids:?}"
        );
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
            .map(|i| {
                let mut row = change("Add", &format!("Topic{i}"), None);
                // Distinct types, so nothing groups.
                row.resource_type = format!("AWS::SNS::Topic{i}");
                row
            })
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
    fn rows_alike_are_one_counted_line_and_a_cut_card_counts_what_it_hides() {
        let mut filters = stack("filters", Classification::Changes, true);
        let long_id = |i: usize| format!("InspectorFiltersSuppressCVE{}{i:04}", "X".repeat(110));
        filters.changes = (0..30)
            .map(|i| change("Remove", &long_id(i), Some("removed")))
            .collect();
        filters.changes.push(change("Add", "Queue", None));
        let card = &plan_cards(&report(vec![filters.clone()]), &Links::default())[1];
        let lines: Vec<_> = card.content.description.lines().collect();
        let grouped = lines.iter().find(|l| l.contains(" × ")).unwrap();
        assert!(
            grouped.starts_with(":warning: 30 × Remove AWS::SNS::Topic (`InspectorFilters"),
            "{grouped}"
        );
        // Logical ids are clipped in the middle: the distinguishing end survives.
        assert!(
            grouped.contains("0000`") && grouped.contains("0001`"),
            "{grouped}"
        );
        assert!(grouped.ends_with("…) — removed"), "{grouped}");
        assert!(lines.contains(&"• Add `Queue` AWS::SNS::Topic"));

        // Cut: distinct destructive rows past the limit are counted as such, and without a
        // pull request the card points at the command, not at a comment that does not exist.
        filters.changes = (0..400)
            .map(|i| {
                let mut row = change("Remove", &long_id(i), Some("removed"));
                row.resource_type = format!("AWS::Inspector{i}::Filter");
                row
            })
            .collect();
        let mut direct = report(vec![filters]);
        direct.pr = None;
        let card = &plan_cards(&direct, &Links::default())[1];
        let description = &card.content.description;
        let shown = description
            .lines()
            .filter(|l| l.starts_with(":warning: "))
            .count();
        let footer = description.lines().last().unwrap();
        assert!(
            footer.starts_with(&format!(
                "…and {} more ({} destructive): see the text report of `cfn-chatops plan` in the build log or `aws cloudformation describe-change-set",
                400 - shown,
                400 - shown
            )),
            "{footer}"
        );
        assert!(!description.contains("pull request comment"), "{footer}");
        let parent = &plan_cards(&direct, &Links::default())[0];
        assert!(!parent.content.description.contains("pull request comment"));
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
                            // Some rows alike (grouped), most not (so large stacks are cut).
                            row.resource_type = format!("{kind}{}", i % 50);
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
            let cards = plan_cards(&plan, &links);
            // The parent, then one card per stack with a change set, in the report's order.
            let mut stacks = vec![None];
            stacks.extend(plan.stacks.iter().filter(|s| s.change_set.is_some()).map(Some));
            prop_assert_eq!(cards.len(), stacks.len());
            for (card, stack) in cards.iter().zip(stacks) {
                prop_assert_eq!(card.problems(), Vec::<String>::new());
                if let Some(stack) = stack {
                    let description = &card.content.description;
                    // Destructive rows come before any other change, and none goes uncounted:
                    // shown (a grouped line counts its rows) plus hidden is the total.
                    let items: Vec<&str> = description
                        .lines()
                        .filter(|l| l.starts_with(":warning: ") || l.starts_with("• "))
                        .collect();
                    let first_other = items.iter().position(|l| l.starts_with("• "));
                    let last_destructive = items.iter().rposition(|l| l.starts_with(":warning: "));
                    if let (Some(other), Some(destructive)) = (first_other, last_destructive) {
                        prop_assert!(destructive < other, "{}", card.id);
                    }
                    let shown: usize = items
                        .iter()
                        .filter_map(|l| l.strip_prefix(":warning: "))
                        .map(|rest| {
                            rest.split_once(" × ")
                                .and_then(|(n, _)| n.parse().ok())
                                .unwrap_or(1)
                        })
                        .sum();
                    let footer = description.lines().last().unwrap_or_default();
                    let hidden: usize = footer
                        .strip_prefix("…and ")
                        .and_then(|rest| rest.split_once(" destructive)"))
                        .and_then(|(head, _)| head.rsplit_once('(')?.1.parse().ok())
                        .unwrap_or(0);
                    prop_assert_eq!(shown + hidden, stack.destructive_count(), "{}", card.id);
                    if footer.starts_with("…and ") {
                        prop_assert!(footer.contains(" more"), "{}", footer);
                    }
                }
                let json = serde_json::to_string(card).unwrap();
                let back: Notification = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(&back, card);
                prop_assert!(json.len() < 256 * 1024);
            }
        }
    }
}
