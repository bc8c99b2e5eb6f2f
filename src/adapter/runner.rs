//! Where a plan runs: a CodeBuild build (on AWS) or a local child process (development and
//! self-hosting). Both hand `cfn-chatops plan` the same inputs, named in [`plan_inputs`].

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;

use aws_sdk_codebuild::error::DisplayErrorContext;
use aws_sdk_codebuild::types::{EnvironmentVariable, EnvironmentVariableType};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::Notify;

use crate::model::trigger::{DeliveryKey, Trigger};

/// Environment names of the plan inputs. `cfn-chatops plan` reads the same names, so a
/// CodeBuild buildspec passes nothing on the command line.
pub mod env {
    pub const PROJECT: &str = "CFN_CHATOPS_PROJECT";
    pub const REPOSITORY: &str = "CFN_CHATOPS_REPOSITORY";
    pub const BRANCH: &str = "CFN_CHATOPS_BRANCH";
    pub const BEFORE: &str = "CFN_CHATOPS_BEFORE";
    pub const AFTER: &str = "CFN_CHATOPS_AFTER";
    pub const FIRST_REVISION: &str = "CFN_CHATOPS_FIRST_REVISION";
    pub const PR: &str = "CFN_CHATOPS_PR";
    pub const PREVIEW_INTO: &str = "CFN_CHATOPS_PREVIEW_INTO";
}

/// One input of a plan run: its environment name, its flag, its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanInput {
    pub env: &'static str,
    pub flag: &'static str,
    pub value: String,
}

/// The inputs a plan run gets for a trigger. Absent optional values are left out.
pub fn plan_inputs(trigger: &Trigger) -> Vec<PlanInput> {
    let input = |env, flag, value: &str| PlanInput {
        env,
        flag,
        value: value.to_owned(),
    };
    let mut inputs = vec![
        input(env::PROJECT, "--project", &trigger.project_key),
        input(env::REPOSITORY, "--repository", &trigger.repository),
        input(env::BRANCH, "--branch", &trigger.branch),
    ];
    match (
        &trigger.preview_into,
        &trigger.before,
        trigger.revisions.first(),
    ) {
        // A preview diffs from the merge base of the target branch and the head.
        (Some(into), _, _) => inputs.push(input(env::PREVIEW_INTO, "--preview-into", into)),
        (None, Some(before), _) => inputs.push(input(env::BEFORE, "--before", before)),
        // Without "before", the plan diffs from the parent of the oldest pushed revision.
        (None, None, Some(oldest)) => {
            inputs.push(input(env::FIRST_REVISION, "--first-revision", &oldest.id))
        }
        (None, None, None) => {}
    }
    inputs.push(input(env::AFTER, "--after", &trigger.after));
    if let Some(pr) = trigger.pr_number {
        inputs.push(input(env::PR, "--pr", &pr.to_string()));
    }
    inputs
}

/// CodeBuild keeps an idempotency token for 5 minutes: a retried StartBuild for the same
/// delivery within that time returns the first build instead of starting a second.
pub fn idempotency_token(key: &DeliveryKey) -> String {
    Sha256::digest(key.as_str().as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Why a runner could not start a plan.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("CodeBuild environment variable {name}: {detail}")]
    Variable { name: &'static str, detail: String },
    #[error("CodeBuild StartBuild on project {project}: {detail}")]
    StartBuild { project: String, detail: String },
    #[error("local clone {} is not a git repository", .0.display())]
    NotARepository(PathBuf),
    #[error("plan program {} cannot be run (moved, deleted or not executable)", .0.display())]
    ProgramMissing(PathBuf),
}

/// What a dispatch started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatched {
    pub build_id: Option<String>,
}

pub enum Runner {
    CodeBuild(CodeBuildRunner),
    Local(Arc<LocalRunner>),
}

impl Runner {
    pub fn name(&self) -> &'static str {
        match self {
            Runner::CodeBuild(_) => "codebuild",
            Runner::Local(_) => "local",
        }
    }
}

pub struct CodeBuildRunner {
    client: aws_sdk_codebuild::Client,
    project: String,
}

impl CodeBuildRunner {
    pub fn new(client: aws_sdk_codebuild::Client, project: impl Into<String>) -> Self {
        Self {
            client,
            project: project.into(),
        }
    }

