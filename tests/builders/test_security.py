"""Least privilege and encryption, asserted across every generated template."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import CONFIGURATIONS, config_id


def statements(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(resource id, statement, is a key policy) for every policy statement in a template."""
    for name, resource in body["Resources"].items():
        props = resource.get("Properties", {})
        documents = [(p["PolicyDocument"], False) for p in props.get("Policies", [])]
        if "KeyPolicy" in props:
            documents.append((props["KeyPolicy"], True))
        for key in ("PolicyDocument", "RepositoryPolicyText"):
            if key in props:
                documents.append((props[key], False))
        for document, is_key in documents:
            for statement in document["Statement"]:
                yield name, statement, is_key


def templates(synthesis: Any) -> list[tuple[str, bytes]]:
    """The template files of a synthesis (not the manifest, runners.json or invoker.zip)."""
    return [(o.file, o.body) for o in synthesis.outputs]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("config", CONFIGURATIONS, ids=config_id)
def test_no_allow_statement_grants_a_wildcard_action(config, syntheses) -> None:
    for file, data in templates(syntheses[config_id(config)]):
        for name, statement, _ in statements(json.loads(data)):
            if statement["Effect"] == "Allow":
                wild = [a for a in _list(statement["Action"]) if "*" in a]
                assert wild == [], f"{file} {name} allows {wild}"


# Resource "*" only for APIs without resource-level permissions: the conformance rule
# iam-actions checks it against AWS's Service Authorization Reference (tests/conformance).


@pytest.mark.parametrize("config", CONFIGURATIONS, ids=config_id)
def test_everything_that_stores_data_is_encrypted(config, syntheses) -> None:
    for file, data in templates(syntheses[config_id(config)]):
        for name, resource in json.loads(data)["Resources"].items():
            props, kind = resource.get("Properties", {}), resource["Type"]
            where = f"{file} {name}"
            if kind == "AWS::S3::Bucket":
                rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
                assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", where
                assert all(props["PublicAccessBlockConfiguration"].values()), where
                assert props["VersioningConfiguration"]["Status"] == "Enabled", where
            elif kind == "AWS::Logs::LogGroup":
                assert "KmsKeyId" in props and props["RetentionInDays"] >= 365, where
            elif kind == "AWS::SNS::Topic":
                assert "KmsMasterKeyId" in props, where
            elif kind == "AWS::ECR::Repository":
                assert props["EncryptionConfiguration"]["EncryptionType"] == "KMS", where
            elif kind == "AWS::KMS::Key":
                assert props["EnableKeyRotation"] is True, where


@pytest.mark.parametrize("config", CONFIGURATIONS, ids=config_id)
def test_buckets_deny_plain_http(config, syntheses) -> None:
    for _file, data in templates(syntheses[config_id(config)]):
        body = json.loads(data)
        buckets = [k for k, v in body["Resources"].items() if v["Type"] == "AWS::S3::Bucket"]
        policies = [
            v["Properties"]
            for v in body["Resources"].values()
            if v["Type"] == "AWS::S3::BucketPolicy"
        ]
        assert len(policies) == len(buckets)
        for policy in policies:
            deny = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
            assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
