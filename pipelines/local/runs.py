"""`pipelines run` against the sandbox: the invoker Lambda's direct invocations, answered here.

moto would run a Lambda function in a container; the sandbox has none. A direct invocation of
the app's invoker (`{"action": "start" | "status" | "stop", ...}`, the event `pipelines run`
sends) is answered as the invoker answers it, with the runs of the rehearsal's runner steps:

- start: the request is admitted with the invoker's own `admit_request` (the allow-list, the
  environment, the release image, the runner's task definition where it runs); a refusal is
  the invoker's `refused` answer. A built-in job that only calls AWS (`cloudformation plan` and
  `apply`) then runs in this process against the sandbox, in the account and Region of the
  environment's runner, with its role; any other job is stood in for: admitted, not run,
  exit code 0. The task is a name, not an ECS task.
- status: the job's output as log events, once; the task is stopped, with the job's exit code.
- stop: nothing runs any more; it says so.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.invoker import names
from pipelines.invoker.allowlist import Refused
from pipelines.invoker.document import RunnersDocument
from pipelines.local import steps
from pipelines.local.clients import ActionClients


@dataclass(frozen=True)
class _Ran:
    exit_code: int
    lines: tuple[str, ...]


class DirectRuns:
    def __init__(self, document: RunnersDocument, clients: ActionClients, region: str) -> None:
        self.document, self.clients, self.region = document, clients, region
        self._lock = threading.Lock()
        self._ran: dict[str, _Ran] = {}  # task -> how its job ended

    def invoke(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The invoker's answer to a direct invocation."""
        action = event.get("action")
        if action == "start":
            return self._start(event)
        if action in ("status", "stop"):
            with self._lock:
                ran = self._ran.get(str(event.get("task")))
            if ran is None:
                return {"ok": False, "error": f"no task {event.get('task')} in the sandbox"}
            if action == "stop":
                return {"ok": True, "stopped": True}
            told = event.get("logToken") == "end"
            return {
                "ok": True,
                "stopped": True,
                "exitCode": ran.exit_code,
                "events": [] if told else [{"message": line} for line in ran.lines],
                "logToken": "end",
            }
        return {"ok": False, "error": f"unknown action {action!r}"}

    def _start(self, event: Mapping[str, Any]) -> dict[str, Any]:
        from pipelines.invoker.handler import admit_request

        request = {k: v for k, v in event.items() if k != "action"}
        try:
            admission = admit_request(self.document, request)
        except Refused as refused:
            return {"ok": False, "refused": refused.reason}
        admitted = admission.admitted
        name = f"{admitted.runner}.{admitted.script}"
        task = f"sandbox/{name}/{uuid.uuid4()}"
        if not steps.runs_in_process(admitted.argv):
            ran = _Ran(
                0,
                (
                    f"stood in: {name} not run by the sandbox; it was admitted against the "
                    f"allow-list ({steps.not_run_because(admitted.argv)})",
                ),
            )
        else:
            ran = self._run(
                admission.target,
                admitted.argv,
                admitted.runner,
                admitted.script,
                admission.environment,
            )
        with self._lock:
            self._ran[task] = ran
        return {"ok": True, "task": task, "logs": "(the sandbox keeps the job's output)"}

    def _run(
        self,
        target_name: str | None,
        argv: tuple[str, ...],
        runner: str,
        script: str,
        environment: str | None,
    ) -> _Ran:
        """The built-in job in this process, as the environment's runner (its invoke role, in
        its account and Region), or on the toolchain with the account's credentials."""
        if target_name is not None:
            target = self.document.targets[target_name]
            role: str | None = target.role
            region = target.region
        else:
            role, region = None, self.document.region or self.region

        def client(service: str) -> Any:
            return self.clients.client(service, role, region)

        variables = {
            names.RUNNER_VARIABLE: runner,
            names.SCRIPT_VARIABLE: script,
            names.ENVIRONMENT_VARIABLE: environment or "",
        }
        job = steps.run_job(argv, client=client, variables=variables, artifacts={})
        return _Ran(job.exit_code, job.lines)
