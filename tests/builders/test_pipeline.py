import json

from tests.support import resources_of_type, template


def _pipeline(synthesis, app):
    (resource,) = resources_of_type(
        template(synthesis, f"{app}-pipeline"), "AWS::CodePipeline::Pipeline"
    ).values()
    return resource["Properties"]


def test_pipeline_is_v2_queued_and_linear(syntheses) -> None:
    pipeline = _pipeline(syntheses["example"], "shop")
    assert (pipeline["PipelineType"], pipeline["ExecutionMode"]) == ("V2", "QUEUED")
    assert [s["Name"] for s in pipeline["Stages"]] == ["Source", "dev", "staging", "prod"]
    source = {a["Name"]: a for a in pipeline["Stages"][0]["Actions"]}
    assert source["Image"]["ActionTypeId"]["Provider"] == "ECR"
    assert source["Image"]["Configuration"] == {"ImageTag": "release", "RepositoryName": "shop-web"}
    assert source["Image"]["Namespace"] == "SourceVariables"
    assert source["Templates"]["Configuration"]["PollForSourceChanges"] == "false"
    assert source["Templates"]["Configuration"]["S3ObjectKey"] == "templates.zip"


def test_every_environment_receives_the_digest(syntheses) -> None:
    pipeline = _pipeline(syntheses["example"], "shop")
    overrides = {
        json.loads(a["Configuration"]["ParameterOverrides"])["ImageUri"]
        for stage in pipeline["Stages"][1:]
        for a in stage["Actions"]
        if "ParameterOverrides" in a["Configuration"]
    }
    assert overrides == {
        "111111111111.dkr.ecr.eu-west-1.amazonaws.com/shop-web@#{SourceVariables.ImageDigest}"
    }


def test_later_environments_plan_approve_apply_the_same_change_set(syntheses) -> None:
    pipeline = _pipeline(syntheses["example"], "shop")
    dev = pipeline["Stages"][1]["Actions"]
    assert [(a["Name"], a["Configuration"].get("ActionMode")) for a in dev] == [
        ("Deploy-web", "CREATE_UPDATE"),
        ("Mark-deployed", None),  # the release marker, a Lambda action
    ]
    prod = {a["Name"]: a for a in pipeline["Stages"][3]["Actions"]}
    # (the migration runs at 3, between the approval and the apply)
    assert [prod[n]["RunOrder"] for n in ("Plan-web", "Approve", "Apply-web")] == [1, 2, 4]
    assert prod["Plan-web"]["Configuration"]["ActionMode"] == "CHANGE_SET_REPLACE"
    assert prod["Apply-web"]["Configuration"]["ActionMode"] == "CHANGE_SET_EXECUTE"
    assert (
        prod["Plan-web"]["Configuration"]["ChangeSetName"]
        == prod["Apply-web"]["Configuration"]["ChangeSetName"]
        == "shop-prod-web-release"
    )
    assert prod["Plan-web"]["RoleArn"] == "arn:aws:iam::333333333333:role/shop-prod-deploy"
    assert (
        prod["Plan-web"]["Configuration"]["RoleArn"]
        == "arn:aws:iam::333333333333:role/shop-prod-cfn"
    )
    approval = prod["Approve"]["Configuration"]
    assert approval["NotificationArn"] == {"Ref": "ApprovalTopic"}
    for needed in (
        "shop",
        "prod",
        "#{SourceVariables.ImageDigest}",
        "#{codepipeline.PipelineExecutionId}",
    ):
        assert needed in approval["CustomData"]
    assert "#{SourceVariables.ImageDigest}" in approval["ExternalEntityLink"]


