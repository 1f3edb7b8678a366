"""What ECS itself says is running, for checking it against what the stacks say."""

from __future__ import annotations

from typing import Any


def running_image(ecs: Any, cluster: str, service: str) -> str | None:
    """The image of the task definition `service` runs, or None if there is no such service."""
    found = ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
    if not found:
        return None
    task_definition = ecs.describe_task_definition(taskDefinition=found[0]["taskDefinition"])
    containers = task_definition["taskDefinition"].get("containerDefinitions", [])
    return containers[0].get("image") if containers else None
