"""The bot's whole mission, run on this machine: moto as the AWS account, the Backlog
stand-in (tests/support/backlog.rs, as a process), a sample repository made with git whose
feature branch is previewed on its open pull request and then merged to main, Backlog's Git
webhook (form-encoded, as Backlog sends it) delivered to `cfn-chatops serve`, the preview and
the plan run by the local runner, the Slack cards as the
channel shows them (with their buttons), the pull request comment, then Execute pressed through
the custom action definition, the events that follow fed to `cfn-chatops outcome`, and the
outcome comment and Slack follow-ups. Everything it starts is stopped when it ends, also on
Ctrl-C.

Usage: scripts/demo (which builds the binaries and installs the tools first), or
       python scripts/demo.py <cfn-chatops binary> <backlog_standin binary>
"""

import json
import os
import re
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


def start_backlog(binary):
    # The stand-in stops when its stdin closes, i.e. when this process ends.
    backlog = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    url, key = backlog.stdout.readline().strip(), backlog.stdout.readline().strip()
    return backlog, url, key


def tell(backlog, command):
    backlog.stdin.write(command + "\n")
    backlog.stdin.flush()


def backlog_comments(url, key, pr):
    path = f"/api/v2/projects/{PROJECT}/git/repositories/{REPOSITORY}/pullRequests/{pr}/comments"
    query = urllib.parse.urlencode({"apiKey": key, "order": "asc", "count": 100})
    with urllib.request.urlopen(f"{url}{path}?{query}", timeout=10) as response:
        return [comment["content"] for comment in json.loads(response.read())]


