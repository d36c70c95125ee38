"""A team's own CDK app in Python using the greenlight-cdk wheel (scripts/ci/package.sh installs
it into a fresh virtualenv outside the repository): the same stack as ../typescript/app.ts."""

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from greenlight_cdk import GreenlightDeployment, GreenlightPipeline, GreenlightService, LlmProvider

app = cdk.App()
stack = cdk.Stack(app, "ConsumerStack")
service = GreenlightService(stack, "Chat", llm_provider=LlmProvider.OFFLINE)
deployment = GreenlightDeployment(stack, "ChatDeployment", service=service)
GreenlightPipeline(
    stack,
    "ChatPipeline",
    service=service,
    deployment=deployment,
    connection_arn="arn:aws:codeconnections:eu-west-1:123456789012:connection/0123abcd-0123-4567-89ab-0123456789ab",
    repository_owner="example-org",
    repository_name="chat",
)
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
