#!/usr/bin/env node
// The AWS CDK equivalent of the 1x3 example in environments/, for `bench/synth.py --vs-cdk`.
//
// Same shape as `pipelines synth`: an ECR repository stack, one Fargate service stack per
// environment (cluster, task definition, log group, security group, service with circuit
// breaker and rollback, target group and listener rule where the environment has a load
// balancer), and a CodePipeline V2 (QUEUED) with an ECR source, a direct deploy to dev and
// plan -> approve -> apply for staging and prod. CDK adds a support stack per foreign account
// for the cross-account roles, which plays the part of our <app>-<env>-deploy stacks.
//
// Offline by construction: every stack has an explicit env, and nothing uses fromLookup, so
// `cdk synth` needs no credentials and writes no cdk.context.json.
'use strict';

const cdk = require('aws-cdk-lib');
const codepipeline = require('aws-cdk-lib/aws-codepipeline');
const actions = require('aws-cdk-lib/aws-codepipeline-actions');
const ec2 = require('aws-cdk-lib/aws-ec2');
const ecr = require('aws-cdk-lib/aws-ecr');
const ecs = require('aws-cdk-lib/aws-ecs');
const elbv2 = require('aws-cdk-lib/aws-elasticloadbalancingv2');
const iam = require('aws-cdk-lib/aws-iam');
const kms = require('aws-cdk-lib/aws-kms');
const logs = require('aws-cdk-lib/aws-logs');
const secretsmanager = require('aws-cdk-lib/aws-secretsmanager');
const sns = require('aws-cdk-lib/aws-sns');
const subscriptions = require('aws-cdk-lib/aws-sns-subscriptions');

const APP = 'shop';
const REGION = 'eu-west-1';
const TOOLCHAIN = { account: '111111111111', region: REGION };
const REPOSITORY = 'shop-web';
const RELEASE_TAG = 'release';
const SERVICE = {
  name: 'web',
  port: 8080,
  cpu: 256,
  memory: 512,
  healthCheck: '/healthz',
  command: ['gunicorn', 'app:app'],
  environment: { LOG_LEVEL: 'info' },
};
const DIGEST_PATTERN = '^[^@\\s]+@sha256:[0-9a-f]{64}$';

// Mirrors environments/{dev,staging,prod}.yaml.
const ENVIRONMENTS = [
  {
    name: 'dev',
    account: '222222222222',
    approval: false,
    vpc: 'vpc-0a1b2c3d4e5f60718',
    subnets: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'],
    desiredCount: 1,
    environment: { LOG_LEVEL: 'debug' },
  },
  {
    name: 'staging',
    account: '222222222222',
    approval: true,
    vpc: 'vpc-0a1b2c3d4e5f60718',
    subnets: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'],
    desiredCount: 2,
    loadBalancer: {
      listenerArn:
        'arn:aws:elasticloadbalancing:eu-west-1:222222222222:listener/app/shop-staging/0123456789abcdef/0123456789abcdef',
      host: 'staging.shop.example.com',
      priority: 10,
      securityGroup: 'sg-0a1b2c3d4e5f60101',
    },
  },
  {
    name: 'prod',
    account: '333333333333',
    approval: true,
    vpc: 'vpc-0f1e2d3c4b5a69788',
    subnets: [
      'subnet-0f1e2d3c4b5a60001',
      'subnet-0f1e2d3c4b5a60002',
      'subnet-0f1e2d3c4b5a60003',
    ],
    desiredCount: 3,
    environment: { LOG_LEVEL: 'warn' },
    secrets: { DB_PASSWORD: 'arn:aws:secretsmanager:eu-west-1:333333333333:secret:shop/db' },
    alarms: ['shop-prod-5xx'],
    loadBalancer: {
      listenerArn:
        'arn:aws:elasticloadbalancing:eu-west-1:333333333333:listener/app/shop/0123456789abcdef/0123456789abcdef',
      host: 'shop.example.com',
      priority: 10,
      securityGroup: 'sg-0f1e2d3c4b5a60101',
    },
  },
];

class SourceStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    this.repository = new ecr.Repository(this, 'Repository', {
      repositoryName: REPOSITORY,
      imageScanOnPush: true,
      encryption: ecr.RepositoryEncryption.KMS,
      imageTagMutability: ecr.TagMutability.IMMUTABLE_WITH_EXCLUSION,
      imageTagMutabilityExclusionFilters: [ecr.ImageTagMutabilityExclusionFilter.wildcard(RELEASE_TAG)],
      lifecycleRules: [{ maxImageCount: 50 }],
      removalPolicy: cdk.RemovalPolicy.RETAIN,
    });
    for (const account of new Set(ENVIRONMENTS.map((e) => e.account))) {
      this.repository.grantPull(new iam.AccountPrincipal(account));
    }
  }
}

class ServiceStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const env = props.environment;
    const name = `${APP}-${env.name}-${SERVICE.name}`;
    const imageUri = new cdk.CfnParameter(this, 'ImageUri', {
      type: 'String',
      allowedPattern: DIGEST_PATTERN,
      description: 'image pinned by digest',
    });
    const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: env.vpc,
      availabilityZones: env.subnets.map((_, i) => `${REGION}${'abc'[i]}`),
      privateSubnetIds: env.subnets,
      // Stand-in route tables: CDK warns without them, and our stacks never read them.
      privateSubnetRouteTableIds: env.subnets.map((_, i) => `rtb-0a1b2c3d4e5f6000${i}`),
    });
    const cluster = new ecs.Cluster(this, 'Cluster', {
      vpc,
      clusterName: name,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    const logKey = new kms.Key(this, 'LogKey', { enableKeyRotation: true });
    logKey.grantEncryptDecrypt(new iam.ServicePrincipal(`logs.${REGION}.amazonaws.com`));
    const logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/ecs/${APP}/${env.name}/${SERVICE.name}`,
      retention: logs.RetentionDays.ONE_YEAR,
      encryptionKey: logKey,
    });
    const task = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: SERVICE.cpu,
      memoryLimitMiB: SERVICE.memory,
      family: name,
    });
    const secrets = {};
    for (const [key, arn] of Object.entries(env.secrets || {})) {
      const secret = secretsmanager.Secret.fromSecretPartialArn(this, `Secret${key}`, arn);
      secrets[key] = ecs.Secret.fromSecretsManager(secret);
    }
    task.addContainer(SERVICE.name, {
      image: ecs.ContainerImage.fromRegistry(imageUri.valueAsString),
      command: SERVICE.command,
      environment: { ...SERVICE.environment, ...(env.environment || {}) },
      secrets,
      portMappings: [{ containerPort: SERVICE.port }],
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: SERVICE.name }),
    });
    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc,
      description: `${name} tasks`,
    });
    const service = new ecs.FargateService(this, 'Service', {
      cluster,
      serviceName: name,
      taskDefinition: task,
      desiredCount: env.desiredCount,
      securityGroups: [securityGroup],
      vpcSubnets: { subnets: vpc.privateSubnets },
      assignPublicIp: false,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      deploymentAlarms: env.alarms ? { alarmNames: env.alarms } : undefined,
    });
    if (env.loadBalancer) {
      const lb = env.loadBalancer;
      const listener = elbv2.ApplicationListener.fromApplicationListenerAttributes(this, 'Listener', {
        listenerArn: lb.listenerArn,
        securityGroup: ec2.SecurityGroup.fromSecurityGroupId(this, 'LbSecurityGroup', lb.securityGroup),
      });
      // An imported listener takes target groups, not targets: build the group here.
      const targetGroup = new elbv2.ApplicationTargetGroup(this, 'TargetGroup', {
        vpc,
        port: SERVICE.port,
        protocol: elbv2.ApplicationProtocol.HTTP,
        targets: [service],
        healthCheck: { path: SERVICE.healthCheck },
      });
      listener.addTargetGroups('Rule', {
        priority: lb.priority,
        conditions: [elbv2.ListenerCondition.hostHeaders([lb.host])],
        targetGroups: [targetGroup],
      });
      service.connections.allowFrom(listener, ec2.Port.tcp(SERVICE.port));
    }
  }
}

class PipelineStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const topic = new sns.Topic(this, 'Approvals', { topicName: `${APP}-approvals` });
    topic.addSubscription(new subscriptions.EmailSubscription('release-team@example.com'));
    const pipeline = new codepipeline.Pipeline(this, 'Pipeline', {
      pipelineName: `${APP}-release`,
      pipelineType: codepipeline.PipelineType.V2,
      executionMode: codepipeline.ExecutionMode.QUEUED,
      crossAccountKeys: true,
      enableKeyRotation: true,
    });
    const image = new codepipeline.Artifact('Image');
    const templates = new codepipeline.Artifact('Templates');
    pipeline.addStage({
      stageName: 'Source',
      actions: [
        new actions.EcrSourceAction({
          actionName: 'Image',
          repository: props.repository,
          imageTag: RELEASE_TAG,
          output: image,
          variablesNamespace: 'SourceVariables',
        }),
        new actions.S3SourceAction({
          actionName: 'Templates',
          bucket: pipeline.artifactBucket,
          bucketKey: 'templates.zip',
          trigger: actions.S3Trigger.NONE,
          output: templates,
        }),
      ],
    });
    const imageUri = `${props.repository.repositoryUri}@#{SourceVariables.ImageDigest}`;
    for (const env of ENVIRONMENTS) {
      pipeline.addStage({ stageName: env.name, actions: stageActions(env, templates, imageUri, topic) });
    }
  }
}

