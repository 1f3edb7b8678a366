"""The hook function of an environment: ECS calls it as a service's lifecycle hook; it hands
ECS's event to the invoker in the toolchain account and returns the invoker's answer.

Its source goes inline into the environment's runner stack (AWS::Lambda::Function Code.ZipFile),
with INVOKER_ARN set there: standard library and boto3 only, and nothing else of this package.
A failed call, or an answer without a hookStatus, raises, and ECS rolls the deployment back
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/lambda-lifecycle-hooks.html).
"""

import json
from typing import Any

INVOKER_ARN = ""
ANSWER_KEYS = ("hookStatus", "callBackDelay", "hookDetails")
_clients: list[Any] = []


def handler(event: Any, context: Any = None, client: Any = None) -> dict[str, Any]:
    if client is None:
        if not _clients:
            import boto3
            from botocore.config import Config

            _clients.append(
                boto3.client(
                    "lambda",
                    region_name=INVOKER_ARN.split(":")[3],
                    # The invoker answers within its own 60 s limit; no retry, which could
                    # start a hook's step twice (the invoker resumes it, but need not).
                    config=Config(read_timeout=70, retries={"total_max_attempts": 1}),
                )
            )
        client = _clients[0]
    result = client.invoke(
        FunctionName=INVOKER_ARN,
        InvocationType="RequestResponse",
        Payload=json.dumps({"action": "hook", "event": event}).encode(),
    )
    body = json.loads(result["Payload"].read() or b"null")
    if result.get("FunctionError") or not isinstance(body, dict) or "hookStatus" not in body:
        raise RuntimeError(f"the invoker gave no hook answer: {str(body)[:500]}")
    return {key: body[key] for key in ANSWER_KEYS if key in body}
