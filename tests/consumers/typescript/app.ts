// A team's own CDK app using the packed greenlight-cdk tarball (scripts/ci/package.sh copies
// this directory outside the repository and installs the tarball into it). It uses only the
// package's public API and the prebuilt hook the package ships.
import { App, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { GreenlightDeployment, GreenlightPipeline, GreenlightService, LlmProvider } from 'greenlight-cdk';

const app = new App();
const stack = new Stack(app, 'ConsumerStack');
const service = new GreenlightService(stack, 'Chat', { llmProvider: LlmProvider.OFFLINE });
const deployment = new GreenlightDeployment(stack, 'ChatDeployment', { service });
new GreenlightPipeline(stack, 'ChatPipeline', {
  service,
  deployment,
  connectionArn: 'arn:aws:codeconnections:eu-west-1:123456789012:connection/0123abcd-0123-4567-89ab-0123456789ab',
  repositoryOwner: 'example-org',
  repositoryName: 'chat',
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
