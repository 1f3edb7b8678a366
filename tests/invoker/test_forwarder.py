"""The environments' hook function (invoker/forwarder.py): ECS's event goes to the invoker
whole, synchronously; the invoker's hook answer comes back to ECS, and anything else raises,
which makes ECS roll the deployment back."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from pipelines.invoker import forwarder

INVOKER = "arn:aws:lambda:eu-west-1:111111111111:function:shop-runner-invoker"
EVENT = {
    "serviceArn": "arn:aws:ecs:eu-west-1:333333333333:service/shop-prod-web/shop-prod-web",
    "hookDetails": {"environment": "prod", "service": "web", "stage": "POST_SCALE_UP"},
}


@pytest.fixture(autouse=True)
def _invoker_arn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forwarder, "INVOKER_ARN", INVOKER)


def _client(answer: Any, function_error: str | None = None) -> tuple[Any, Stubber]:
    client = boto3.client("lambda", region_name="eu-west-1")
    stub = Stubber(client)
    body = json.dumps(answer).encode()
    response: dict[str, Any] = {
        "StatusCode": 200,
        "Payload": StreamingBody(io.BytesIO(body), len(body)),
    }
    if function_error:
        response["FunctionError"] = function_error
    stub.add_response(
        "invoke",
        response,
        {
            "FunctionName": INVOKER,
            "InvocationType": "RequestResponse",
            "Payload": json.dumps({"action": "hook", "event": EVENT}).encode(),
        },
    )
    stub.activate()
    return client, stub


def test_the_invokers_answer_is_returned_to_ecs() -> None:
    answer = {"hookStatus": "IN_PROGRESS", "callBackDelay": 30, "hookDetails": {"a": 1}, "x": 2}
    client, stub = _client(answer)
    assert forwarder.handler(EVENT, None, client) == {
        "hookStatus": "IN_PROGRESS",
        "callBackDelay": 30,
        "hookDetails": {"a": 1},
    }
    stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("answer", "error"),
    [({"ok": False, "error": "unknown action"}, None), ({"errorMessage": "boom"}, "Unhandled")],
)
def test_no_hook_answer_raises_so_ecs_rolls_back(answer: Any, error: str | None) -> None:
    client, _ = _client(answer, error)
    with pytest.raises(RuntimeError, match="the invoker gave no hook answer"):
        forwarder.handler(EVENT, None, client)
