"""Which template source and which parameters a stack's change set gets."""

from __future__ import annotations

import json

import pytest

from pipelines.aws.errors import BadInput, OperationError
from pipelines.aws.manifest import load_manifest
from pipelines.aws.stackplan import TEMPLATE_BODY_LIMIT, parameters_for, template_source
from tests.aws.stubs import StubbedClients
from tests.aws.workspace import Workspace


def test_an_existing_service_keeps_its_image_and_a_new_one_starts_from_bootstrap(
    workspace: Workspace,
) -> None:
    entry = load_manifest(workspace.templates).stack("shop-prod-web")
    assert parameters_for(entry, "UPDATE", None) == [
        {"ParameterKey": "ImageUri", "UsePreviousValue": True}
    ]
    assert parameters_for(entry, "CREATE", "r/x@sha256:" + "0" * 64) == [
        {"ParameterKey": "ImageUri", "ParameterValue": "r/x@sha256:" + "0" * 64}
    ]
    with pytest.raises(BadInput):
        parameters_for(entry, "CREATE", None)


def test_a_large_template_in_another_account_is_sent_without_whitespace(
    workspace: Workspace,
) -> None:
    manifest = load_manifest(workspace.templates)
    entry = manifest.stack("shop-prod-web")
    body = manifest.body(entry)
    assert template_source(StubbedClients(), manifest, entry, body) == {
        "TemplateBody": body.decode()
    }
    large = type(entry)(**{**entry.__dict__, "upload_to_s3": True})
    padded = json.loads(body)
    padded["Description"] = "x" * 40_000
    pretty = json.dumps(padded, indent=8).encode()
    assert len(pretty) > TEMPLATE_BODY_LIMIT
    # No S3 call: CloudFormation in 333333333333 could not read the toolchain's bucket anyway.
    source = template_source(StubbedClients(), manifest, large, pretty)
    assert json.loads(source["TemplateBody"]) == padded
    assert len(source["TemplateBody"]) <= TEMPLATE_BODY_LIMIT

    padded["Description"] = "x" * 60_000
    with pytest.raises(OperationError, match="cannot read the toolchain's bucket"):
        template_source(StubbedClients(), manifest, large, json.dumps(padded).encode())
