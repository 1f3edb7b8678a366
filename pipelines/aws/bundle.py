"""templates.zip, which the pipeline's Templates source reads: the same templates, the same bytes.

Fixed timestamps, permissions and order make the zip a function of its contents, so its SHA-256
tells whether the copy in the artifact bucket is current, and an unchanged upload is skipped
(the bucket is versioned: every upload would otherwise add a version).
"""

from __future__ import annotations

import hashlib
import io
import zipfile

from pipelines.aws.manifest import MANIFEST, Manifest

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
UNIX = 3


def templates_zip(manifest: Manifest) -> bytes:
    """Every template, at the root of the zip where the pipeline's TemplatePath expects it,
    and manifest.json."""
    files = {entry.file: manifest.body(entry) for entry in manifest.stacks}
    files[MANIFEST] = (manifest.directory / MANIFEST).read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = UNIX
            info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
            archive.writestr(info, files[name], compresslevel=9)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
