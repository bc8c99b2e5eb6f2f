# cfn-chatops: `make test`, `make demo` (everything local), `make package` and `make deploy`
# (AWS), `make destroy`. Needs the Rust toolchain and Python 3; packaging installs cargo-lambda
# (with zig, from PyPI) into .venv to cross-build for Lambda's arm64.

STACK          ?= cfn-chatops
REGION         ?= $(or $(AWS_REGION),$(AWS_DEFAULT_REGION),us-east-1)
# The deployment's artifacts go to s3://$(ARTIFACT_BUCKET)/cfn-chatops/<zip hash>/ (a bucket you own).
ARTIFACT_BUCKET ?=
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
	@# Keys named by the content, so a rebuild (even of an uncommitted tree) updates the code.
	set -e; \
	prefix="cfn-chatops/$$(sha256sum $(LAMBDA_DIR)/bootstrap.zip | cut -c1-16)"; \
	aws s3 cp --region $(REGION) $(LAMBDA_DIR)/bootstrap.zip "s3://$(ARTIFACT_BUCKET)/$$prefix/lambda.zip"; \
	aws s3 cp --region $(REGION) $(LAMBDA_DIR)/bootstrap "s3://$(ARTIFACT_BUCKET)/$$prefix/cfn-chatops"; \
	aws cloudformation deploy --region $(REGION) --stack-name $(STACK) \
	  --template-file infra/template.yaml \
	  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
	  --no-fail-on-empty-changeset \
	  --parameter-overrides ArtifactBucket=$(ARTIFACT_BUCKET) \
	    LambdaArtifactKey="$$prefix/lambda.zip" PlanBinaryKey="$$prefix/cfn-chatops" $(PARAMETERS)
	@aws cloudformation describe-stacks --region $(REGION) --stack-name $(STACK) \
	  --query "Stacks[0].Outputs[?OutputKey!='WebhookUrl']" --output table
	@echo "The webhook URL (sensitive: it holds the secret):"
	@echo "  aws cloudformation describe-stacks --region $(REGION) --stack-name $(STACK) --query \"Stacks[0].Outputs[?OutputKey=='WebhookUrl'].OutputValue\" --output text"

destroy:
	@# The template bucket must be empty before CloudFormation can delete it.
	set -e; \
	bucket=$$(aws cloudformation describe-stacks --region $(REGION) --stack-name $(STACK) \
	  --query "Stacks[0].Outputs[?OutputKey=='TemplateBucket'].OutputValue" --output text); \
	[ -z "$$bucket" ] || [ "$$bucket" = None ] || aws s3 rm --region $(REGION) --recursive --quiet "s3://$$bucket"
	aws cloudformation delete-stack --region $(REGION) --stack-name $(STACK)
	aws cloudformation wait stack-delete-complete --region $(REGION) --stack-name $(STACK)
	@echo "Kept on purpose: the ledger table (DeletionPolicy Retain). Delete it when you no longer need the audit trail."
