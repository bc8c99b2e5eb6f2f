"""The bot's main job, run on this machine: moto as the AWS account, a sample repository made
with git, a Backlog Git webhook (form-encoded, as Backlog sends it) delivered to `cfn-chatops
serve`, and the plan run by the local runner. Everything it starts is stopped when it ends,
also on Ctrl-C.

Usage: scripts/demo (which builds the binary and installs the tools first).
"""

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.dirname(sys.executable)
TABLE = "cfn-chatops-ledger"
PROJECT, REPOSITORY = "DEMO", "cfn-templates"
SPACE = "https://example-space.backlog.com"


def say(label, text=""):
    print(f"{label:<24}{text}", flush=True)


def stop_on_signals():
    def interrupt(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)


def start_moto():
    # The launcher stops moto when its stdin closes, i.e. when this process ends.
    moto = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tests/support/moto_server.py")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    port = int(moto.stdout.readline())
    return moto, f"http://127.0.0.1:{port}"


def aws(endpoint, *args):
    result = subprocess.run(
        [os.path.join(VENV_BIN, "aws"), "--endpoint-url", endpoint, "--output", "json", *args],
        check=True, capture_output=True, text=True, env=aws_env(endpoint),
    )
    return json.loads(result.stdout) if result.stdout.strip() else None


def aws_env(endpoint):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def git(repo, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="Aiko Tanaka", GIT_AUTHOR_EMAIL="aiko@example.com",
               GIT_COMMITTER_NAME="Aiko Tanaka", GIT_COMMITTER_EMAIL="aiko@example.com")
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def sample_repository(workdir):
    repo = os.path.join(workdir, REPOSITORY)
    os.makedirs(repo)
    git(repo, "init", "-q", "-b", "main")
    with open(os.path.join(repo, "README.md"), "w") as readme:
        readme.write("CloudFormation templates\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Initial commit")
    before = git(repo, "rev-parse", "HEAD")
    shutil.copytree(os.path.join(ROOT, "examples/cfn-templates/stacks"), os.path.join(repo, "stacks"))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add alarms stack")
    return repo, before, git(repo, "rev-parse", "HEAD")


