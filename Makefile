# cfn-chatops: `make test`, `make demo` (everything local), `make package` and `make deploy`
# (AWS), `make destroy`. Needs the Rust toolchain and Python 3; packaging installs cargo-lambda
# (with zig, from PyPI) into .venv to cross-build for Lambda's arm64.

STACK          ?= cfn-chatops
REGION         ?= $(or $(AWS_REGION),$(AWS_DEFAULT_REGION),us-east-1)
# The deployment's artifacts go to s3://$(ARTIFACT_BUCKET)/$(ARTIFACT_PREFIX)/ (a bucket you own).
ARTIFACT_BUCKET ?=
ARTIFACT_PREFIX ?= cfn-chatops/$(shell git rev-parse --short=12 HEAD)
# Parameter overrides for infra/template.yaml, e.g.
#   PARAMETERS="WebhookSecret=… BacklogSpaceUrl=https://example.backlog.com BacklogProjectKey=INFRA \
#               BacklogRepository=cfn-templates DeployRoleArn=arn:aws:iam::123456789012:role/cfn-deploy \
#               SlackWorkspaceId=T0123ABCD SlackChannelId=C0456EFGH"
PARAMETERS     ?=

LAMBDA_DIR := target/lambda/cfn-chatops

.PHONY: test demo package deploy destroy

test:
	bash scripts/test

demo:
	bash scripts/demo

package:
	@. scripts/lib.sh && ensure_venv
	@[ -x .venv/bin/cargo-lambda ] || .venv/bin/pip install --quiet cargo-lambda
	PATH="$(CURDIR)/.venv/bin:$$PATH" cargo lambda build --release --arm64 --locked --output-format zip
	@# One binary for both: the Lambda's bootstrap and the planner CodeBuild downloads.
	cd $(LAMBDA_DIR) && unzip -o -q bootstrap.zip bootstrap
	@ls -l $(LAMBDA_DIR)/bootstrap.zip $(LAMBDA_DIR)/bootstrap

deploy: package
	@[ -n "$(ARTIFACT_BUCKET)" ] || { echo "set ARTIFACT_BUCKET (an S3 bucket in $(REGION))" >&2; exit 2; }
	@[ -n "$(PARAMETERS)" ] || { echo "set PARAMETERS (see the Makefile and README)" >&2; exit 2; }
	aws s3 cp --region $(REGION) $(LAMBDA_DIR)/bootstrap.zip s3://$(ARTIFACT_BUCKET)/$(ARTIFACT_PREFIX)/lambda.zip
	aws s3 cp --region $(REGION) $(LAMBDA_DIR)/bootstrap s3://$(ARTIFACT_BUCKET)/$(ARTIFACT_PREFIX)/cfn-chatops
	aws cloudformation deploy --region $(REGION) --stack-name $(STACK) \
	  --template-file infra/template.yaml \
	  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
	  --no-fail-on-empty-changeset \
	  --parameter-overrides ArtifactBucket=$(ARTIFACT_BUCKET) \
	    LambdaArtifactKey=$(ARTIFACT_PREFIX)/lambda.zip \
	    PlanBinaryKey=$(ARTIFACT_PREFIX)/cfn-chatops $(PARAMETERS)
	@aws cloudformation describe-stacks --region $(REGION) --stack-name $(STACK) \
	  --query "Stacks[0].Outputs[?OutputKey!='WebhookUrl']" --output table
	@echo "The webhook URL (sensitive: it holds the secret):"
	@echo "  aws cloudformation describe-stacks --stack-name $(STACK) --query \"Stacks[0].Outputs[?OutputKey=='WebhookUrl'].OutputValue\" --output text"

destroy:
	aws cloudformation delete-stack --region $(REGION) --stack-name $(STACK)
	aws cloudformation wait stack-delete-complete --region $(REGION) --stack-name $(STACK)
	@echo "Kept on purpose: the ledger table (DeletionPolicy Retain). Delete it when you no longer need the audit trail."
