"""The cross-file rules: what schema validation of one file cannot see. One module per rule (or
per closely related group), each rule a plain function returning the problems it finds.

The loader runs them in three groups, in this order:

- `ENVIRONMENT_RULES`, on each environment file (in promotion order) with pipeline.yaml;
- `PIPELINE_RULES`, on pipeline.yaml; problems from these two stop the load before the Project
  is built;
- `PROJECT_RULES` on the built Project, then `LATER_PROJECT_RULES` only if those found nothing
  (names are worth checking only once the runners and steps that make them can work).
"""

from __future__ import annotations

from collections.abc import Callable

from pipelines.config.models import EnvironmentFile, PipelineFile, Project
from pipelines.config.rules.bake import alarms_make_distinct_bake_rules
from pipelines.config.rules.documents import Documents, key_of, problem_at
from pipelines.config.rules.hooks import hooks_work
from pipelines.config.rules.image_tags import (
    deployed_tags_distinct,
    release_tag_not_deployed_prefix,
)
from pipelines.config.rules.images import (
    one_image_form,
    repositories_distinct,
    services_name_known_images,
    steps_name_their_image,
)
from pipelines.config.rules.listeners import listener_fits_environment, listener_priorities_distinct
from pipelines.config.rules.name_clashes import names_distinct
from pipelines.config.rules.name_lengths import resource_names_fit, runner_role_names_fit
from pipelines.config.rules.partitions import (
    push_principals_in_toolchain_partition,
    region_in_toolchain_partition,
)
from pipelines.config.rules.prefixes import service_names_outside_denied_prefixes
from pipelines.config.rules.rollout import rollout_settings_work
from pipelines.config.rules.services import services_known_with_local_secrets
from pipelines.config.rules.steps import runners_and_steps_work
from pipelines.config.rules.strategies import approvals_and_windows_work, strategies_work
from pipelines.config.yaml_source import Document
from pipelines.errors import Problem

# (pipeline.yaml, environment name, its file, its document)
EnvironmentRule = Callable[[PipelineFile, str, EnvironmentFile, Document], list[Problem]]
PipelineRule = Callable[[PipelineFile, Document], list[Problem]]
ProjectRule = Callable[[Project, Documents], list[Problem]]

ENVIRONMENT_RULES: tuple[EnvironmentRule, ...] = (
    region_in_toolchain_partition,
    services_known_with_local_secrets,
    alarms_make_distinct_bake_rules,
    listener_fits_environment,
    resource_names_fit,
    steps_name_their_image,
)
PIPELINE_RULES: tuple[PipelineRule, ...] = (
    one_image_form,
    services_name_known_images,
    repositories_distinct,
    release_tag_not_deployed_prefix,
    deployed_tags_distinct,
    push_principals_in_toolchain_partition,
)
PROJECT_RULES: tuple[ProjectRule, ...] = (
    rollout_settings_work,
    strategies_work,
    approvals_and_windows_work,
    runners_and_steps_work,
    hooks_work,
)
LATER_PROJECT_RULES: tuple[ProjectRule, ...] = (
    runner_role_names_fit,
    names_distinct,
    service_names_outside_denied_prefixes,
    listener_priorities_distinct,
)

__all__ = [
    "ENVIRONMENT_RULES",
    "LATER_PROJECT_RULES",
    "PIPELINE_RULES",
    "PROJECT_RULES",
    "Documents",
    "EnvironmentRule",
    "PipelineRule",
    "ProjectRule",
    "key_of",
    "problem_at",
]