def git_webhook(before, after, ref="refs/heads/main"):
    """The per-repository Git webhook body, as Backlog posts it (reference backlog.md §3)."""
    url = f"{SPACE}/git/{PROJECT}/{REPOSITORY}"
    payload = {
        "before": before, "after": after, "ref": ref,
        "repository": {"url": url, "name": REPOSITORY, "description": None},
        "revisions": [{
            "id": after, "url": f"{url}/commit/{after}",
            "author": {"name": "Aiko Tanaka", "email": "aiko@example.com"},
            "message": "Add alarms stack", "timestamp": "2026-11-23T14:05:11+09:00",
            "added": ["stacks/alarms.yaml"],
        }],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


class Bot:
    def __init__(self, binary, env, args):
        self.entries, self.ready = [], threading.Event()
        self.process = subprocess.Popen(
            [binary, "serve", "--addr", "127.0.0.1:0", "--log-format", "json", *args],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(30):
            raise SystemExit("cfn-chatops serve did not start")

    def _read(self):
        for line in self.process.stderr:
            try:
                entry = json.loads(line)
            except ValueError:
                entry = {"message": line.rstrip()}
            self.entries.append(entry)
            if entry.get("message") == "listening":
                self.addr = entry["addr"]
                self.ready.set()

    def wait_for(self, messages, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.entries:
                if entry.get("message") in messages:
                    return entry
            time.sleep(0.05)
        return None

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def post(url, body, content_type="application/x-www-form-urlencoded"):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def main(binary):
    stop_on_signals()
    workdir = tempfile.mkdtemp(prefix="cfn-chatops-demo-")
    moto = bot = None
    try:
        moto, endpoint = start_moto()
        say("AWS (moto)", f"{endpoint}  (python -m moto, loopback only)")
        aws(endpoint, "dynamodb", "create-table", "--table-name", TABLE,
            "--attribute-definitions", "AttributeName=pk,AttributeType=S", "AttributeName=sk,AttributeType=S",
            "--key-schema", "AttributeName=pk,KeyType=HASH", "AttributeName=sk,KeyType=RANGE",
            "--billing-mode", "PAY_PER_REQUEST")
        aws(endpoint, "dynamodb", "update-time-to-live", "--table-name", TABLE,
            "--time-to-live-specification", "Enabled=true,AttributeName=expires_at")
        say("ledger", f"DynamoDB table {TABLE} on moto (created with the AWS CLI)")

        repo, before, after = sample_repository(workdir)
        say("sample repository", f"{repo}  (git, main at {after[:7]} \"Add alarms stack\")")

        topic = aws(endpoint, "sns", "create-topic", "--name", "cfn-chatops-cards")["TopicArn"]
        queue = aws(endpoint, "sqs", "create-queue", "--queue-name", "slack-channel")["QueueUrl"]
        aws(endpoint, "sns", "subscribe", "--topic-arn", topic, "--protocol", "sqs",
            "--notification-endpoint", "arn:aws:sqs:us-east-1:123456789012:slack-channel")
        say("Slack (Amazon Q)", f"SNS topic {topic.rsplit(':', 1)[-1]} on moto; an SQS queue stands in for the channel")

        secret = secrets.token_urlsafe(32)
        env = aws_env(endpoint)
        env.update(CFN_CHATOPS_WEBHOOK_SECRET=secret, CFN_CHATOPS_LEDGER_TABLE=TABLE,
                   CFN_CHATOPS_SNS_TOPIC_ARN=topic, CFN_CHATOPS_BACKLOG_URL=SPACE)
        bot = Bot(binary, env, ["--runner", "local", "--local-clone", repo])
        url = f"http://{bot.addr}/webhook/{secret}"
        say("cfn-chatops serve", f"http://{bot.addr}/webhook/<secret>  (runner: local, plans in {repo})")
        print()

        for label, body, target in [
            ("Git webhook (push)", git_webhook(before, after), url),
            ("same push again", git_webhook(before, after), url),
            ("push to feature/x", git_webhook(before, after, "refs/heads/feature/x"), url),
            ("wrong secret", git_webhook(before, after), f"http://{bot.addr}/webhook/{'x' * 40}"),
        ]:
            status, answer = post(target, body)
            say(f"POST {label}", f"-> {status} {answer or '(no body)'}")
        print()

        finished = bot.wait_for({"local plan finished", "local plan failed"})
        say("plan (local runner)")
        for entry in bot.entries:
            if entry.get("target") == "cfn_chatops::plan" or entry.get("message", "").startswith("local plan"):
                print(f"  {entry.get('stream', '')[:6]:<7}{entry.get('message')}")
        if finished is None:
            print("  (the plan did not finish within 60 s)")
        print()

        cards = []
        for _ in range(10):
            received = aws(endpoint, "sqs", "receive-message", "--queue-url", queue,
                           "--max-number-of-messages", "10") or {}
            cards += [json.loads(json.loads(m["Body"])["Message"]) for m in received.get("Messages", [])]
            if len(cards) >= 2:
                break
        if cards:
            cards_file = os.path.join(workdir, "cards.json")
            with open(cards_file, "w") as out:
                json.dump(cards, out)
            say("Slack cards", "(as the channel will show them, with their buttons)")
            preview = subprocess.run([binary, "render", "--cards", cards_file], capture_output=True,
                                     text=True, check=True).stdout
            print("\n".join("  " + line for line in preview.splitlines()))
            print()

        items = aws(endpoint, "dynamodb", "scan", "--table-name", TABLE)["Items"]
        for item in sorted(items, key=lambda item: item["pk"]["S"]):
            fields = {name: next(iter(value.values())) for name, value in item.items()}
            state = fields.get("state") or fields.get("status") or fields.get("kind")
            say("ledger item", f"{fields['pk'][:90]}  {fields['sk']}  {state}")
        print("\nDone: everything above ran on this machine; stopping moto and the bot.")
    except KeyboardInterrupt:
        print("\ninterrupted: stopping moto and the bot", file=sys.stderr)
        return 130
    finally:
        if bot:
            bot.stop()
        if moto:
            moto.stdin.close()
            moto.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