function stageActions(env, templates, imageUri, topic) {
  const stackName = `${APP}-${env.name}-${SERVICE.name}`;
  const common = {
    stackName,
    templatePath: templates.atPath(`${stackName}.json`),
    adminPermissions: false,
    parameterOverrides: { ImageUri: imageUri },
    cfnCapabilities: [cdk.CfnCapabilities.NAMED_IAM],
    account: env.account,
    region: REGION,
  };
  if (!env.approval) {
    return [
      new actions.CloudFormationCreateUpdateStackAction({
        actionName: `Deploy-${SERVICE.name}`,
        ...common,
      }),
    ];
  }
  const changeSetName = `${stackName}-release`;
  return [
    new actions.CloudFormationCreateReplaceChangeSetAction({
      actionName: `Plan-${SERVICE.name}`,
      changeSetName,
      runOrder: 1,
      ...common,
    }),
    new actions.ManualApprovalAction({
      actionName: 'Approve',
      notificationTopic: topic,
      additionalInformation:
        `${APP}: promote image ${REPOSITORY}@#{SourceVariables.ImageDigest} to ${env.name} ` +
        `(account ${env.account}, ${REGION}). Pipeline execution ` +
        '#{codepipeline.PipelineExecutionId}.',
      runOrder: 2,
    }),
    new actions.CloudFormationExecuteChangeSetAction({
      actionName: `Apply-${SERVICE.name}`,
      stackName,
      changeSetName,
      account: env.account,
      region: REGION,
      runOrder: 3,
    }),
  ];
}

const app = new cdk.App();
const source = new SourceStack(app, `${APP}-source`, { env: TOOLCHAIN });
for (const env of ENVIRONMENTS) {
  new ServiceStack(app, `${APP}-${env.name}-${SERVICE.name}`, {
    env: { account: env.account, region: REGION },
    environment: env,
  });
}
new PipelineStack(app, `${APP}-pipeline`, { env: TOOLCHAIN, repository: source.repository });
app.synth();
