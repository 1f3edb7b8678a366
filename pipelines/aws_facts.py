"""Facts about AWS the config is checked against, kept here so the synth path needs no botocore."""

from __future__ import annotations

# Every region name as of late 2026, by partition. A region missing here is a one-line addition.
REGIONS_BY_PARTITION: dict[str, frozenset[str]] = {
    "aws": frozenset(
        {
            "af-south-1",
            "ap-east-1",
            "ap-east-2",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-southeast-5",
            "ap-southeast-6",
            "ap-southeast-7",
            "ca-central-1",
            "ca-west-1",
            "eu-central-1",
            "eu-central-2",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "il-central-1",
            "me-central-1",
            "me-south-1",
            "mx-central-1",
            "sa-east-1",
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
        }
    ),
    "aws-cn": frozenset({"cn-north-1", "cn-northwest-1"}),
    "aws-us-gov": frozenset({"us-gov-east-1", "us-gov-west-1"}),
}

REGIONS: frozenset[str] = frozenset().union(*REGIONS_BY_PARTITION.values())


def partition_of(region: str) -> str:
    for partition, regions in REGIONS_BY_PARTITION.items():
        if region in regions:
            return partition
    raise KeyError(region)


def _fargate_pairs() -> dict[int, tuple[int, ...]]:
    """Fargate's (cpu units -> allowed memory MiB) table, from the ECS task size documentation."""
    gib = 1024
    return {
        256: (512, 1 * gib, 2 * gib),
        512: tuple(range(1 * gib, 4 * gib + 1, gib)),
        1024: tuple(range(2 * gib, 8 * gib + 1, gib)),
        2048: tuple(range(4 * gib, 16 * gib + 1, gib)),
        4096: tuple(range(8 * gib, 30 * gib + 1, gib)),
        8192: tuple(range(16 * gib, 60 * gib + 1, 4 * gib)),
        16384: tuple(range(32 * gib, 120 * gib + 1, 8 * gib)),
    }


FARGATE_MEMORY_BY_CPU: dict[int, tuple[int, ...]] = _fargate_pairs()


def fargate_pair_problem(cpu: int, memory: int) -> str | None:
    """None if (cpu, memory) is a Fargate task size, else a message listing what would be."""
    allowed = FARGATE_MEMORY_BY_CPU.get(cpu)
    if allowed is None:
        cpus = ", ".join(str(c) for c in FARGATE_MEMORY_BY_CPU)
        return f"cpu {cpu} is not a Fargate size; use one of {cpus}"
    if memory not in allowed:
        low, high = allowed[0], allowed[-1]
        step = allowed[1] - allowed[0]
        return (
            f"memory {memory} MiB does not fit cpu {cpu} on Fargate; "
            f"use {low} to {high} MiB in steps of {step}"
            if cpu != 256
            else f"memory {memory} MiB does not fit cpu 256 on Fargate; use 512, 1024 or 2048"
        )
    return None
