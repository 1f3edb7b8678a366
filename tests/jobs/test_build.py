"""`build`: the kaniko and docker argvs, and the dry run that prints them."""

from __future__ import annotations

import json

from pipelines.jobs import main as jobs
from pipelines.jobs.build import docker_argvs, kaniko_argv


def test_kaniko_argv() -> None:
    assert kaniko_argv(
        context="s3://bucket/ctx.tar.gz",
        destinations=["1.dkr.ecr.eu-west-1.amazonaws.com/shop-web:v1", "1.dkr/x:release"],
        dockerfile="docker/Dockerfile",
        build_args=["VERSION=1.2.3"],
    ) == [
        "/kaniko/executor",
        "--context=s3://bucket/ctx.tar.gz",
        "--dockerfile=docker/Dockerfile",
        "--destination=1.dkr.ecr.eu-west-1.amazonaws.com/shop-web:v1",
        "--destination=1.dkr/x:release",
        "--build-arg=VERSION=1.2.3",
        "--reproducible",
    ]


def test_build_dry_run_prints_the_kaniko_argv(capsys) -> None:
    argv = ["build", "--engine", "kaniko", "--context", "s3://b/c.tar.gz"]
    assert jobs.main([*argv, "--destination", "r/x:1", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        "/kaniko/executor",
        "--context=s3://b/c.tar.gz",
        "--destination=r/x:1",
        "--reproducible",
    ]


def test_docker_argvs_end_options_before_the_context() -> None:
    assert docker_argvs(
        context="src", destinations=["r/x:1"], dockerfile="Dockerfile", build_args=["A=1"]
    ) == [
        [
            "docker",
            "build",
            "--file",
            "src/Dockerfile",
            "--tag",
            "r/x:1",
            "--build-arg",
            "A=1",
            "--",
            "src",
        ],
        ["docker", "push", "--", "r/x:1"],
    ]


def test_the_docker_engine_does_not_build_from_s3(capsys) -> None:
    argv = ["build", "--engine", "docker", "--context", "s3://b/c.tar.gz"]
    assert jobs.main([*argv, "--destination", "r/x:1", "--dry-run"]) == 1
    assert "the docker engine builds a local directory" in capsys.readouterr().err
