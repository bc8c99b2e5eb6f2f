//! The real `cfn-chatops` binary as a child process, its JSON log collected line by line.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

pub const BINARY: &str = env!("CARGO_BIN_EXE_cfn-chatops");

pub struct Bot {
    child: Child,
    pub base: String,
    logs: Arc<Mutex<Vec<String>>>,
}

/// A hermetic command: only PATH and the given variables reach the child.
pub fn command(args: &[&str], env: &[(String, String)]) -> Command {
    command_of(std::path::Path::new(BINARY), args, env)
}

fn command_of(program: &std::path::Path, args: &[&str], env: &[(String, String)]) -> Command {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)));
    command
}

impl Bot {
    /// `cfn-chatops serve` on a free port; waits until it logs where it listens.
    pub fn serve(env: &[(String, String)]) -> Bot {
        Self::serve_from(std::path::Path::new(BINARY), env)
    }

    /// [`Bot::serve`], run from a copy of the binary at `program`.
    pub fn serve_from(program: &std::path::Path, env: &[(String, String)]) -> Bot {
        Self::start_program(
            program,
            &["serve", "--addr", "127.0.0.1:0", "--log-format", "json"],
            env,
            true,
        )
    }

    /// The binary with no arguments, as Lambda starts it (`AWS_LAMBDA_RUNTIME_API` in `env`).
    pub fn lambda(env: &[(String, String)]) -> Bot {
        Self::start(&[], env, false)
    }

    fn start(args: &[&str], env: &[(String, String)], listens: bool) -> Bot {
        Self::start_program(std::path::Path::new(BINARY), args, env, listens)
    }

    fn start_program(
        program: &std::path::Path,
        args: &[&str],
        env: &[(String, String)],
        listens: bool,
    ) -> Bot {
        let mut child = command_of(program, args, env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cfn-chatops");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(entry) = serde_json::from_str::<Value>(&line)
                    && entry["message"] == "listening"
                {
                    let _ = addr_tx.send(entry["addr"].as_str().unwrap_or_default().to_owned());
                }
                sink.lock().unwrap().push(line);
            }
        });
        if !listens {
            return Bot {
                child,
                base: String::new(),
                logs,
            };
        }
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                let status = child.try_wait();
                panic!(
                    "cfn-chatops serve did not start ({status:?}): {:#?}",
                    logs.lock().unwrap()
                )
            });
        Bot {
            child,
            base: format!("http://{addr}"),
            logs,
        }
    }

    pub fn webhook_url(&self, secret: &str) -> String {
        format!("{}/webhook/{secret}", self.base)
    }

    /// Posts a webhook delivery to `/webhook/{SECRET}`: the status and the JSON answer.
    pub async fn deliver(&self, content_type: &str, body: String) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(self.webhook_url(super::SECRET))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// [`Bot::deliver`], which must be answered 200: the answer.
    pub async fn deliver_ok(&self, content_type: &str, body: String) -> Value {
        let (status, answer) = self.deliver(content_type, body).await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Parsed log entries whose message is `message`.
    pub fn log_entries(&self, message: &str) -> Vec<Value> {
        self.log_lines()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|entry| entry["message"] == message)
            .collect()
    }

    /// Waits (polling the collected log, up to `timeout`) for an entry with `message`.
    pub async fn wait_for_log(&self, message: &str, timeout: Duration) -> Value {
        self.wait_for_logs(message, 1, timeout).await.remove(0)
    }

    /// Waits until `count` entries with `message` were logged; the log is read by another
    /// thread, so a line written just before an answer can arrive just after it.
    pub async fn wait_for_logs(
        &self,
        message: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pause = Duration::from_millis(10);
        loop {
            let entries = self.log_entries(message);
            if entries.len() >= count {
                return entries;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{count} log entries {message:?} within {timeout:?}: {:#?}",
                self.log_lines()
            );
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }
}

impl Bot {
    /// Sends SIGTERM, as a service manager stops it.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits up to `timeout` for the process to exit; its exit status, or `None` if it still runs.
    pub async fn exited_within(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
