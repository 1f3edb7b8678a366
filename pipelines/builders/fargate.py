"""What every Fargate task definition here shares: Linux/X86_64, awsvpc, a writable /tmp volume
beside a read-only root, and logs through the awslogs driver."""

from __future__ import annotations

from troposphere import GetAtt, Ref, ecs, iam, logs

TMP_VOLUME = "tmp"


def tmp_mount() -> ecs.MountPoint:
    """The writable scratch directory of a container whose root filesystem is read-only."""
    return ecs.MountPoint(ContainerPath="/tmp", SourceVolume=TMP_VOLUME, ReadOnly=False)


def awslogs(log_group: logs.LogGroup, region: str, stream_prefix: str) -> ecs.LogConfiguration:
    return ecs.LogConfiguration(
        LogDriver="awslogs",
        Options={
            "awslogs-group": Ref(log_group),
            "awslogs-region": region,
            "awslogs-stream-prefix": stream_prefix,
        },
    )


def task_definition(
    title: str,
    *,
    family: str,
    cpu: int,
    memory: int,
    execution_role: iam.Role,
    task_role: iam.Role,
    container: ecs.ContainerDefinition,
) -> ecs.TaskDefinition:
    return ecs.TaskDefinition(
        title,
        Family=family,
        Cpu=str(cpu),
        Memory=str(memory),
        NetworkMode="awsvpc",
        RequiresCompatibilities=["FARGATE"],
        RuntimePlatform=ecs.RuntimePlatform(
            CpuArchitecture="X86_64", OperatingSystemFamily="LINUX"
        ),
        ExecutionRoleArn=GetAtt(execution_role, "Arn"),
        TaskRoleArn=GetAtt(task_role, "Arn"),
        ContainerDefinitions=[container],
        Volumes=[ecs.Volume(Name=TMP_VOLUME)],
    )
