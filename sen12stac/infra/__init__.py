"""The release bucket as code: ONE definition of its policy, CORS, versioning and lifecycle.

Everything the bucket needs is built by plain functions (:mod:`.bucket`) from three values:
the bucket name, the release prefix and whether released data is public. Two consumers read
the same functions:

* ``sen12stac infra apply s3://bucket/prefix`` (:mod:`.apply`, boto3, any S3 endpoint) reads
  what the bucket holds, shows the difference part by part, and puts the definition on it
  with the values filled in (replacing a setting the bucket already has only with ``--yes``);
* ``scripts/make_infra.py`` renders them (:mod:`.cloudformation`) into the CloudFormation
  template ``infra/bucket.yaml`` and the plain JSON files beside it, with the values as
  template parameters (``${BucketName}``, ``${ReleasePrefix}``; statements that exist only for
  a public bucket under ``Fn::If``). ``tests/test_infra.py`` regenerates and compares, so the
  files cannot drift from the definition.

Why Python and not JSON files read by both: the policy depends on the parameters (which
statements exist, which ARNs) and CloudFormation needs intrinsic functions exactly where
``apply`` needs plain strings. One function that knows where each parameter goes emits
both; a JSON file would need a templating step of its own and cannot express "only when
public". The package ships in the wheel, so ``infra apply`` needs no data files.

The rules (docs: ``infra/README.md``), every bucket-policy statement scoped to the release
prefix (the rest of the bucket keeps its own rules):

* private by default; with ``public=True`` anonymous principals get ``s3:GetObject`` on the
  released data only: the landing catalog ``PREFIX/catalog.json`` and the release folders
  ``PREFIX/v*/``. No public list, no public write, nothing else readable;
* plain-HTTP requests under the prefix are denied;
* immutability on the server, for every principal: nothing under the prefix is written
  blindly (a PUT carries ``If-None-Match: *``, which S3 answers with 412 when the key exists,
  or ``If-Match: <ETag>``), and release objects (``PREFIX/v*/*``) only with
  ``If-None-Match``, so the only object that can be replaced is the landing catalog, on its
  ETag (condition keys ``s3:if-none-match`` / ``s3:if-match``; ``s3:ObjectCreationOperation``
  exempts the parts of a multipart upload, whose completion is still checked);
* CORS: GET and HEAD from any origin (STAC Browser and COG viewers on other origins);
* versioning on; a lifecycle rule aborts multipart uploads under the prefix left incomplete
  for 7 days;
* the publisher (an IAM managed policy in the template) may list and read the prefix,
  create objects there conditionally and replace the landing catalog; no delete.
"""
from __future__ import annotations

from .apply import ApplyReport, Part, apply, plan, read_back, split_bucket_url
from .bucket import (
    ABORT_MULTIPART_DAYS,
    FILE_VALUES,
    LANDING_CATALOG,
    POLICY_VERSION,
    RELEASE_GLOB,
    TEMPLATE_VALUES,
    VERSIONING,
    BucketValues,
    Statement,
    bucket_policy,
    bucket_policy_statements,
    cors_rules,
    lifecycle_rules,
    public_access_block,
    publisher_policy,
)
from .cloudformation import cfn_cors_rules, cfn_lifecycle_rules, cloudformation_template, dumps, plain_files

__all__ = [
    "ABORT_MULTIPART_DAYS", "FILE_VALUES", "LANDING_CATALOG", "POLICY_VERSION", "RELEASE_GLOB", "TEMPLATE_VALUES",
    "VERSIONING", "ApplyReport", "BucketValues", "Part", "Statement", "apply", "bucket_policy",
    "bucket_policy_statements", "cfn_cors_rules", "cfn_lifecycle_rules", "cloudformation_template", "cors_rules",
    "dumps", "lifecycle_rules", "plain_files", "plan", "public_access_block", "publisher_policy", "read_back",
    "split_bucket_url",
]
