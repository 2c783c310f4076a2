"""The one definition rendered for CloudFormation (``infra/bucket.yaml``) and as plain JSON
files beside it: the values are template parameters (``${BucketName}``, ``${ReleasePrefix}``),
statements that exist only for a public bucket sit under ``Fn::If``. ``scripts/make_infra.py``
writes the files; ``tests/test_infra.py`` re-renders and compares.
"""
from __future__ import annotations

import json
from typing import Any

from .bucket import (
    FILE_VALUES,
    POLICY_VERSION,
    TEMPLATE_VALUES,
    TLS_ONLY,
    VERSIONING,
    BucketValues,
    bucket_policy,
    bucket_policy_statements,
    cors_rules,
    lifecycle_rules,
    publisher_policy,
)


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


def cfn_lifecycle_rules(v: BucketValues) -> list[dict[str, Any]]:
    out = []
    for rule in lifecycle_rules(v):
        out.append({
            "Id": rule["ID"],
            "Status": rule["Status"],
            "Prefix": _cfn(rule["Filter"]["Prefix"]),
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
            "for STAC Browser, immutable releases (under the release prefix no blind writes, release objects "
            "created only with If-None-Match, the landing catalog replaced only with If-Match; the rest of the "
            "bucket untouched), incomplete multipart uploads under the prefix aborted, and a managed policy for "
            "the publisher. Generated from sen12stac/infra/ by scripts/make_infra.py: do not edit."
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
                    "LifecycleConfiguration": {"Rules": cfn_lifecycle_rules(v)},
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
        "lifecycle.json": {"Rules": lifecycle_rules(v)},
    }


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2) + "\n"
