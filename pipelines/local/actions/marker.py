"""The release marker: `Invoke/AWS/Lambda` on the app's marker function.

Its own handler (pipelines/release_marker.py) runs in this process, as Lambda would call it for
CodePipeline's job, against the embedded ECR as the deployed function's role; the job result it
reports (PutJobSuccessResult or PutJobFailureResult, checked against CodePipeline's API shapes
by `JobResults`) decides the action.
"""

from __future__ import annotations

import uuid
from typing import Any

from botocore.exceptions import ClientError

from pipelines.local.actions.context import ActionResult, ActionRun, Context
from pipelines.local.execution import ActionFailed, RehearsalError


def release_marker(context: Context, run: ActionRun) -> ActionResult:
    """The marker's own handler, called with CodePipeline's job event, acting on ECR as the
    deployed function's role; the result it reports to CodePipeline decides the action."""
    from pipelines import release_marker

    name, region = run.config["FunctionName"], run.region
    try:
        function = context.clients.client("lambda", None, region).get_function(FunctionName=name)
    except ClientError as error:
        raise ActionFailed(
            f"Lambda {name} in {context.account} {region}: {error}; is the pipeline stack deployed?"
        ) from None
    job_id = str(uuid.uuid4())
    job = {
        "id": job_id,
        "accountId": context.account,
        "data": {"actionConfiguration": {"configuration": dict(run.config)}},
    }
    results = JobResults(job_id)
    release_marker.handler(
        {"CodePipeline.job": job},
        None,
        ecr=context.clients.client("ecr", function["Configuration"]["Role"], region),
        codepipeline=results,
    )
    if results.failure is not None:
        context.record(run, "marker failed", results.failure)
        raise ActionFailed(f"the release marker reported a failure: {results.failure}")
    if results.summary is None:
        raise RehearsalError(f"{name} reported no result for its CodePipeline job")
    context.record(run, "marked", results.summary)
    return ActionResult(f"tagged {results.summary}")


class JobResults:
    """CodePipeline's end of a Lambda job in the rehearsal: takes the job result the function
    reports, after checking the request against CodePipeline's API shapes (moto does not
    implement PutJobSuccessResult or PutJobFailureResult)."""

    def __init__(self, job_id: str) -> None:
        import botocore.session

        self.job_id = job_id
        self.summary: str | None = None
        self.failure: str | None = None
        self._model = botocore.session.get_session().get_service_model("codepipeline")

    def _check(self, operation: str, params: dict[str, Any]) -> None:
        from botocore.validate import validate_parameters

        shape = self._model.operation_model(operation).input_shape
        if shape is None:
            raise RehearsalError(f"{operation}: botocore has no request shape for it")
        validate_parameters(params, shape)
        if params["jobId"] != self.job_id:
            raise RehearsalError(f"{operation} for job {params['jobId']}, not {self.job_id}")
        if self.summary is not None or self.failure is not None:
            raise RehearsalError(f"{operation}: the job {self.job_id} has a result already")

    # The two calls the handler makes on its `codepipeline` client, keyword arguments as boto3's.

    def put_job_success_result(self, **params: Any) -> dict[str, Any]:
        self._check("PutJobSuccessResult", params)
        self.summary = params.get("executionDetails", {}).get("summary", "")
        return {}

    def put_job_failure_result(self, **params: Any) -> dict[str, Any]:
        self._check("PutJobFailureResult", params)
        self.failure = params["failureDetails"]["message"]
        return {}
