"""What an app creates that is billed every month, deployed or idle: counted from the templates.

`pipelines synth --cost` prints it, so that a team sees each environment's fixed cost items
before deploying. It gives counts and pricing pages, never prices: the project's documentation
search held no current AWS price for these items when this was written (2026-12-02), and a price
typed in here would be out of date without anyone noticing. Multiply by the price on each page.

What is counted, and why it costs money every month:
- customer managed KMS keys: a monthly fee each, plus requests (AWS KMS keys,
  https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html);
- ECS clusters with Container Insights: its metrics are charged as CloudWatch custom metrics
  (https://docs.aws.amazon.com/batch/latest/userguide/cloudwatch-container-insights.html);
- load-balancer listener rules: the load balancer's capacity units count rule evaluations;
- Fargate tasks that always run: each service's desired count at its CPU and memory.

Only the standard library: synth imports this lazily, and only with --cost.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TOOLCHAIN = "toolchain"
KMS_PRICING = "https://aws.amazon.com/kms/pricing/"
CLOUDWATCH_PRICING = "https://aws.amazon.com/cloudwatch/pricing/"
ELB_PRICING = "https://aws.amazon.com/elasticloadbalancing/pricing/"
FARGATE_PRICING = "https://aws.amazon.com/fargate/pricing/"
INSIGHTS_ON = ("enabled", "enhanced")

NOT_INCLUDED = (
    "NAT gateways or VPC endpoints for private subnets, and the load balancer itself: you "
    "provide them, the templates only use them",
    "usage: CodePipeline action minutes, log ingestion and storage, ECR and S3 storage, "
    "KMS and API requests, data transfer, runner jobs while they run",
)


@dataclass
class Scope:
    """The fixed cost items of one environment, or of the toolchain."""

    name: str
    keys: int = 0
    insights_clusters: int = 0
    listener_rules: int = 0
    # (service, desired count, cpu units, memory MiB) for services that always run
    tasks: list[tuple[str, int, str, str]] = field(default_factory=list)

    @property
    def always_on(self) -> str:
        if not self.tasks:
            return "-"
        return ", ".join(f"{n} x {cpu} CPU/{mem} MiB ({svc})" for svc, n, cpu, mem in self.tasks)


def fixed_cost(manifest: bytes, files: Mapping[str, bytes]) -> list[Scope]:
    """Per environment (in promotion order, the toolchain first), what costs every month."""
    data = json.loads(manifest)
    scopes = {TOOLCHAIN: Scope(TOOLCHAIN)}
    scopes.update({env: Scope(env) for env in data["promotion"]})
    for entry in data["stacks"]:
        scope = scopes[entry.get("environment") or TOOLCHAIN]
        resources: dict[str, Any] = json.loads(files[entry["file"]]).get("Resources", {})
        for resource in resources.values():
            kind, properties = resource["Type"], resource.get("Properties", {})
            if kind == "AWS::KMS::Key":
                scope.keys += 1
            elif kind == "AWS::ECS::Cluster" and _insights(properties):
                scope.insights_clusters += 1
            elif kind == "AWS::ElasticLoadBalancingV2::ListenerRule":
                scope.listener_rules += 1
            elif kind == "AWS::ECS::Service":
                task = _task(resources, properties)
                if task is not None:
                    scope.tasks.append((entry.get("service") or entry["name"], *task))
    return list(scopes.values())


def _insights(properties: dict[str, Any]) -> bool:
    return any(
        s.get("Name") == "containerInsights" and s.get("Value") in INSIGHTS_ON
        for s in properties.get("ClusterSettings", [])
    )


def _task(resources: dict[str, Any], service: dict[str, Any]) -> tuple[int, str, str] | None:
    count = service.get("DesiredCount")
    reference = service.get("TaskDefinition")
    if not isinstance(count, int) or not isinstance(reference, dict) or "Ref" not in reference:
        return None
    definition = resources.get(reference["Ref"], {}).get("Properties", {})
    return count, str(definition.get("Cpu", "?")), str(definition.get("Memory", "?"))


def cost_lines(scopes: list[Scope]) -> list[str]:
    rows = [("", "KMS keys", "Container Insights clusters", "listener rules", "always-on tasks")]
    for s in scopes:
        rows.append(
            (s.name, str(s.keys), str(s.insights_clusters), str(s.listener_rules), s.always_on)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return [
        "fixed monthly cost items (counted from the templates; no prices, see the pages):",
        *table,
        f"  KMS keys: a monthly fee per key, plus requests: {KMS_PRICING}",
        f"  Container Insights: charged as CloudWatch custom metrics: {CLOUDWATCH_PRICING}",
        f"  listener rules: rule evaluations count in the load balancer's LCUs: {ELB_PRICING}",
        f"  always-on tasks: Fargate, by the vCPU and GB of memory they ask for: {FARGATE_PRICING}",
        "  not included:",
        *(f"    {item}" for item in NOT_INCLUDED),
    ]
