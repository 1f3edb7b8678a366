"""Input artifacts by presigned link (jobs in an environment's account), served by a local
HTTP server: downloaded, unzipped with the safety checks, errors without the signature."""

from __future__ import annotations

import http.server
import io
import json
import threading
import zipfile
from pathlib import Path
from typing import ClassVar

import pytest

from pipelines.invoker import names
from pipelines.jobs.artifacts import materialize
from pipelines.jobs.errors import JobError


class _Artifacts(http.server.BaseHTTPRequestHandler):
    """Serves zip archives by path, like S3 answers a presigned GET (the query is ignored)."""

    files: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.files.get(self.path.split("?", 1)[0])
        if body is None:
            self.send_error(403, "Request has expired")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def _zip(**members: str) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        for name, text in members.items():
            bundle.writestr(name.replace("__", "/"), text)
    return archive.getvalue()


@pytest.fixture
def links(monkeypatch: pytest.MonkeyPatch):
    """A local HTTP server in a thread; yields a function pointing an artifact at a path."""
    _Artifacts.files = {
        "/p/Templates/k.zip": _zip(**{"shop-dev-web.json": "{}", "nested__a.txt": "a"}),
        "/p/Evil/k.zip": _zip(**{"..__escape.txt": "x"}),
        "/p/Junk/k.zip": b"not a zip",
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Artifacts)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def point(**artifacts: str) -> None:
        monkeypatch.setenv(
            names.ARTIFACTS_VARIABLE,
            json.dumps({k: f"{base}{v}?X-Amz-Signature=s3cr3t" for k, v in artifacts.items()}),
        )

    try:
        yield point
    finally:
        server.shutdown()
        server.server_close()


def test_an_artifact_link_is_downloaded_and_unzipped(links, tmp_path: Path) -> None:
    links(Templates="/p/Templates/k.zip")
    path = materialize("Templates::shop-dev-web.json", tmp_path)
    assert path == (tmp_path / "Templates" / "shop-dev-web.json").resolve()
    assert path.read_text() == "{}"
    assert materialize("Templates::nested/a.txt", tmp_path).read_text() == "a"
    with pytest.raises(JobError, match="points outside the artifact"):
        materialize("Templates::../../etc/passwd", tmp_path)


def test_an_artifact_link_keeps_the_unzip_safety_checks(links, tmp_path: Path) -> None:
    links(Evil="/p/Evil/k.zip", Junk="/p/Junk/k.zip")
    with pytest.raises(JobError, match=r"artifact 'Evil' holds an unsafe path '\.\./escape\.txt'"):
        materialize("Evil::escape.txt", tmp_path)
    assert not (tmp_path / "escape.txt").exists()
    with pytest.raises(JobError, match="artifact 'Junk' is not a zip archive"):
        materialize("Junk::x", tmp_path)


def test_a_failed_download_names_the_link_but_not_its_signature(links, tmp_path: Path) -> None:
    links(Templates="/p/Expired/k.zip")
    with pytest.raises(JobError) as caught:
        materialize("Templates::shop-dev-web.json", tmp_path)
    message = str(caught.value)
    assert "cannot download artifact 'Templates' from http://127.0.0.1:" in message
    assert message.endswith("/p/Expired/k.zip: HTTP 403")
    assert "s3cr3t" not in message


@pytest.mark.parametrize(
    "location",
    [
        "http://example.com/p/Templates/k.zip",  # plain HTTP off this machine
        "ftp://127.0.0.1/k.zip",
        "file:///etc/passwd",
    ],
)
def test_only_https_links_leave_the_machine(monkeypatch, tmp_path: Path, location: str) -> None:
    monkeypatch.setenv(names.ARTIFACTS_VARIABLE, json.dumps({"Templates": location}))
    with pytest.raises(JobError, match="not an s3://bucket/key or https:// location"):
        materialize("Templates::x", tmp_path)
