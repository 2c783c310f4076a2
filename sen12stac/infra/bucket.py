"""The one definition of the release bucket: policy, publisher policy, CORS, versioning,
lifecycle and public access block, from three values (bucket, release prefix, public or not).

Every statement of the bucket policy, and the lifecycle rule, reaches only the release prefix
(``PREFIX/...``; the whole bucket only when releases sit at its root): a bucket that holds
other things keeps its own rules for them. CORS, versioning and the public access block are
bucket-wide by S3's design.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

POLICY_VERSION = "2012-10-17"
LANDING_CATALOG = "catalog.json"
RELEASE_GLOB = "v*/*"  # what a release is: PREFIX/vX.Y.Z/... (sen12stac.release)
ABORT_MULTIPART_DAYS = 7

# Marks a statement that exists only when released data is public (Fn::If in the template).
PUBLIC_ONLY = "public-only"
# Marks the statements a plain-HTTP endpoint (a local MinIO, moto) cannot live with: they would
# lock every client out. Always in the template (AWS is HTTPS); `apply --allow-http` drops them.
TLS_ONLY = "tls-only"


@dataclass(frozen=True)
class BucketValues:
    """Where the parameters go. For ``apply``: real values; for the template: ``${...}``."""

    bucket: str
    prefix: str  # release prefix without slashes at either end; "" = the bucket's root
    partition: str = "aws"  # aws | aws-cn | aws-us-gov; the template uses ${AWS::Partition}

    def object_arn(self, rest: str) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}/{self.key(rest)}"

    def key(self, rest: str) -> str:
        return f"{self.prefix}/{rest}" if self.prefix else rest

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}"


TEMPLATE_VALUES = BucketValues(bucket="${BucketName}", prefix="${ReleasePrefix}", partition="${AWS::Partition}")
# The plain JSON files: the same placeholders for bucket and prefix, the commercial partition.
FILE_VALUES = BucketValues(bucket="${BucketName}", prefix="${ReleasePrefix}")


@dataclass(frozen=True)
class Statement:
    body: dict[str, Any]
    only_when: str | None = None  # PUBLIC_ONLY, TLS_ONLY or None (always)


# -- the one definition ---------------------------------------------------------------------


def bucket_policy_statements(v: BucketValues) -> list[Statement]:
    landing = v.object_arn(LANDING_CATALOG)
    under_prefix = v.object_arn("*")
    insecure = {"Bool": {"aws:SecureTransport": "false"}}
    if v.prefix:  # listing the release prefix over plain HTTP; other listings are the bucket's business
        insecure_listing = {**insecure, "StringLike": {"s3:prefix": [v.prefix, v.key("*")]}}
    else:
        insecure_listing = insecure
    return [
        Statement({
            "Sid": "DenyInsecureTransportUnderThePrefix",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [under_prefix],
            "Condition": insecure,
        }, only_when=TLS_ONLY),
        Statement({
            "Sid": "DenyInsecureListingOfThePrefix",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:ListBucket",
            "Resource": [v.bucket_arn],
            "Condition": insecure_listing,
        }, only_when=TLS_ONLY),
        # Nothing under the prefix is written blindly: a PUT (or the completion of a multipart
        # upload) carries If-None-Match (create) or If-Match (replace on an ETag).
        Statement({
            "Sid": "CreateOnlyUnderThePrefix",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": [under_prefix],
            "Condition": {"Bool": {"s3:ObjectCreationOperation": "true"}, "Null": {"s3:if-none-match": "true", "s3:if-match": "true"}},
        }),
        # A release is created once and never replaced: its objects only with If-None-Match
        # (an If-Match overwrite is refused too). The landing catalog, outside the release
        # folders, stays replaceable on its ETag.
        Statement({
            "Sid": "ReleasesAreNeverReplaced",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": [v.object_arn(RELEASE_GLOB)],
            "Condition": {"Bool": {"s3:ObjectCreationOperation": "true"}, "Null": {"s3:if-none-match": "true"}},
        }),
        Statement(
            {
                "Sid": "PublicReadOfReleases",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": [landing, v.object_arn(RELEASE_GLOB)],
            },
            only_when=PUBLIC_ONLY,
        ),
    ]


def publisher_policy(v: BucketValues) -> dict[str, Any]:
    """Identity policy of the role or user that runs ``sen12stac publish`` (no delete)."""
    list_prefix = v.key("*")
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "ListReleases",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": v.bucket_arn,
                "Condition": {"StringLike": {"s3:prefix": [list_prefix]}},
            },
            {"Sid": "ReadReleases", "Effect": "Allow", "Action": "s3:GetObject", "Resource": v.object_arn("*")},
            {
                "Sid": "CreateWhereNothingExists",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": v.object_arn("*"),
                "Condition": {"Null": {"s3:if-none-match": "false"}},
            },
            {
                "Sid": "ReplaceTheLandingCatalogOnItsETag",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": v.object_arn(LANDING_CATALOG),
                "Condition": {"Null": {"s3:if-match": "false"}},
            },
        ],
    }


def cors_rules() -> list[dict[str, Any]]:
    """S3 API spelling (``put_bucket_cors``); ``cloudformation.cfn_cors_rules`` renames for CloudFormation."""
    return [
        {
            "ID": "stac-browser-read",
            "AllowedOrigins": ["*"],
            "AllowedMethods": ["GET", "HEAD"],
            "AllowedHeaders": ["Range", "If-None-Match", "If-Modified-Since"],
            "ExposeHeaders": ["ETag", "Content-Range", "Content-Length", "Accept-Ranges", "Last-Modified"],
            "MaxAgeSeconds": 3600,
        }
    ]


def lifecycle_rules(v: BucketValues) -> list[dict[str, Any]]:
    return [
        {
            "ID": "abort-incomplete-multipart-uploads",
            "Status": "Enabled",
            "Filter": {"Prefix": v.key("")},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_MULTIPART_DAYS},
        }
    ]


VERSIONING = {"Status": "Enabled"}


# -- values filled in (apply, tests) -------------------------------------------------------


def bucket_policy(v: BucketValues, *, public: bool, require_tls: bool = True) -> dict[str, Any]:
    wanted = {None} | ({PUBLIC_ONLY} if public else set()) | ({TLS_ONLY} if require_tls else set())
    statements = [copy.deepcopy(s.body) for s in bucket_policy_statements(v) if s.only_when in wanted]
    return {"Version": POLICY_VERSION, "Statement": statements}


def public_access_block(*, public: bool) -> dict[str, bool]:
    """ACLs stay blocked either way; a public bucket lifts only the public-policy part."""
    return {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": not public, "RestrictPublicBuckets": not public}