def test_cross_region_environment_has_its_artifact_store_and_region(syntheses) -> None:
    pipeline = _pipeline(syntheses["multi-account"], "payments")
    stores = {s["Region"]: s["ArtifactStore"] for s in pipeline["ArtifactStores"]}
    assert sorted(stores) == ["eu-central-1", "us-west-2"]
    assert stores["us-west-2"]["Location"] == "payments-artifacts-100000000001-us-west-2"
    # By ARN, which deploy passes in: an alias names a key only in its own account.
    assert stores["us-west-2"]["EncryptionKey"]["Id"] == {"Ref": "ArtifactKeyUsWest2"}
    body = template(syntheses["multi-account"], "payments-pipeline")
    assert body["Parameters"]["ArtifactKeyUsWest2"]["AllowedPattern"] == (
        "^arn:aws:kms:us-west-2:100000000001:key/[0-9a-f-]{36}$"
    )
    us = next(s for s in pipeline["Stages"] if s["Name"] == "prod-us")
    # The approval and the release marker act in the toolchain's region (the marker's function
    # and the repository are there); everything else in the environment's.
    assert {
        a.get("Region") for a in us["Actions"] if a["Name"] not in ("Approve", "Mark-deployed")
    } == {"us-west-2"}
    assert [a.get("Region") for a in us["Actions"] if a["Name"] == "Mark-deployed"] == [None]
    eu = next(s for s in pipeline["Stages"] if s["Name"] == "prod-eu")
    assert all("Region" not in a for a in eu["Actions"])


def test_a_push_of_the_release_tag_starts_the_pipeline(syntheses) -> None:
    body = template(syntheses["multi-account"], "payments-pipeline")
    (rule,) = resources_of_type(body, "AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail"] == {
        "action-type": ["PUSH"],
        "image-tag": ["prod-release"],
        "repository-name": ["payments"],
        "result": ["SUCCESS"],
    }
    target = rule["Properties"]["Targets"][0]
    assert target["Arn"] == "arn:aws:codepipeline:eu-central-1:100000000001:payments-release"
    subscriptions = resources_of_type(body, "AWS::SNS::Subscription")
    assert sorted(s["Properties"]["Endpoint"] for s in subscriptions.values()) == [
        "payments-oncall@example.com",
        "release@example.com",
    ]


def test_artifact_key_admits_only_cross_account_deploy_roles(syntheses) -> None:
    body = template(syntheses["multi-account"], "payments-pipeline")
    key = body["Resources"]["ArtifactKey"]["Properties"]["KeyPolicy"]["Statement"]
    readers = next(s for s in key if s.get("Sid") == "EnvironmentDeployRolesReadArtifacts")
    assert readers["Condition"]["ArnEquals"]["aws:PrincipalArn"] == [
        "arn:aws:iam::200000000002:role/payments-dev-deploy",
        "arn:aws:iam::200000000002:role/payments-qa-deploy",
        "arn:aws:iam::300000000003:role/payments-prod-eu-deploy",
    ]


def test_bake_time_holds_the_stage_on_its_alarms_and_rolls_back(syntheses) -> None:
    stages = {s["Name"]: s for s in _pipeline(syntheses["example"], "shop")["Stages"]}
    prod = stages["prod"]
    (condition,) = prod["OnSuccess"]["Conditions"]
    assert condition["Result"] == "ROLLBACK"
    (rule,) = condition["Rules"]
    assert rule["RuleTypeId"] == {
        "Category": "Rule",
        "Owner": "AWS",
        "Provider": "CloudWatchAlarm",
        "Version": "1",
    }
    assert rule["Configuration"] == {
        "AlarmName": "shop-prod-5xx",
        "AlarmStates": "ALARM",
        "WaitTime": "10",
    }
    assert rule["RoleArn"] == "arn:aws:iam::333333333333:role/shop-prod-deploy"
    assert prod["OnFailure"] == {"Result": "ROLLBACK"}
    for name in ("dev", "staging"):
        assert "OnSuccess" not in stages[name] and "OnFailure" not in stages[name]


def test_bake_rules_read_alarms_through_the_deploy_role(syntheses) -> None:
    body = template(syntheses["rollout-maximum"], "edge-max-live-deploy")
    statements = body["Resources"]["DeployRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    (describe,) = [s for s in statements if s["Action"] == ["cloudwatch:DescribeAlarms"]]
    assert describe["Resource"] == [
        f"arn:aws:cloudwatch:ca-central-1:720000000003:alarm:edge-{x}" for x in "abcde"
    ]
    stages = {s["Name"]: s for s in _pipeline(syntheses["rollout-maximum"], "edge-max")["Stages"]}
    rules = stages["live"]["OnSuccess"]["Conditions"][0]["Rules"]
    assert [r["Configuration"]["WaitTime"] for r in rules] == ["1440"] * 5
