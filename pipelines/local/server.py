"""The embedded AWS over HTTP: moto's own WSGI application, with CodePipeline in front of it.

`SandboxApplication` is WSGI middleware. A request whose `X-Amz-Target` is one of the
CodePipeline operations the service answers (service.py) is answered here, and so are ECS's
ListServiceDeployments and DescribeServiceDeployments (moto has neither), from the deployments
the interpreter's strategies ran (rollout.py); an ECR PutImage goes
to moto, and once moto has stored the image the push is told to the service (which starts an
execution if the pipeline's EventBridge rule matches it); everything else is moto's.
`Server` serves it with werkzeug on a local port, in a thread, until it is stopped.

moto's application is the one its own server runs (moto.moto_server.werkzeug_app's
DomainDispatcherApplication over create_backend_app, as moto.server and ThreadedMotoServer make
it), so every other service behaves exactly as `moto_server` does.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from pipelines.local.service import (
    ECS_TARGET_PREFIX,
    TARGET_PREFIX,
    ApiError,
    EcsDeploymentsService,
    json_default,
)

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer

    from pipelines.local.runs import DirectRuns
    from pipelines.local.service import CodePipelineService, PipelineRouter

ECR_PUT_IMAGE = "AmazonEC2ContainerRegistry_V20150921.PutImage"
# Lambda's Invoke: POST /2015-03-31/functions/<name or ARN>/invocations
_INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
# The Region a SigV4 request was signed for: Credential=<key>/<date>/<region>/<service>/...
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/")

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
Application = Callable[[Environ, StartResponse], Iterable[bytes]]


class Answering(Protocol):
    """An API answered here: CodePipeline's, or ECS's service deployments."""

    def call(self, operation: str, request: Any) -> dict[str, Any]: ...


class SandboxApplication:
    def __init__(self, moto: Application) -> None:
        self.moto = moto
        # Set once the pipeline is deployed; until then every request is moto's.
        self.service: CodePipelineService | PipelineRouter | None = None
        # The invoker Lambda's direct invocations (`pipelines run`), by its function name.
        self.runs: tuple[str, DirectRuns] | None = None

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        service = self.service
        if service is not None and target.startswith(TARGET_PREFIX):
            operation = target.removeprefix(TARGET_PREFIX)
            if operation in service.operations:
                return _answer(service, operation, environ, start_response)
        if service is not None and target.startswith(ECS_TARGET_PREFIX):
            ecs = EcsDeploymentsService(service.interpreter)
            operation = target.removeprefix(ECS_TARGET_PREFIX)
            if operation in ecs.operations:
                return _answer(ecs, operation, environ, start_response)
        if service is not None and target == ECR_PUT_IMAGE:
            return _put_image(self.moto, service, environ, start_response)
        invoked = _INVOKE.match(environ.get("PATH_INFO", ""))
        runs = self.runs
        if invoked and runs is not None and _function_name(invoked.group(1)) == runs[0]:
            return _invoke(runs[1], environ, start_response)
        return self.moto(environ, start_response)


def _function_name(given: str) -> str:
    """A function's name from its name, or its ARN (arn:aws:lambda:<region>:<account>:function:
    <name>[:<qualifier>]), URL-quoted as botocore sends it."""
    from urllib.parse import unquote

    name = unquote(given)
    if name.startswith("arn:"):
        return name.split(":")[6]
    return name


def _invoke(runs: DirectRuns, environ: Environ, start_response: StartResponse) -> list[bytes]:
    """The invoker's answer, as Lambda returns a function's result: 200 and its JSON."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    try:
        event = json.loads(body or b"{}")
        answer = runs.invoke(event if isinstance(event, dict) else {})
    except ValueError as error:
        answer = {"ok": False, "error": f"not a JSON object: {error}"}
    data = json.dumps(answer).encode()
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            ("X-Amz-Executed-Version", "$LATEST"),
            ("x-amzn-RequestId", str(uuid.uuid4())),
        ],
    )
    return [data]


def _answer(
    service: Answering, operation: str, environ: Environ, start_response: StartResponse
) -> list[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    try:
        request = json.loads(body or b"{}")
        answer = service.call(operation, request)
        status, payload = "200 OK", answer
    except ApiError as error:
        status, payload = "400 Bad Request", {"__type": error.code, "message": str(error)}
    except ValueError as error:
        status, payload = (
            "400 Bad Request",
            {"__type": "ValidationException", "message": str(error)},
        )
    data = json.dumps(payload, default=json_default).encode()
    headers = [
        ("Content-Type", "application/x-amz-json-1.1"),
        ("Content-Length", str(len(data))),
        ("x-amzn-RequestId", str(uuid.uuid4())),
    ]
    if "__type" in payload:
        headers.append(("x-amzn-ErrorType", str(payload["__type"])))
    start_response(status, headers)
    return [data]


def _put_image(
    moto: Application,
    service: CodePipelineService | PipelineRouter,
    environ: Environ,
    start_response: StartResponse,
) -> list[bytes]:
    """moto stores the image; then, as ECR sends its event, the service hears of the push."""
    answered: list[str] = []

    def keep_status(status: str, headers: Any, exc_info: Any = None) -> Any:
        answered.append(status)
        return start_response(status, headers, exc_info)

    chunks = list(moto(environ, keep_status))
    if answered and answered[0].startswith("200"):
        image = json.loads(b"".join(chunks))["image"]
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        tag = image["imageId"].get("imageTag")
        if scope and tag:
            try:
                service.pushed(
                    image["registryId"],
                    scope.group(1),
                    image["repositoryName"],
                    tag,
                    image["imageId"]["imageDigest"],
                )
            except Exception as error:  # the image is stored: the push itself succeeded
                service.interpreter.journal.tell(f"the push of {tag} started nothing: {error!r}")
    return chunks


class Server:
    """werkzeug serving the sandbox's application on host:port (0: a free port), in a thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self.application = SandboxApplication(DomainDispatcherApplication(create_backend_app))
        self.host, self.port = host, port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        import logging

        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        # werkzeug logs every request; the sandbox's own output is the executions' progress.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = make_server(
            self.host,
            self.port,
            self.application,
            threaded=True,
            request_handler=MotoRequestHandler,
        )
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sandbox-server", daemon=True
        )
        self._thread.start()

    def reset(self) -> None:
        """Forget everything moto holds: its backends live as long as the process, and a
        second sandbox in the same process must start from nothing (moto's own reset API)."""
        import urllib.request

        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None