    pub async fn dispatch(&self, trigger: &Trigger) -> Result<Dispatched, DispatchError> {
        let variables = plan_inputs(trigger)
            .into_iter()
            .map(|input| {
                EnvironmentVariable::builder()
                    .name(input.env)
                    .value(input.value)
                    .r#type(EnvironmentVariableType::Plaintext)
                    .build()
                    .map_err(|err| DispatchError::Variable {
                        name: input.env,
                        detail: err.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let output = self
            .client
            .start_build()
            .project_name(&self.project)
            .idempotency_token(idempotency_token(&trigger.delivery_key()))
            .set_environment_variables_override(Some(variables))
            .send()
            .await
            .map_err(|err| DispatchError::StartBuild {
                project: self.project.clone(),
                detail: DisplayErrorContext(err).to_string(),
            })?;
        Ok(Dispatched {
            build_id: output.build_value.and_then(|build| build.id),
        })
    }
}

/// How a local plan run ended.
#[derive(Debug)]
pub enum LocalRun {
    /// The child exited (or was killed by someone else).
    Exited(ExitStatus),
    /// Asked to stop before the child exited: it was killed.
    Stopped,
    /// The child could not be started, or not waited for: it may run again.
    NotStarted(std::io::Error),
}

/// Runs `cfn-chatops plan` on a local clone as a child process, with its output in this
/// process's log. Which plans run, and when, the caller decides (its queue is in the ledger);
/// [`LocalRunner::queued`] wakes it when a plan is queued.
pub struct LocalRunner {
    program: PathBuf,
    clone: PathBuf,
    queued: Notify,
}

impl LocalRunner {
    pub fn new(program: PathBuf, clone: PathBuf) -> Self {
        Self {
            program,
            clone,
            queued: Notify::new(),
        }
    }

    /// Whether a plan can start here now: answered "dispatched" only then (an upgrade that
    /// moved the binary is a 503, and the claim is given up for the sender's retry).
    pub fn check(&self) -> Result<(), DispatchError> {
        if !self.clone.join(".git").exists() {
            return Err(DispatchError::NotARepository(self.clone.clone()));
        }
        if !is_executable(&self.program) {
            return Err(DispatchError::ProgramMissing(self.program.clone()));
        }
        Ok(())
    }

    /// The arguments of a trigger's plan, after `plan --repo CLONE`.
    pub fn arguments(trigger: &Trigger) -> Vec<String> {
        plan_inputs(trigger)
            .into_iter()
            .flat_map(|input| [input.flag.to_owned(), input.value])
            .collect()
    }

    /// Tells the one waiting in [`LocalRunner::wait_for_queued`] that a plan was queued (or,
    /// if none waits, the next one to wait).
    pub fn queued(&self) {
        self.queued.notify_one();
    }

    /// Returns once [`LocalRunner::queued`] was called since the last return.
    pub async fn wait_for_queued(&self) {
        self.queued.notified().await;
    }

    /// Runs one plan to its end, or until `stop` resolves (then the child is killed).
    pub async fn run(
        &self,
        delivery: &str,
        arguments: &[String],
        stop: impl Future<Output = ()>,
    ) -> LocalRun {
        let mut command = Command::new(&self.program);
        command
            .arg("plan")
            .arg("--repo")
            .arg(&self.clone)
            .args(arguments)
            // The plan has no use for the webhook secret, and its output goes to the log.
            .env_remove("CFN_CHATOPS_WEBHOOK_SECRET")
            // Its own process group: a Ctrl-C at the server's terminal stops the server, which
            // then drains the plan, rather than killing the plan at once.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        die_with_server(&mut command);
        let args = format!("{:?}", command.as_std());
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) => return LocalRun::NotStarted(err),
        };
        let pid = child.id();
        tracing::info!(delivery, args, pid, "local plan started");
        let stdout = child
            .stdout
            .take()
            .map(|out| log_lines(out, delivery, "stdout"));
        let stderr = child
            .stderr
            .take()
            .map(|err| log_lines(err, delivery, "stderr"));
        let ran = async {
            if let (Some(stdout), Some(stderr)) = (stdout, stderr) {
                tokio::join!(stdout, stderr);
            }
            child.wait().await
        };
        let ended = tokio::select! {
            ended = ran => ended,
            () = stop => {
                // The plan's own children (git) too: they would work on the clone beside the
                // re-run.
                if let Some(pid) = pid {
                    kill_process_group(pid);
                }
                tracing::warn!(delivery, "local plan stopped: it runs again at the next start");
                return LocalRun::Stopped;
            }
        };
        match ended {
            Ok(status) => LocalRun::Exited(status),
            Err(err) => LocalRun::NotStarted(err),
        }
    }
}

/// A plan outliving a killed server would run beside its re-run at the next start: the child
/// is killed when the thread that started it ends, a runtime worker that lives as long as the
/// server (so a plan must never be started from `block_in_place` or a blocking thread).
#[cfg(target_os = "linux")]
fn die_with_server(command: &mut Command) {
    let server = std::process::id();
    // SAFETY: between fork and exec the closure makes only async-signal-safe system calls.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The server died before the call above: no signal will come.
            if u32::try_from(libc::getppid()).ok() != Some(server) {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_server(_command: &mut Command) {}

/// Kills the process group a plan leads (it was started as its own group).
#[cfg(target_os = "linux")]
fn kill_process_group(leader: u32) {
    if let Ok(group) = libc::pid_t::try_from(leader) {
        // SAFETY: kill only sends a signal; a negative pid names the plan's own group.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn kill_process_group(_leader: u32) {}

#[cfg(unix)]
fn is_executable(program: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(program)
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(program: &std::path::Path) -> bool {
    program.is_file()
}

async fn log_lines(stream: impl AsyncRead + Unpin, delivery: &str, name: &'static str) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(target: "cfn_chatops::plan", delivery, stream = name, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::trigger::Revision;

    fn trigger() -> Trigger {
        Trigger {
            project_key: "INFRA".into(),
            repository: "cfn-templates".into(),
            branch: "main".into(),
            before: None,
            after: "d3adb33fc0ffee00112233445566778899aabbcc".into(),
            revisions: vec![Revision {
                id: "7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b".into(),
                message: "Raise worker Lambda timeout".into(),
                author: None,
            }],
            pr_number: Some(57),
            actor: None,
            preview_into: None,
        }
    }

    #[test]
    fn plan_inputs_leave_out_what_is_unknown() {
        let inputs = plan_inputs(&trigger());
        let names: Vec<_> = inputs.iter().map(|input| input.env).collect();
        assert_eq!(
            names,
            [
                env::PROJECT,
                env::REPOSITORY,
                env::BRANCH,
                env::FIRST_REVISION,
                env::AFTER,
                env::PR
            ]
        );
        assert_eq!(inputs.last().unwrap().value, "57");
        let mut with_before = trigger();
        with_before.before = Some("4b1f0c2d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c".into());
        let names: Vec<_> = plan_inputs(&with_before).iter().map(|i| i.env).collect();
        assert!(names.contains(&env::BEFORE) && !names.contains(&env::FIRST_REVISION));
        // A preview passes the branch it merges into, and no push range.
        let mut preview = with_before;
        preview.branch = "feature/a b;c".into();
        preview.preview_into = Some("main".into());
        let inputs = plan_inputs(&preview);
        let names: Vec<_> = inputs.iter().map(|i| i.env).collect();
        assert_eq!(
            names,
            [
                env::PROJECT,
                env::REPOSITORY,
                env::BRANCH,
                env::PREVIEW_INTO,
                env::AFTER,
                env::PR
            ]
        );
        assert_eq!(inputs[2].value, "feature/a b;c");
    }

    #[test]
    fn idempotency_token_is_the_sha256_of_the_delivery_key() {
        let token = idempotency_token(&trigger().delivery_key());
        assert_eq!(token.len(), 64);
        assert_eq!(token, idempotency_token(&trigger().delivery_key()));
        let mut other = trigger();
        other.after = "7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b".into();
        assert_ne!(token, idempotency_token(&other.delivery_key()));
    }

    #[cfg(unix)]
    #[test]
    fn only_an_executable_file_is_a_plan_program() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("cfn-chatops-runner-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let program = dir.join("plan");
        assert!(!is_executable(&program), "missing");
        std::fs::write(&program, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(!is_executable(&program), "not executable");
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(is_executable(&program));
        assert!(!is_executable(&dir), "a folder");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
