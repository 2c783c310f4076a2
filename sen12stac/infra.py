"""The release bucket as code: ONE definition of its policy, CORS, versioning and lifecycle.

Everything the bucket needs is built here, by plain functions, from three values: the
bucket name, the release prefix and whether released data is public. Two consumers read
the same functions:

* ``sen12stac infra apply s3://bucket/prefix`` (:func:`apply`, boto3, any S3 endpoint)
  puts them on a bucket with the values filled in;
* ``scripts/make_infra.py`` renders them into the CloudFormation template
  ``infra/bucket.yaml`` and the plain JSON files beside it, with the values as template
  parameters (``${BucketName}``, ``${ReleasePrefix}``; statements that exist only for a
  public bucket under ``Fn::If``). ``tests/test_infra.py`` regenerates and compares, so the
  files cannot drift from this module.

Why Python and not JSON files read by both: the policy depends on the parameters (which
statements exist, which ARNs) and CloudFormation needs intrinsic functions exactly where
``apply`` needs plain strings. One function that knows where each parameter goes emits
both; a JSON file would need a templating step of its own and cannot express "only when
public". The module ships in the wheel, so ``infra apply`` needs no data files.

The rules (docs: ``infra/README.md``):

* private by default; with ``public=True`` anonymous principals get ``s3:GetObject`` on the
  released data only: the landing catalog ``PREFIX/catalog.json`` and the release folders
  ``PREFIX/v*/``. No public list, no public write, nothing else readable;
* plain-HTTP requests are denied;
* immutability on the server, for every principal: an object is created only with
  ``If-None-Match: *`` (S3 answers 412 when the key exists), and the only object that may be
  replaced (with ``If-Match: <ETag>``) is the landing catalog. Unconditional PUTs, and
  ``If-Match`` overwrites of anything else, are denied by the bucket policy (condition keys
  ``s3:if-none-match`` / ``s3:if-match``; ``s3:ObjectCreationOperation`` exempts the parts of
  a multipart upload, whose completion is still checked);
* CORS: GET and HEAD from any origin (STAC Browser and COG viewers on other origins);
* versioning on; a lifecycle rule aborts multipart uploads left incomplete for 7 days;
* the publisher (an IAM managed policy in the template) may list and read the prefix,
  create objects there conditionally and replace the landing catalog; no delete.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import ConfigError, StoreError

POLICY_VERSION = "2012-10-17"
LANDING_CATALOG = "catalog.json"
RELEASE_GLOB = "v*/*"  # what a release is: PREFIX/vX.Y.Z/... (sen12stac.release)
ABORT_MULTIPART_DAYS = 7

# Marks a statement that exists only when released data is public (Fn::If in the template).
PUBLIC_ONLY = "public-only"
# Marks the statement a plain-HTTP endpoint (a local MinIO, moto) cannot live with: it would
# lock every client out. Always in the template (AWS is HTTPS); `apply --allow-http` drops it.
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
    return [
        Statement({
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [v.bucket_arn, f"{v.bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }, only_when=TLS_ONLY),
        # Everything but the landing catalog: created once, never replaced. A PUT (or the
        # completion of a multipart upload) without If-None-Match is refused -- that covers
        # unconditional overwrites and If-Match overwrites alike.
        Statement({
            "Sid": "CreateOnlyOutsideTheLandingCatalog",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "NotResource": [landing],
            "Condition": {"Bool": {"s3:ObjectCreationOperation": "true"}, "Null": {"s3:if-none-match": "true"}},
        }),
        # The landing catalog: created (If-None-Match) or replaced on its ETag (If-Match), never blindly.
        Statement({
            "Sid": "LandingCatalogOnlyConditionally",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": [landing],
            "Condition": {"Null": {"s3:if-none-match": "true", "s3:if-match": "true"}},
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
    """S3 API spelling (``put_bucket_cors``); :func:`cfn_cors_rules` renames for CloudFormation."""
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


def lifecycle_rules() -> list[dict[str, Any]]:
    return [
        {
            "ID": "abort-incomplete-multipart-uploads",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
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


# -- CloudFormation rendering --------------------------------------------------------------


def _cfn(node: Any) -> Any:
    """Strings with ${Param} become Fn::Sub."""
    if isinstance(node, str):
        return {"Fn::Sub": node} if "${" in node else node
    if isinstance(node, list):
        return [_cfn(x) for x in node]
    if isinstance(node, dict):
        return {k: _cfn(x) for k, x in node.items()}
    return node


def cfn_cors_rules() -> list[dict[str, Any]]:
    names = {"ID": "Id", "ExposeHeaders": "ExposedHeaders", "MaxAgeSeconds": "MaxAge"}
    return [{names.get(k, k): x for k, x in rule.items()} for rule in cors_rules()]


def cfn_lifecycle_rules() -> list[dict[str, Any]]:
    out = []
    for rule in lifecycle_rules():
        out.append({
            "Id": rule["ID"],
            "Status": rule["Status"],
            "Prefix": rule["Filter"]["Prefix"],
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]},
        })
    return out


def cloudformation_template() -> dict[str, Any]:
    v = TEMPLATE_VALUES
    statements: list[Any] = []
    for s in bucket_policy_statements(v):
        body = _cfn(s.body)
        statements.append(body if s.only_when in (None, TLS_ONLY) else {"Fn::If": ["IsPublic", body, {"Ref": "AWS::NoValue"}]})
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            "sen12stac release bucket: versioned, encrypted (SSE-S3), private unless PublicRead=true "
            "(then anonymous GetObject on the landing catalog and the release folders only), CORS GET/HEAD "
            "for STAC Browser, immutable releases (objects created only with If-None-Match; only the landing "
            "catalog replaced, with If-Match), incomplete multipart uploads aborted, and a managed policy for "
            "the publisher. Generated from sen12stac/infra.py by scripts/make_infra.py: do not edit."
        ),
        "Parameters": {
            "BucketName": {
                "Type": "String",
                "Description": "Globally unique bucket name.",
                "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            },
            "ReleasePrefix": {
                "Type": "String",
                "Default": "sen12",
                "Description": "Prefix under which `sen12stac publish` writes (s3://BUCKET/PREFIX).",
                "AllowedPattern": "^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$",
            },
            "PublicRead": {
                "Type": "String",
                "Default": "false",
                "AllowedValues": ["false", "true"],
                "Description": (
                    '"true" lets anyone read the released data (GetObject on PREFIX/catalog.json and PREFIX/v*/*; '
                    "no listing) and lifts the public-policy part of the public access block. Default: private."
                ),
            },
        },
        "Conditions": {"IsPublic": {"Fn::Equals": [{"Ref": "PublicRead"}, "true"]}},
        "Resources": {
            "Bucket": {
                "Type": "AWS::S3::Bucket",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "BucketName": {"Ref": "BucketName"},
                    "VersioningConfiguration": dict(VERSIONING),
                    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                    # SSE-S3 keeps a single PUT's ETag equal to the MD5 of the object, which
                    # `sen12stac verify` compares with the manifest (SSE-KMS ETags are not MD5s).
                    "BucketEncryption": {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "IgnorePublicAcls": True,
                        "BlockPublicPolicy": {"Fn::If": ["IsPublic", False, True]},
                        "RestrictPublicBuckets": {"Fn::If": ["IsPublic", False, True]},
                    },
                    "CorsConfiguration": {"CorsRules": cfn_cors_rules()},
                    "LifecycleConfiguration": {"Rules": cfn_lifecycle_rules()},
                },
            },
            "BucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {"Bucket": {"Ref": "Bucket"}, "PolicyDocument": {"Version": POLICY_VERSION, "Statement": statements}},
            },
            "PublisherPolicy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "Description": "sen12stac publish/verify/releases on the release prefix: list, read, create where nothing exists, replace the landing catalog on its ETag; no delete.",
                    "PolicyDocument": _cfn(publisher_policy(v)),
                },
            },
        },
        "Outputs": {
            "BucketName": {"Value": {"Ref": "Bucket"}},
            "ReleaseRoot": {"Description": "The URL to pass to `sen12stac publish`.", "Value": {"Fn::Sub": "s3://${BucketName}/${ReleasePrefix}"}},
            "PublisherPolicyArn": {"Description": "Attach to the role or user that runs `sen12stac publish`.", "Value": {"Ref": "PublisherPolicy"}},
            "LandingCatalogUrl": {
                "Description": "The landing catalog (public buckets only; STAC Browser's catalog URL).",
                "Value": {"Fn::Sub": "https://${BucketName}.s3.${AWS::Region}.amazonaws.com/${ReleasePrefix}/catalog.json"},
            },
        },
    }


def plain_files() -> dict[str, Any]:
    """The JSON files beside the template, for buckets made another way (``${...}`` placeholders)."""
    v = FILE_VALUES
    return {
        "bucket-policy.json": bucket_policy(v, public=True),
        "bucket-policy-private.json": bucket_policy(v, public=False),
        "publisher-policy.json": publisher_policy(v),
        "cors.json": {"CORSRules": cors_rules()},
        "lifecycle.json": {"Rules": lifecycle_rules()},
    }


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2) + "\n"


# -- apply ---------------------------------------------------------------------------------


@dataclass
class ApplyReport:
    bucket: str
    prefix: str
    public: bool
    endpoint: str
    applied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        lines = [f"{where} at {self.endpoint}: {'PUBLIC read of released data' if self.public else 'private'}"]
        lines += [f"  applied  {a}" for a in self.applied]
        lines += [f"  skipped  {s}" for s in self.skipped]
        return "\n".join(lines)


def split_bucket_url(url: str) -> tuple[str, str]:
    from .store.s3.url import parse_s3_url

    parsed = parse_s3_url(url, fix="pass the bucket as s3://BUCKET or s3://BUCKET/PREFIX (the prefix `sen12stac publish` writes to)")
    return parsed.bucket, parsed.path


def apply(client: Any, bucket: str, prefix: str, *, public: bool = False, endpoint: str = "AWS", allow_http: bool = False,
          public_access_block_supported: bool = True, on_step: Callable[[str], None] | None = None) -> ApplyReport:
    """Put versioning, CORS, lifecycle, public access block and bucket policy on ``bucket``.

    ``client`` is a boto3 S3 client (any endpoint). Idempotent: re-applying puts the same
    configuration. Versioning first (so nothing written from now on loses an old version),
    policy last (the public-access block must allow a public policy before it is put).
    """
    from botocore.exceptions import ClientError, EndpointConnectionError

    if endpoint.startswith("http://") and not allow_http:
        raise ConfigError(
            f"{endpoint} is plain HTTP, and the bucket policy denies plain-HTTP requests (DenyInsecureTransport): every client would be locked out",
            fix="use the endpoint's https:// URL, or pass --allow-http to leave that statement out (local servers only)",
        )
    v = BucketValues(bucket=bucket, prefix=prefix)
    report = ApplyReport(bucket=bucket, prefix=prefix, public=public, endpoint=endpoint)
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("versioning Enabled", lambda: client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=dict(VERSIONING))),
        ("CORS GET/HEAD from any origin", lambda: client.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": cors_rules()})),
        (f"lifecycle: abort incomplete multipart uploads after {ABORT_MULTIPART_DAYS} days",
         lambda: client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": lifecycle_rules()})),
    ]
    if public_access_block_supported:
        steps.append(("public access block " + ("(policy part lifted)" if public else "(all on)"),
                      lambda: client.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=public_access_block(public=public))))
    else:
        report.skipped.append("public access block (not supported by this endpoint)")
    policy = bucket_policy(v, public=public, require_tls=not allow_http)
    steps.append((f"bucket policy: {', '.join(s['Sid'] for s in policy['Statement'])}",
                  lambda: client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))))
    for label, step in steps:
        try:
            step()
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code, status = err.get("Code", "?"), exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
            fix = {
                "NoSuchBucket": "create the bucket first (infra/bucket.yaml does both) or correct the s3:// URL / --endpoint-url",
                "AccessDenied": "run as the bucket owner (s3:PutBucketPolicy, PutBucketCORS, PutBucketVersioning, PutLifecycleConfiguration, PutBucketPublicAccessBlock)",
            }.get(code, "check that this endpoint supports the setting; nothing after it was applied, re-run when fixed")
            raise StoreError(f"infra apply: {label} on bucket {bucket!r} at {endpoint} failed: {code} (HTTP {status})", fix=fix) from None
        except EndpointConnectionError:
            raise StoreError(f"infra apply: cannot reach {endpoint}", fix="check --endpoint-url and the network") from None
        report.applied.append(label)
        if on_step:
            on_step(label)
    return report


def read_back(client: Any, bucket: str) -> dict[str, Any]:
    """What the server holds now (for checks and `infra show`)."""
    out: dict[str, Any] = {}
    out["versioning"] = {k: x for k, x in client.get_bucket_versioning(Bucket=bucket).items() if k == "Status"}
    out["cors"] = client.get_bucket_cors(Bucket=bucket)["CORSRules"]
    out["lifecycle"] = client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    out["policy"] = json.loads(client.get_bucket_policy(Bucket=bucket)["Policy"])
    try:
        out["public_access_block"] = client.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except Exception:  # noqa: BLE001 - not every endpoint has it
        out["public_access_block"] = None
    return out
