"""JSON Schema of the YAML files, for editors (yaml-language-server) to complete and check."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from pipelines.config.models import EnvironmentFile, PipelineFile

SCHEMAS: dict[str, type[BaseModel]] = {"pipeline": PipelineFile, "environment": EnvironmentFile}


def json_schema(kind: str) -> dict[str, Any]:
    model = SCHEMAS[kind]
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = (
        "pipelines: environments/pipeline.yaml"
        if kind == "pipeline"
        else "pipelines: environments/<environment>.yaml"
    )
    return schema
