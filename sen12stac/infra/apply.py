"""``sen12stac infra apply``: read what the bucket holds, show the difference part by part, and
put the definition (:mod:`.bucket`) on it.

Five parts, put in this order: versioning (so nothing written from now on loses an old
version), CORS, lifecycle, public access block, bucket policy last (the public access block
must allow a public policy before it is put). Each part is one of

* ``new``: the bucket has none (or only what S3 gives every new bucket: no versioning, the
  public access block all on) -- put without asking;
* ``same``: already what the definition says (compared as documents, not as text) -- left alone;
* ``replace``: the bucket has its own and it differs -- shown as a diff, and put only with
  ``yes=True`` (``--yes``). Without it nothing at all is written.

Everything is read before anything is written, so a refusal or a read error changes nothing.
"""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import ConfigError, StoreError
from .bucket import (
    ABORT_MULTIPART_DAYS,
    VERSIONING,
    BucketValues,
    bucket_policy,
    cors_rules,
    lifecycle_rules,
    public_access_block,
)

# What S3 answers when a bucket has none of a setting.
_NONE_CODES = {"NoSuchBucketPolicy", "NoSuchCORSConfiguration", "NoSuchLifecycleConfiguration", "NoSuchPublicAccessBlockConfiguration"}
# The public access block AWS puts on every new bucket (since April 2023): not a choice of the owner's.
_NEW_BUCKET_PUBLIC_ACCESS_BLOCK = public_access_block(public=False)


@dataclass
class Part:
    """One setting of the bucket: what it holds now (None: nothing) and what the definition wants."""

    name: str  # "versioning", "CORS", "lifecycle", "public access block", "bucket policy"
    current: Any
    wanted: Any
    summary: str  # the wanted value in a few words
    put: Callable[[], Any] = field(repr=False)
    new_bucket_default: Any = None  # a current value that counts as "nothing set"

    @property
    def status(self) -> str:
        if _canonical(self.current) == _canonical(self.wanted):
            return "same"
        if self.current is None or self.current == self.new_bucket_default:
            return "new"
        return "replace"

    def diff(self) -> list[str]:
        """The part as the bucket holds it (-) against what ``infra apply`` puts (+)."""
        def lines(doc: Any) -> list[str]:
            return json.dumps(_canonical(doc), indent=2, sort_keys=True).splitlines() if doc is not None else []

        return list(difflib.unified_diff(lines(self.current), lines(self.wanted), f"{self.name}: on the bucket now",
                                         f"{self.name}: from infra apply", lineterm="", n=2))


@dataclass
class ApplyReport:
    bucket: str
    prefix: str
    public: bool
    endpoint: str
    parts: list[Part] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def plan_text(self) -> str:
        """What ``apply`` does to each part, with the difference for every part it replaces."""
        lines = [f"{self.where} at {self.endpoint}: {'PUBLIC read of released data' if self.public else 'private'}"]
        width = max(len(p.name) for p in self.parts) if self.parts else 0
        lines += [f"  {p.name:<{width}}  {p.status:<7}  {p.summary}" for p in self.parts]
        lines += [f"  {s}" for s in self.skipped]
        for p in self.parts:
            if p.status == "replace":
                lines += p.diff()
        return "\n".join(lines)

    def __str__(self) -> str:
        if not self.applied:
            return f"nothing to change: {self.where} already has these settings ({', '.join(self.unchanged)})"
        done = f"{self.where}: applied {', '.join(a.split(':')[0] for a in self.applied)}"
        return done + (f"; unchanged {', '.join(self.unchanged)}" if self.unchanged else "")


def split_bucket_url(url: str) -> tuple[str, str]:
    if not url.startswith("s3://"):
        raise ConfigError(f"{url!r} is not an s3:// URL", fix="pass the bucket as s3://BUCKET or s3://BUCKET/PREFIX (the prefix `sen12stac publish` writes to)")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not bucket:
        raise ConfigError(f"{url!r} names no bucket", fix="pass s3://BUCKET or s3://BUCKET/PREFIX")
    return bucket, prefix.strip("/")


def apply(client: Any, bucket: str, prefix: str, *, public: bool = False, endpoint: str = "AWS", allow_http: bool = False,
          public_access_block_supported: bool = True, yes: bool = False, on_plan: Callable[[ApplyReport], None] | None = None,
          on_step: Callable[[str], None] | None = None) -> ApplyReport:
    """Put versioning, CORS, lifecycle, public access block and bucket policy on ``bucket``.

    ``client`` is a boto3 S3 client (any endpoint). Reads every part first and calls
    ``on_plan`` with the report (the CLI prints :meth:`ApplyReport.plan_text`); a part the
    bucket already has in another form is replaced only with ``yes=True``, otherwise
    :class:`ConfigError` and nothing written. Parts already as defined are not put again.
    """
    if endpoint.startswith("http://") and not allow_http:
        raise ConfigError(
            f"{endpoint} is plain HTTP, and the bucket policy denies plain-HTTP requests (DenyInsecureTransportUnderThePrefix): every client would be locked out",
            fix="use the endpoint's https:// URL, or pass --allow-http to leave those statements out (local servers only)",
        )
    v = BucketValues(bucket=bucket, prefix=prefix)
    report = ApplyReport(bucket=bucket, prefix=prefix, public=public, endpoint=endpoint)
    report.parts = plan(client, v, public=public, require_tls=not allow_http, endpoint=endpoint,
                        public_access_block_supported=public_access_block_supported)
    if not public_access_block_supported:
        report.skipped.append("public access block: skipped (not supported by this endpoint)")
    if on_plan:
        on_plan(report)
    replaced = [p.name for p in report.parts if p.status == "replace"]
    if replaced and not yes:
        raise ConfigError(
            f"{report.where} already has its own {_join(replaced)}, which infra apply would replace (nothing was changed)",
            fix="review the differences printed above (`-` now, `+` new), then re-run with --yes to replace them",
        )
    for part in report.parts:
        if part.status == "same":
            report.unchanged.append(part.name)
            continue
        _call(lambda: part.put(), f"putting the {part.name}", bucket, endpoint)
        report.applied.append(f"{part.name}: {part.summary}")
        if on_step:
            on_step(part.name)
    return report


