"""The app's stacks that the manifest no longer names: what a removed service or environment left.

Every stack deploy creates carries the tag `pipelines:app` (and `pipelines:environment`,
`pipelines:service` where they apply), so the app's stacks are found by that tag, in every
account and region the manifest names (the toolchain's and each environment's). A stack found
there that the manifest does not name at that account and region is an orphan: `pipelines diff`
lists it, `pipelines deploy --prune` deletes it (through `destroy`'s machinery).

What this cannot see: a stack in an account and region the manifest no longer names at all (an
environment removed together with the only account or region it used). docs/operating.md says
how to handle that: `pipelines destroy --env ENV` before removing it from the YAML.

AWS behaviour relied on:
- DescribeStacks without a StackName "returns the description for all the stacks created",
  with their tags, page by page (NextToken); deleted stacks are named only by their stack ID
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html).
  DELETE_COMPLETE is skipped all the same.
- A nested stack has a ParentId and is deleted with its root stack
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html); the
  app makes none, and one found is left to its root.
- ListStackResources pages through a stack's resources: their count is what the orphan holds
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListStackResources.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipelines import naming
from pipelines.aws.cloudformation import Live, live_of
from pipelines.aws.errors import OperationError, explain
from pipelines.aws.manifest import Manifest, StackEntry
from pipelines.aws.session import Clients
from pipelines.aws.stackplan import parallel

APP_TAG = "pipelines:app"
ENVIRONMENT_TAG = "pipelines:environment"
SERVICE_TAG = "pipelines:service"


@dataclass(frozen=True)
class Orphan:
    """A live stack of the app that the manifest does not name where it runs."""

    entry: StackEntry  # made from the live stack; its kind is read from its name and tags
    live: Live
    resources: int

    def line(self) -> str:
        e = self.entry
        where = f"{e.account}, {e.region}"
        scope = f"environment {e.environment}" if e.environment else "toolchain"
        if e.service:
            scope += f", service {e.service}"
        count = f"{self.resources} resource{'s' * (self.resources != 1)}"
        return f"  {e.name} ({where}; {scope}; {count}; {self.live.status})"


def places(manifest: Manifest) -> list[tuple[str, str]]:
    """Every account and region the manifest names: where the app's stacks can be found."""
    named = {(manifest.toolchain_account, manifest.toolchain_region)}
    named |= {(e.account, e.region) for e in manifest.stacks}
    return sorted(named)


def find_orphans(clients: Clients, manifest: Manifest) -> list[Orphan]:
    """The app's live stacks that the manifest does not name, in name order per place."""
    named = {(e.account, e.region, e.name) for e in manifest.stacks}

    def look(place: tuple[str, str]) -> list[Orphan]:
        account, region = place
        try:
            cfn = clients.client("cloudformation", account, region)
            found = []
            for page in cfn.get_paginator("describe_stacks").paginate():
                for stack in page["Stacks"]:
                    tags = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}
                    if (
                        tags.get(APP_TAG) == manifest.app
                        and stack["StackStatus"] != "DELETE_COMPLETE"
                        and not stack.get("ParentId")
                        and (account, region, stack["StackName"]) not in named
                    ):
                        found.append(_orphan(cfn, manifest.app, account, region, stack, tags))
            return sorted(found, key=lambda o: o.entry.name)
        except (ClientError, BotoCoreError) as error:
            explained = explain(error, clients.where(account, region))
            raise OperationError(
                f"cannot list the stacks of {manifest.app} in {account}, {region}: {explained}. "
                "Nothing was changed; fix the access (cloudformation:DescribeStacks and "
                "ListStackResources) and re-run",
                explained.exit_code,
            ) from None

    return [orphan for found in parallel(look, places(manifest)) for orphan in found]


def _orphan(
    cfn: Any, app: str, account: str, region: str, stack: dict[str, Any], tags: dict[str, str]
) -> Orphan:
    live = live_of(stack)
    env, service = tags.get(ENVIRONMENT_TAG), tags.get(SERVICE_TAG)
    resources = sum(
        len(page["StackResourceSummaries"])
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=live.stack_id)
    )
    kind = stack_kind(app, live.name, env, service, region)
    entry = StackEntry(
        name=live.name,
        kind=kind,
        file="",
        account=account,
        region=region,
        environment=env,
        service=service,
        needs=(),
        wave=0,
        parameters={},
        capabilities=(),
        tags={k: v for k, v in tags.items() if k.startswith("pipelines:")},
        upload_to_s3=False,
        sha256="",
    )
    return Orphan(entry, live, resources)


def stack_kind(app: str, name: str, env: str | None, service: str | None, region: str) -> str:
    """The kind synth gave a stack of this name and tags (manifest.json's `kind`)."""
    if env and service and name == naming.service_stack(app, env, service):
        return "service"
    if env and name == naming.env_runner_stack(app, env):
        return "environment-runner"
    if env and name == naming.deploy_stack(app, env):
        return "deploy"
    toolchain = {
        naming.source_stack(app): "source",
        naming.pipeline_stack(app): "pipeline",
        naming.runner_stack(app): "runner",
        naming.artifacts_stack(app, region): "artifacts",
    }
    return toolchain.get(name, "unknown")
