"""What runners.json means where pipeline.yaml leaves a key out, read by synth and the invoker.

A module of constants alone: the config models take their defaults from it on every synth, and
document.py, which parses the whole file, is needed only where runners are configured.
"""

from __future__ import annotations

from typing import Any

# A runner whose image is this runs the image being promoted, pinned by digest (migrations).
RELEASE_IMAGE = "release"
# What a positional argument may look like when a script allows them and sets no pattern of its
# own: no leading dash (it would read as an option), no shell or control characters.
# A word or a relative path: never absolute (a leading /), never climbing out (a .. segment).
DEFAULT_POSITIONAL_PATTERN = r"(?!.*(?:^|/)\.\.(?:/|$))[A-Za-z0-9_.:@+][A-Za-z0-9_./:@+=,-]{0,255}"
# What a key of a runner or a script left out of pipeline.yaml means: config/runner_spec.py's
# models take their defaults from here, so that synth and the invoker read one table.
RUNNER_DEFAULTS: dict[str, Any] = {
    "cpu": 256,
    "memory": 512,
    "max_wait_minutes": 60,
    "permissions": [],
    "secrets": {},
    "privileged": False,
}
SCRIPT_DEFAULTS: dict[str, Any] = {
    "options": [],
    "allowed_options": {},
    "positional": False,
    "positional_pattern": DEFAULT_POSITIONAL_PATTERN,
}