def aws(endpoint, *args):
    result = subprocess.run(
        [os.path.join(VENV_BIN, "aws"), "--endpoint-url", endpoint, "--output", "json", *args],
        check=True, capture_output=True, text=True, env=aws_env(endpoint), timeout=60,
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
    """main, then a feature branch adding the alarms stack (not merged yet)."""
    repo = os.path.join(workdir, REPOSITORY)
    os.makedirs(repo)
    git(repo, "init", "-q", "-b", "main")
    with open(os.path.join(repo, "README.md"), "w") as readme:
        readme.write("CloudFormation templates\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Initial commit")
    before = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature/alarms")
    shutil.copytree(os.path.join(ROOT, "examples/cfn-templates/stacks"), os.path.join(repo, "stacks"))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add alarms stack")
    feature = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    return repo, before, feature


def merge(repo):
    """The pull request merged, with a merge commit as Backlog makes one."""
    git(repo, "merge", "-q", "--no-ff", "feature/alarms", "-m", "Merge branch 'feature/alarms' into main")
    return git(repo, "rev-parse", "HEAD")


def git_webhook(before, commits, ref="refs/heads/main"):
    """The per-repository Git webhook body, as Backlog posts it (reference backlog.md §3)."""
    url = f"{SPACE}/git/{PROJECT}/{REPOSITORY}"
    payload = {
        "before": before, "after": commits[-1][0], "ref": ref,
        "repository": {"url": url, "name": REPOSITORY, "description": None},
        "revisions": [{
            "id": sha, "url": f"{url}/commit/{sha}",
            "author": {"name": "Aiko Tanaka", "email": "aiko@example.com"},
            "message": message, "timestamp": "2026-11-23T14:05:11+09:00",
        } for sha, message in commits],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def iso_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def cloudtrail_event(command, slack_user):
    """What EventBridge delivers after Amazon Q runs a button's command (cloudformation.md §7.2)."""
    words = command.split()
    change_set = words[words.index("--change-set-name") + 1]
    session = f"chatbot-session-slack-{slack_user}"
    return {
        "version": "0", "id": f"demo-{secrets.token_hex(8)}", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.cloudformation", "account": "123456789012", "time": iso_now(),
        "region": "us-east-1", "resources": [],
        "detail": {
            "eventVersion": "1.09", "eventTime": iso_now(), "eventSource": "cloudformation.amazonaws.com",
            "eventName": "ExecuteChangeSet", "awsRegion": "us-east-1",
            "userIdentity": {"type": "AssumedRole", "principalId": f"AROADEMO:{session}",
                             "arn": f"arn:aws:sts::123456789012:assumed-role/cfn-chatops-channel/{session}"},
            "requestParameters": {"changeSetName": change_set, "disableRollback": False},
            "responseElements": None,
        },
    }


def stack_status_event(endpoint, stack):
    """CloudFormation's status change, built from what moto says about the stack now."""
    described = aws(endpoint, "cloudformation", "describe-stacks", "--stack-name", stack)["Stacks"][0]
    return {
        "version": "0", "id": f"demo-{secrets.token_hex(8)}", "detail-type": "CloudFormation Stack Status Change",
        "source": "aws.cloudformation", "account": "123456789012", "time": iso_now(),
        "region": "us-east-1", "resources": [described["StackId"]],
        "detail": {"stack-id": described["StackId"],
                   "status-details": {"status": described["StackStatus"], "status-reason": ""}},
    }


def outcome(binary, env, event):
    result = subprocess.run([binary, "outcome", "--event", "-"], input=json.dumps(event), env=env,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise SystemExit(f"cfn-chatops outcome failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def read_cards(endpoint, queue, count):
    cards = []
    for _ in range(10):
        received = aws(endpoint, "sqs", "receive-message", "--queue-url", queue,
                       "--max-number-of-messages", "10") or {}
        for message in received.get("Messages", []):
            cards.append(json.loads(json.loads(message["Body"])["Message"]))
            aws(endpoint, "sqs", "delete-message", "--queue-url", queue,
                "--receipt-handle", message["ReceiptHandle"])
        if len(cards) >= count:
            break
    return cards


def indented(text):
    return "\n".join("  " + line for line in text.splitlines())


class Bot:
    def __init__(self, binary, env, args):
        self.entries, self.ready = [], threading.Event()
        self.process = subprocess.Popen(
            [binary, "serve", "--addr", "127.0.0.1:0", "--log-format", "json", *args],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True,
        )
        try:
            threading.Thread(target=self._read, daemon=True).start()
            if not self.ready.wait(30):
                raise SystemExit("cfn-chatops serve did not start")
        except BaseException:
            # Not yet handed to the caller's clean-up: stop it here.
            self.stop()
            raise

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

    def wait_for(self, messages, count=1, timeout=60):
        """The `count`-th log entry whose message is one of `messages`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [entry for entry in self.entries if entry.get("message") in messages]
            if len(found) >= count:
                return found[count - 1]
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


def main(binary, standin):
    stop_on_signals()
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="cfn-chatops-demo-")
    moto = bot = backlog = None
    try:
        moto, endpoint = start_moto()
        say("AWS (moto)", f"{endpoint}  (moto server via tests/support/moto_server.py, loopback only, pid {moto.pid})")
        backlog, backlog_url, backlog_key = start_backlog(standin)
        tell(backlog, f"project {PROJECT} markdown")
        say("Backlog (stand-in)", f"{backlog_url}  (tests/support/backlog.rs as a process, pid {backlog.pid})")
        aws(endpoint, "dynamodb", "create-table", "--table-name", TABLE,
            "--attribute-definitions", "AttributeName=pk,AttributeType=S", "AttributeName=sk,AttributeType=S",
            "--key-schema", "AttributeName=pk,KeyType=HASH", "AttributeName=sk,KeyType=RANGE",
            "--billing-mode", "PAY_PER_REQUEST")
        aws(endpoint, "dynamodb", "update-time-to-live", "--table-name", TABLE,
            "--time-to-live-specification", "Enabled=true,AttributeName=expires_at")
        say("ledger", f"DynamoDB table {TABLE} on moto (created with the AWS CLI)")

        repo, before, feature = sample_repository(workdir)
        tell(backlog, f"open {PROJECT} {REPOSITORY} 1 main feature/alarms {feature}")
        say("sample repository", f"{repo}  (git: feature/alarms at {feature[:7]}, not merged yet)")
        say("pull request", f"{PROJECT}/{REPOSITORY} #1 feature/alarms -> main, open (head {feature[:7]}) in the stand-in")

        topic = aws(endpoint, "sns", "create-topic", "--name", "cfn-chatops-cards")["TopicArn"]
        queue = aws(endpoint, "sqs", "create-queue", "--queue-name", "slack-channel")["QueueUrl"]
        aws(endpoint, "sns", "subscribe", "--topic-arn", topic, "--protocol", "sqs",
            "--notification-endpoint", "arn:aws:sqs:us-east-1:123456789012:slack-channel")
        say("Slack (Amazon Q)", f"SNS topic {topic.rsplit(':', 1)[-1]} on moto; an SQS queue stands in for the channel")

        secret = secrets.token_urlsafe(32)
        env = aws_env(endpoint)
        env.update(CFN_CHATOPS_WEBHOOK_SECRET=secret, CFN_CHATOPS_LEDGER_TABLE=TABLE,
                   CFN_CHATOPS_SNS_TOPIC_ARN=topic, CFN_CHATOPS_BACKLOG_URL=backlog_url,
                   CFN_CHATOPS_BACKLOG_API_KEY=backlog_key)
        bot = Bot(binary, env, ["--runner", "local", "--local-clone", repo])
        url = f"http://{bot.addr}/webhook/{secret}"
        say("cfn-chatops serve", f"http://{bot.addr}/webhook/<secret>  (runner: local, plans in {repo}, pid {bot.process.pid})")
        print()

        # Before the merge: the push to the pull request's branch previews it on the PR.
        status, answer = post(url, git_webhook(before, [(feature, "Add alarms stack")], "refs/heads/feature/alarms"))
        say("POST push to PR branch", f"-> {status} {answer}")
        if bot.wait_for({"local plan finished", "local plan failed"}) is None:
            print("  (the preview did not finish within 60 s)")
        comments = backlog_comments(backlog_url, backlog_key, 1)
        say("Backlog PR #1 preview", "(the comment before the merge: nothing can be executed from it)")
        print(indented(comments[-1] if comments else "(no comment)"))
        print()

        after = merge(repo)
        tell(backlog, f"merged {PROJECT} {REPOSITORY} 1 main feature/alarms {after}")
        say("merge", f"feature/alarms merged to main at {after[:7]}; PR #1 merged (mergeCommit {after[:7]}) in the stand-in")
        pushed = [(feature, "Add alarms stack"), (after, "Merge branch 'feature/alarms' into main")]
        for label, body, target in [
            ("Git webhook (merge)", git_webhook(before, pushed), url),
            ("same push again", git_webhook(before, pushed), url),
            ("push to feature/x", git_webhook(before, pushed, "refs/heads/feature/x"), url),
            ("wrong secret", git_webhook(before, pushed), f"http://{bot.addr}/webhook/{'x' * 40}"),
        ]:
            status, answer = post(target, body)
            say(f"POST {label}", f"-> {status} {answer or '(no body)'}")
        print()

        finished = bot.wait_for({"local plan finished", "local plan failed"}, count=2)
        say("preview and plan", "(the local runner's output)")
        for entry in bot.entries:
            if entry.get("target") == "cfn_chatops::plan" or entry.get("message", "").startswith("local plan"):
                print(f"  {entry.get('stream', '')[:6]:<7}{entry.get('message')}")
        if finished is None:
            print("  (the plan did not finish within 60 s)")
        print()

        cards = read_cards(endpoint, queue, 2)
        cards.sort(key=lambda card: card["metadata"]["eventType"] != "cfn-chatops.plan")
        cards_file = os.path.join(workdir, "cards.json")
        with open(cards_file, "w") as out:
            json.dump(cards, out)
        say("Slack cards", "(as the channel shows them, with their buttons)")
        preview = subprocess.run([binary, "render", "--cards", cards_file], capture_output=True,
                                 text=True, check=True, timeout=30).stdout
        print(indented(preview))
        print()

        comments = backlog_comments(backlog_url, backlog_key, 1)
        say("Backlog PR #1 comment", "(what the bot wrote on the pull request, Markdown)")
        print(indented(comments[-1] if comments else "(no comment)"))
        print()

        button = re.search(r"(Execute(?: & overwrite drift)?) runs: (.+)", preview)
        if button is None:
            raise SystemExit("no Execute button on the cards")
        say("Slack: press", f"[ {button.group(1)} ]  -> the command the custom action defines for this card, "
            f"run here with the AWS CLI as Amazon Q would: aws {button.group(2)}")
        aws(endpoint, *button.group(2).split())
        described = aws(endpoint, "cloudformation", "describe-stacks")["Stacks"]
        say("stack", ", ".join(f"{s['StackName']} {s['StackStatus']}" for s in described))
        say("EventBridge", "(stand-in: the events AWS would deliver, built here from moto's state)")
        for label, event in [("event: CloudTrail", cloudtrail_event(button.group(2), "U0DEMO42")),
                             ("event: stack status", stack_status_event(endpoint, described[0]["StackName"]))]:
            handled = outcome(binary, env, event)
            kind = handled.get("outcome", {}).get("kind", handled.get("reason", ""))
            say(label, f"{event['detail-type']} -> cfn-chatops outcome: {handled['status']}, {kind}")
        print()
        say("Backlog PR #1 comments", "(the outcomes, after the preview and plan comments)")
        for comment in backlog_comments(backlog_url, backlog_key, 1)[2:]:
            print(indented(comment))
            print()
        for card in read_cards(endpoint, queue, 2):
            say("Slack thread follow-up", f"{card['content']['title']}  (thread {card['metadata']['threadId']})")
        print()

        items = aws(endpoint, "dynamodb", "scan", "--table-name", TABLE)["Items"]
        for item in sorted(items, key=lambda item: item["pk"]["S"]):
            fields = {name: next(iter(value.values())) for name, value in item.items()}
            state = fields.get("state") or fields.get("status") or fields.get("kind")
            say("ledger item", f"{fields['pk'][:90]}  {fields['sk']}  {state}")
        print(f"\nDone in {time.monotonic() - started:.1f} s: everything above ran on this machine; "
              "stopping moto, the Backlog stand-in and the bot.")
    except KeyboardInterrupt:
        print("\ninterrupted: stopping moto, the Backlog stand-in and the bot", file=sys.stderr)
        return 130
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        if bot:
            bot.stop()
        for child in (backlog, moto):
            if child:
                child.stdin.close()  # both exit when their stdin closes
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
