"""The artifact buckets: templates.zip for the pipeline, and templates too big to send inline.

The buckets belong to the toolchain account: `<app>-artifacts-<account>-<region>`, made by the
pipeline stack for the toolchain region and by `<app>-artifacts-<region>` for the others.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from pipelines.aws.bundle import sha256
from pipelines.aws.errors import error_code
from pipelines.aws.manifest import Manifest, StackEntry
from pipelines.aws.session import Clients

SHA_METADATA = "sha256"  # S3 user metadata: the SHA-256 of the object's bytes
TEMPLATE_PREFIX = "templates/"
MISSING = {"404", "NoSuchBucket", "NoSuchKey", "NotFound"}


def bucket_exists(s3: Any, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        if error_code(error) in MISSING:
            return False
        raise
    return True


def _stored_sha(s3: Any, bucket: str, key: str) -> str | None:
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error_code(error) in MISSING:
            return None
        raise
    stored: str | None = head.get("Metadata", {}).get(SHA_METADATA)
    return stored


def toolchain_s3(clients: Clients, manifest: Manifest) -> Any:
    return clients.client("s3", manifest.toolchain_account, manifest.toolchain_region)


def bundle_is_current(clients: Clients, manifest: Manifest, bundle: bytes) -> bool | None:
    """Whether the bucket's templates.zip has these bytes; None if the bucket does not exist."""
    s3 = toolchain_s3(clients, manifest)
    if not bucket_exists(s3, manifest.artifact_bucket):
        return None
    return _stored_sha(s3, manifest.artifact_bucket, manifest.templates_bundle) == sha256(bundle)


def publish_bundle(clients: Clients, manifest: Manifest, bundle: bytes) -> bool:
    """Upload templates.zip unless the bucket already holds these bytes. True if uploaded."""
    s3 = toolchain_s3(clients, manifest)
    digest = sha256(bundle)
    if _stored_sha(s3, manifest.artifact_bucket, manifest.templates_bundle) == digest:
        return False
    s3.put_object(
        Bucket=manifest.artifact_bucket,
        Key=manifest.templates_bundle,
        Body=bundle,
        ContentType="application/zip",
        Metadata={SHA_METADATA: digest},
    )
    return True


def publish_asset(clients: Clients, manifest: Manifest, key: str, body: bytes) -> bool:
    """Upload a file synth wrote (the invoker's package) unless already there. True if uploaded.

    Its key names its SHA-256, so a changed package is a new key and the stack that reads it
    sees a change.
    """
    s3 = toolchain_s3(clients, manifest)
    digest = sha256(body)
    if _stored_sha(s3, manifest.artifact_bucket, key) == digest:
        return False
    s3.put_object(
        Bucket=manifest.artifact_bucket,
        Key=key,
        Body=body,
        ContentType="application/zip",
        Metadata={SHA_METADATA: digest},
    )
    return True


def template_url(clients: Clients, manifest: Manifest, entry: StackEntry, body: bytes) -> str:
    """Upload a template to its region's artifact bucket (once per content) and return its URL.

    The key is the SHA-256 of the bytes, so the URL names exactly this template.
    """
    bucket = manifest.artifact_bucket_in(entry.region)
    key = f"{TEMPLATE_PREFIX}{entry.sha256}.json"
    s3 = clients.client("s3", manifest.toolchain_account, entry.region)
    if _stored_sha(s3, bucket, key) != entry.sha256:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            Metadata={SHA_METADATA: entry.sha256},
        )
    suffix = ".cn" if entry.region.startswith("cn-") else ""
    return f"https://{bucket}.s3.{entry.region}.amazonaws.com{suffix}/{key}"
