from __future__ import annotations

import pytest
from awacs.aws import Allow, PolicyDocument, Principal, Statement
from awacs.sts import AssumeRole
from troposphere import GetAtt, Output, Parameter, Ref, Sub, Tags, Template, ecs, iam, s3

from pipelines.config.loader import load_project
from pipelines.release.plan import plan_release
from pipelines.render import invoker_code_key, runner_assets
from pipelines.stacks import build_stacks
from pipelines.template_data import template_data
from tests.support import CONFIGURATIONS, config_id


@pytest.mark.parametrize("config", CONFIGURATIONS, ids=config_id)
def test_every_stack_of_every_configuration_gives_what_troposphere_gives(config) -> None:
    project = load_project(config)
    stacks = build_stacks(project, plan_release(project), invoker_code_key(runner_assets(project)))
    for stack in stacks:
        assert template_data(stack.template) == stack.template.to_dict(), stack.name


def test_every_kind_of_value_gives_what_troposphere_gives() -> None:
    template = Template(Description="every kind")
    template.set_metadata({"Note": Sub("${AWS::StackName}")})
    image = template.add_parameter(Parameter("Image", Type="String"))
    bucket = template.add_resource(
        s3.Bucket("Bucket", Tags=Tags(Team="shop") + Tags({"Owner": Ref(image)}))
    )
    template.add_resource(s3.Bucket("Bare", DependsOn=[bucket]))  # no properties
    template.add_resource(
        iam.Role(
            "Role",
            AssumeRolePolicyDocument=PolicyDocument(
                Statement=[
                    Statement(
                        Effect=Allow,
                        Action=[AssumeRole],
                        Principal=Principal("Service", ["ecs-tasks.amazonaws.com"]),
                    )
                ]
            ),
        )
    )
    template.add_resource(
        ecs.TaskDefinition(
            "Task",
            ContainerDefinitions=[
                ecs.ContainerDefinition(Name="web", Image=Ref(image), Essential=True)
            ],
            Cpu="256",
            Memory="512",
        )
    )
    template.add_output(Output("Arn", Value=GetAtt(bucket, "Arn")))
    assert template_data(template) == template.to_dict()


def test_a_missing_required_property_is_refused_as_troposphere_refuses_it() -> None:
    template = Template()
    template.add_resource(
        ecs.TaskDefinition("Task", ContainerDefinitions=[ecs.ContainerDefinition(Image="x")])
    )
    with pytest.raises(ValueError, match="Resource Name required in type ") as ours:
        template_data(template)
    with pytest.raises(ValueError) as theirs:
        template.to_dict()
    assert str(ours.value) == str(theirs.value)