def plan(client: Any, v: BucketValues, *, public: bool, require_tls: bool, endpoint: str = "AWS",
         public_access_block_supported: bool = True) -> list[Part]:
    """Every part, with what the bucket holds now (read here, nothing written)."""
    bucket = v.bucket
    now = read_back(client, bucket, endpoint=endpoint, public_access_block=public_access_block_supported)
    policy = bucket_policy(v, public=public, require_tls=require_tls)
    cors, lifecycle, pab = cors_rules(), lifecycle_rules(v), public_access_block(public=public)
    parts = [
        Part("versioning", now["versioning"], dict(VERSIONING), VERSIONING["Status"],
             lambda: client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=dict(VERSIONING))),
        Part("CORS", now["cors"], cors, "GET/HEAD from any origin",
             lambda: client.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": cors})),
        Part("lifecycle", now["lifecycle"], lifecycle, f"abort incomplete multipart uploads under {v.key('') or 'the bucket'} after {ABORT_MULTIPART_DAYS} days",
             lambda: client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": lifecycle})),
    ]
    if public_access_block_supported:
        parts.append(Part("public access block", now["public_access_block"], pab, "policy part lifted" if public else "all on",
                          lambda: client.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=pab),
                          new_bucket_default=_NEW_BUCKET_PUBLIC_ACCESS_BLOCK))
    parts.append(Part("bucket policy", now["policy"], policy, ", ".join(s["Sid"] for s in policy["Statement"]),
                      lambda: client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))))
    return parts


def read_back(client: Any, bucket: str, *, endpoint: str = "AWS", public_access_block: bool = True) -> dict[str, Any]:
    """What the server holds now, part by part; None where the bucket has none."""
    def get(label: str, call: Callable[[], Any]) -> Any:
        return _call(call, f"reading the {label}", bucket, endpoint, absent_ok=True)

    status = get("versioning", lambda: client.get_bucket_versioning(Bucket=bucket)).get("Status")
    policy = get("bucket policy", lambda: client.get_bucket_policy(Bucket=bucket))
    cors = get("CORS", lambda: client.get_bucket_cors(Bucket=bucket))
    lifecycle = get("lifecycle", lambda: client.get_bucket_lifecycle_configuration(Bucket=bucket))
    pab = get("public access block", lambda: client.get_public_access_block(Bucket=bucket)) if public_access_block else None
    return {
        "versioning": {"Status": status} if status else None,
        "cors": cors["CORSRules"] if cors else None,
        "lifecycle": lifecycle["Rules"] if lifecycle else None,
        "policy": json.loads(policy["Policy"]) if policy else None,
        "public_access_block": pab["PublicAccessBlockConfiguration"] if pab else None,
    }


def _call(call: Callable[[], Any], what: str, bucket: str, endpoint: str, *, absent_ok: bool = False) -> Any:
    """One S3 call, its failure as one line that names the step and the fix."""
    from botocore.exceptions import ClientError, EndpointConnectionError

    try:
        return call()
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code, status = err.get("Code", "?"), exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        if absent_ok and code in _NONE_CODES:
            return None
        fix = {
            "NoSuchBucket": "create the bucket first (infra/bucket.yaml does both) or correct the s3:// URL / --endpoint-url",
            "AccessDenied": "run as the bucket owner (s3:Get/PutBucketPolicy, Get/PutBucketCORS, Get/PutBucketVersioning, "
                            "Get/PutLifecycleConfiguration, Get/PutBucketPublicAccessBlock)",
        }.get(code, "check that this endpoint supports the setting (--no-public-access-block for endpoints without that API); "
                    "parts before it stay applied, re-running shows what is left")
        raise StoreError(f"infra apply: {what} of bucket {bucket!r} at {endpoint} failed: {code} (HTTP {status})", fix=fix) from None
    except EndpointConnectionError:
        raise StoreError(f"infra apply: cannot reach {endpoint}", fix="check --endpoint-url and the network") from None


def _canonical(doc: Any) -> Any:
    """A document in one spelling, so equal settings compare equal: a single string and a list of
    one are the same in a policy, lists of names are sets, statements and rules have no order."""
    if isinstance(doc, dict):
        out = {}
        for k, x in doc.items():
            if k in ("Action", "NotAction", "Resource", "NotResource") and isinstance(x, str):
                x = [x]
            if k == "Condition" and isinstance(x, dict):
                x = {op: {key: sorted(str(e).lower() if isinstance(e, bool) else str(e) for e in (val if isinstance(val, list) else [val]))
                          for key, val in pairs.items()} for op, pairs in x.items()}
            out[k] = _canonical(x)
        return out
    if isinstance(doc, list):
        items = [_canonical(x) for x in doc]
        return sorted(items, key=lambda x: json.dumps(x, sort_keys=True))
    return doc


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
