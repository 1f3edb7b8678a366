"""The text patterns several parts of the tool must agree on, defined once.

A leaf module: it imports nothing of pipelines, so the config, the builders, the AWS verbs, the
rehearsal and the invoker Lambda (whose bundle carries it) all use the same definitions.
"""

from __future__ import annotations

import re

# An image digest, as ECR and Docker write it.
DIGEST = r"sha256:[0-9a-f]{64}"
# An image reference pinned by digest: `<registry>/<repository>@sha256:<64 hex>`.
IMAGE_BY_DIGEST = rf"[^@\s]+@{DIGEST}"
# A CodePipeline variable reference, `#{Namespace.Name}`; the groups are the two names.
VARIABLE = re.compile(r"#\{([A-Za-z0-9@_-]+)\.([A-Za-z0-9@_-]+)\}")
