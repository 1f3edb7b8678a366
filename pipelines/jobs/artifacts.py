"""Input artifacts: `Artifact::path` made a local path, from S3 or a presigned link.

Also where a job's AWS clients are made (`client`), so that the rehearsal can hand it its own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.invoker import names
from pipelines.jobs.errors import JobError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
DOWNLOAD_TIMEOUT = 120

ClientMaker = Callable[[str], Any]
Downloader = Callable[[str, str, Path], None]


def client(service: str) -> Any:
    import boto3  # only jobs that talk to AWS need it

    # A service named at run time: boto3-stubs types client() per literal name.
    make: Callable[..., Any] = boto3.client
    return make(service)


def materialize(
    ref: str,
    workspace: Path,
    *,
    make_client: ClientMaker = client,
    fetch: Downloader | None = None,
) -> Path:
    """A local path for `path` or `Artifact::path` (downloading and unzipping the artifact).

    The artifact's location is `s3://bucket/key` (read with the task role, on the toolchain's
    runner) or a presigned `https://` link (a job in an environment's account, whose role cannot
    read the toolchain's bucket). Plain `http://` only to a loopback address.
    """
    name, sep, inner = ref.partition("::")
    if not sep:
        return Path(ref)
    locations = json.loads(os.environ.get(names.ARTIFACTS_VARIABLE) or "{}")
    if name not in locations:
        have = ", ".join(sorted(locations)) or "none"
        raise JobError(f"no input artifact {name!r} (this job has: {have})")
    root = workspace / name
    if not root.exists():
        location = locations[name]
        archive = workspace / f"{name}.zip"
        if is_link(location):
            (fetch or download)(name, location, archive)
        else:
            bucket, key = s3_parts(location)
            make_client("s3").download_file(bucket, key, str(archive))
        try:
            bundle = zipfile.ZipFile(archive)
        except zipfile.BadZipFile:
            raise JobError(f"artifact {name!r} is not a zip archive") from None
        with bundle:
            for member in bundle.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise JobError(f"artifact {name!r} holds an unsafe path {member!r}")
            bundle.extractall(root)
    path = (root / inner).resolve()
    if not path.is_relative_to(root.resolve()):
        raise JobError(f"{ref!r} points outside the artifact")
    return path


def is_link(location: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(location)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK)


def download(name: str, url: str, archive: Path) -> None:
    """GET a presigned link to a file; errors name the host and path, never the signature."""
    from urllib.error import URLError
    from urllib.parse import urlsplit
    from urllib.request import urlopen

    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.netloc}{parts.path}"
    try:
        with urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response, archive.open("wb") as out:
            shutil.copyfileobj(response, out)
    except URLError as error:  # HTTPError too: 403 once the link has expired
        code = getattr(error, "code", None)
        why = f"HTTP {code}" if code else str(getattr(error, "reason", error))
        raise JobError(f"cannot download artifact {name!r} from {shown}: {why}") from None
    except OSError as error:
        raise JobError(f"cannot download artifact {name!r} from {shown}: {error}") from None


def s3_parts(uri: str) -> tuple[str, str]:
    match = re.fullmatch(r"s3://([^/]+)/(.+)", uri)
    if not match:
        raise JobError(f"not an s3://bucket/key or https:// location: {uri[:80]!r}")
    return match.group(1), match.group(2)
