"""infra/: the bucket as code.

* The policy documents themselves, evaluated request by request with IAM's rules (explicit
  deny wins, then any allow, else implicit deny): anonymous principals get only
  ``s3:GetObject`` on released objects and only when public; the publisher creates where
  nothing exists, replaces only the landing catalog, and overwrites nothing; nobody writes
  unconditionally. moto stores policies but does not enforce them, so the documents are
  what is tested here.
* The CloudFormation template and the JSON files are what ``scripts/make_infra.py`` renders
  from ``sen12stac/infra/`` (one definition), and the template lints clean (cfn-lint: no
  errors, no warnings).
* ``sen12stac infra apply`` against the real local S3 server: policy, CORS, versioning,
  lifecycle and public access block round-trip; settings the bucket already has are shown
  as a diff and replaced only with ``--yes``.
"""
from __future__ import annotations

import fnmatch
import re
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sen12stac.errors import ConfigError

from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY

# The S3 server fixtures (idempotent if tests/conftest.py registers them too).
pytest_plugins = ["tests.conftest_s3"]

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "infra"
TAGS = {"Ref": "Ref", "Sub": "Fn::Sub", "If": "Fn::If", "Equals": "Fn::Equals", "GetAtt": "Fn::GetAtt", "Not": "Fn::Not"}
BUCKET = "example-bucket"


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(name: str):
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return {name: loader.construct_scalar(node)}
        if isinstance(node, yaml.SequenceNode):
            return {name: loader.construct_sequence(node, deep=True)}
        return {name: loader.construct_mapping(node, deep=True)}

    return construct


for short, full in TAGS.items():
    _CfnLoader.add_constructor(f"!{short}", _tag(full))

_NOVALUE = object()


def resolve(node: Any, params: dict[str, str], conditions: dict[str, Any]) -> Any:
    """Evaluate the intrinsic functions the template uses, for given parameter values."""
    if isinstance(node, dict) and len(node) == 1:
        (fn, arg), = node.items()
        if fn == "Ref":
            return _NOVALUE if arg == "AWS::NoValue" else params.get(arg, f"<{arg}>")
        if fn == "Fn::Sub":
            out = arg
            for k, v in params.items():
                out = out.replace("${" + k + "}", v)
            assert "${" not in out, f"unresolved parameter in {arg!r}"
            return out
        if fn == "Fn::If":
            cond, yes, no = arg
            return resolve(yes if resolve(conditions[cond], params, conditions) else no, params, conditions)
        if fn == "Fn::Equals":
            a, b = (resolve(x, params, conditions) for x in arg)
            return a == b
    if isinstance(node, dict):
        out = {k: resolve(v, params, conditions) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not _NOVALUE}
    if isinstance(node, list):
        return [v for v in (resolve(x, params, conditions) for x in node) if v is not _NOVALUE]
    return node


def template() -> dict[str, Any]:
    return yaml.load((INFRA / "bucket.yaml").read_text(), Loader=_CfnLoader)


def rendered(**overrides: str) -> dict[str, Any]:
    t = template()
    params = {k: str(v.get("Default", "")) for k, v in t["Parameters"].items()}
    params.update(BucketName=BUCKET, **overrides)
    params.setdefault("AWS::Region", "eu-central-1")
    params.setdefault("AWS::Partition", "aws")
    return resolve(t["Resources"], params, t["Conditions"])


# -- a small IAM evaluator: the documented semantics, nothing of sen12stac's ----------------

def _as_list(x: Any) -> list:
    return x if isinstance(x, list) else [x]


def _wild(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)  # IAM: * and ? wildcards; ARNs hold no [ ]


def _condition_holds(cond: dict[str, dict[str, Any]], ctx: dict[str, str]) -> bool:
    for op, pairs in cond.items():
        for key, expected in pairs.items():
            expected = [str(e).lower() if isinstance(e, bool) else str(e) for e in _as_list(expected)]
            present = key in ctx
            if op == "Null":
                if expected != [("false" if present else "true")]:
                    return False
            elif op == "Bool":
                if not present or ctx[key] not in expected:
                    return False
            elif op == "StringEquals":
                if not present or ctx[key] not in expected:
                    return False
            elif op == "StringLike":
                if not present or not any(_wild(p, ctx[key]) for p in expected):
                    return False
            else:
                raise AssertionError(f"condition operator {op} not understood by this test's evaluator")
    return True


def _applies(stmt: dict[str, Any], action: str, resource: str, ctx: dict[str, str], identity: bool) -> bool:
    if not identity:  # a bucket policy statement names its principal; every one here must be "*"
        assert stmt["Principal"] == "*", stmt
    if not any(_wild(a, action) for a in _as_list(stmt["Action"])):
        return False
    if "Resource" in stmt and not any(_wild(r, resource) for r in _as_list(stmt["Resource"])):
        return False
    if "NotResource" in stmt and any(_wild(r, resource) for r in _as_list(stmt["NotResource"])):
        return False
    return _condition_holds(stmt.get("Condition", {}), ctx)


def decide(request: dict[str, Any], bucket_policy: dict[str, Any], identity_policy: dict[str, Any] | None) -> str:
    """'allow' | 'deny' (explicit) | 'implicit-deny', for one request of one principal in the bucket's account."""
    stmts = [(s, False) for s in bucket_policy["Statement"]]
    if identity_policy is not None:
        stmts += [(s, True) for s in identity_policy["Statement"]]
    hits = [s for s, ident in stmts if _applies(s, request["action"], request["resource"], request["ctx"], ident)]
    if any(s["Effect"] == "Deny" for s in hits):
        return "deny"
    return "allow" if any(s["Effect"] == "Allow" for s in hits) else "implicit-deny"


def obj(key: str) -> str:
    return f"arn:aws:s3:::{BUCKET}/{key}"


def put(key: str, *, if_none_match: bool = False, if_match: bool = False, tls: bool = True) -> dict[str, Any]:
    ctx = {"aws:SecureTransport": str(tls).lower(), "s3:ObjectCreationOperation": "true"}
    if if_none_match:
        ctx["s3:if-none-match"] = "*"
    if if_match:
        ctx["s3:if-match"] = '"0123456789abcdef0123456789abcdef"'
    return {"action": "s3:PutObject", "resource": obj(key), "ctx": ctx}


def get(key: str, tls: bool = True) -> dict[str, Any]:
    return {"action": "s3:GetObject", "resource": obj(key), "ctx": {"aws:SecureTransport": str(tls).lower()}}


def list_bucket(prefix: str = "", tls: bool = True) -> dict[str, Any]:
    return {"action": "s3:ListBucket", "resource": f"arn:aws:s3:::{BUCKET}", "ctx": {"aws:SecureTransport": str(tls).lower(), "s3:prefix": prefix}}


def delete(key: str) -> dict[str, Any]:
    return {"action": "s3:DeleteObject", "resource": obj(key), "ctx": {"aws:SecureTransport": "true"}}


RELEASED = ["sen12/catalog.json", "sen12/v1.0.0/catalog.json", "sen12/v1.0.0/ROIs1158_spring/s2_7/ROIs1158_spring_s2_7_p42.tif", "sen12/v1.0.0/release.json"]
NOT_RELEASED = ["sen12/build-summary.json", "sen12/staging/catalog.json", "other/catalog.json", "catalog.json", "sen12/x/v1.0.0/catalog.json"]


def _policies(public: bool) -> tuple[dict, dict]:
    res = rendered(PublicRead=str(public).lower())
    return res["BucketPolicy"]["Properties"]["PolicyDocument"], res["PublisherPolicy"]["Properties"]["PolicyDocument"]


@pytest.mark.parametrize("public", [True, False])
def test_anonymous_gets_only_getobject_on_released_objects(public):
    bucket_policy, _ = _policies(public)
    # Read from the document: the only statements that allow anybody anything are GetObject ones.
    anonymous_allows = [s for s in bucket_policy["Statement"] if s["Effect"] == "Allow"]
    assert all(_as_list(s["Action"]) == ["s3:GetObject"] and s["Principal"] == "*" for s in anonymous_allows)
    assert bool(anonymous_allows) is public
    for key in RELEASED:
        assert decide(get(key), bucket_policy, None) == ("allow" if public else "implicit-deny"), key
        assert decide(get(key, tls=False), bucket_policy, None) == "deny", key
    for key in NOT_RELEASED:
        assert decide(get(key), bucket_policy, None) != "allow", key
    # no public list, no public write or delete, whatever the headers
    for req in (list_bucket(), list_bucket("sen12/"), delete("sen12/v1.0.0/catalog.json"),
                put("sen12/v9.9.9/new.json", if_none_match=True), put("sen12/catalog.json", if_match=True), put("sen12/v1.0.0/a.tif")):
        assert decide(req, bucket_policy, None) != "allow", req
    for action in ("s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:ListBucketVersions", "s3:GetObjectVersion", "s3:PutObjectAcl"):
        assert decide({"action": action, "resource": obj("sen12/catalog.json"), "ctx": {"aws:SecureTransport": "true"}}, bucket_policy, None) != "allow"


def test_private_is_the_default():
    t = template()
    assert t["Parameters"]["PublicRead"]["Default"] == "false"
    private = rendered()
    assert private["Bucket"]["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
    }
    assert not [s for s in private["BucketPolicy"]["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    public = rendered(PublicRead="true")["Bucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert public["BlockPublicPolicy"] is False and public["BlockPublicAcls"] is True  # ACLs never


@pytest.mark.parametrize("public", [True, False])
def test_publisher_creates_and_replaces_only_the_landing_catalog(public):
    bucket_policy, publisher = _policies(public)
    assert decide(put("sen12/v1.1.0/ROIs1158_spring/s1_7/a.tif", if_none_match=True), bucket_policy, publisher) == "allow"
    assert decide(put("sen12/catalog.json", if_none_match=True), bucket_policy, publisher) == "allow"   # first landing catalog
    assert decide(put("sen12/catalog.json", if_match=True), bucket_policy, publisher) == "allow"        # replaced on its ETag
    # cannot overwrite: not with If-Match, not unconditionally, not the landing catalog blindly
    for key in ("sen12/v1.0.0/catalog.json", "sen12/v1.0.0/release.json", "sen12/v1.0.0/ROIs1158_spring/s2_7/x.tif"):
        assert decide(put(key, if_match=True), bucket_policy, publisher) == "deny", key
        assert decide(put(key), bucket_policy, publisher) == "deny", key
    assert decide(put("sen12/catalog.json"), bucket_policy, publisher) == "deny"
    assert decide(put("sen12/v1.1.0/a.tif", if_none_match=True, tls=False), bucket_policy, publisher) == "deny"
    # no delete, nothing outside the prefix, listing only under it, reading it
    assert decide(delete("sen12/v1.0.0/catalog.json"), bucket_policy, publisher) != "allow"
    assert decide(put("elsewhere/a.json", if_none_match=True), bucket_policy, publisher) != "allow"
    assert decide(list_bucket("sen12/"), bucket_policy, publisher) == "allow"
    assert decide(list_bucket("other/"), bucket_policy, publisher) != "allow"
    assert decide(get("sen12/v1.0.0/catalog.json"), bucket_policy, publisher) == "allow"
    assert not any("Delete" in a for s in publisher["Statement"] for a in _as_list(s["Action"]))


def test_nobody_overwrites_a_release_not_even_an_admin():
    bucket_policy, _ = _policies(True)
    admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    assert decide(put("sen12/v1.0.0/catalog.json", if_match=True), bucket_policy, admin) == "deny"
    assert decide(put("sen12/v1.0.0/catalog.json"), bucket_policy, admin) == "deny"
    assert decide(put("sen12/v2.0.0/catalog.json", if_none_match=True), bucket_policy, admin) == "allow"
    # the parts of a multipart upload carry no condition headers; its completion does
    part = {"action": "s3:PutObject", "resource": obj("sen12/v2.0.0/big.parquet"), "ctx": {"aws:SecureTransport": "true", "s3:ObjectCreationOperation": "false"}}
    assert decide(part, bucket_policy, admin) == "allow"


ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


@pytest.mark.parametrize("public", [True, False])
def test_deny_statements_stay_inside_the_release_prefix(public):
    """The bucket may hold other things (logs, other datasets, a second release prefix): the policy's
    denials reach only the release prefix, the rest of the bucket keeps whatever rules it has."""
    bucket_policy, _ = _policies(public)
    for key in ("other/a.json", "sen12-other/v1.0.0/catalog.json", "catalog.json", "logs/v1.0.0/x"):
        for request in (put(key), put(key, if_match=True), put(key, tls=False), get(key, tls=False), delete(key)):
            assert decide(request, bucket_policy, ADMIN) == "allow", (key, request)
    assert decide(list_bucket("other/", tls=False), bucket_policy, ADMIN) == "allow"
    # ... and still hold inside it
    for request in (put("sen12/v1.0.0/a.tif"), put("sen12/v1.0.0/a.tif", if_match=True), put("sen12/catalog.json"),
                    get("sen12/v1.0.0/a.tif", tls=False), get("sen12/catalog.json", tls=False), list_bucket("sen12/", tls=False)):
        assert decide(request, bucket_policy, ADMIN) == "deny", request
    assert not [s for s in bucket_policy["Statement"] if "NotResource" in s]


def test_evaluator_catches_a_weakened_policy():
    """The checks above can fail: a policy without the immutability statements lets the publisher overwrite."""
    bucket_policy, publisher = _policies(True)
    weak = {"Version": "2012-10-17", "Statement": [s for s in bucket_policy["Statement"] if s["Effect"] == "Allow"]}
    loose = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": obj("sen12/*")}]}
    assert decide(put("sen12/v1.0.0/catalog.json", if_match=True), weak, loose) == "allow"
    public_list = {"Version": "2012-10-17", "Statement": bucket_policy["Statement"] + [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}"}]}
    assert decide(list_bucket(), public_list, None) == "allow"


def test_bucket_is_versioned_with_cors_and_lifecycle():
    bucket = rendered()["Bucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = bucket["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedOrigins"] == ["*"] and rule["AllowedMethods"] == ["GET", "HEAD"]
    assert {"ETag", "Content-Range"} <= set(rule["ExposedHeaders"]) and "Range" in rule["AllowedHeaders"]
    (life,) = bucket["LifecycleConfiguration"]["Rules"]
    assert life["Status"] == "Enabled" and life["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] >= 1
    assert life["Prefix"] == "sen12/"  # the release prefix's uploads, not the rest of the bucket


def test_files_are_rendered_from_the_one_definition():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import make_infra
    finally:
        sys.path.pop(0)
    for name, text in make_infra.rendered().items():
        assert (INFRA / name).read_text() == text, f"infra/{name} differs from sen12stac/infra/: run .venv/bin/python scripts/make_infra.py"
    # the JSON files say what the template says, for the same parameter values
    public = rendered(PublicRead="true")
    sub = lambda name: json.loads((INFRA / name).read_text().replace("${BucketName}", BUCKET).replace("${ReleasePrefix}", "sen12"))  # noqa: E731
    assert public["BucketPolicy"]["Properties"]["PolicyDocument"] == sub("bucket-policy.json")
    assert rendered()["BucketPolicy"]["Properties"]["PolicyDocument"] == sub("bucket-policy-private.json")
    assert public["PublisherPolicy"]["Properties"]["PolicyDocument"] == sub("publisher-policy.json")


def test_template_lints_clean():
    from cfnlint.api import lint_all

    matches = lint_all((INFRA / "bucket.yaml").read_text())
    serious = [str(m) for m in matches if m.rule.id[0] in "EW"]  # no errors, no warnings
    assert not serious, serious
    # the informational ARN rule too (partition from ${AWS::Partition}, not hard-coded)
    assert not [m for m in matches if m.rule.id == "I3042"]


# -- infra apply against the real local S3 server -------------------------------------------


@pytest.mark.s3
@pytest.mark.parametrize("public", [False, True])
def test_infra_apply_round_trips(s3_client, bucket, moto, public):
    from sen12stac import infra

    with pytest.raises(ConfigError, match="--allow-http"):  # the TLS-only statement would lock out a plain-http server
        infra.apply(s3_client, bucket, "sen12", public=public, endpoint=moto.endpoint_url)
    report = infra.apply(s3_client, bucket, "sen12", public=public, endpoint=moto.endpoint_url, allow_http=True)
    assert len(report.applied) == 5
    got = infra.read_back(s3_client, bucket)
    values = infra.BucketValues(bucket=bucket, prefix="sen12")
    assert got["versioning"] == {"Status": "Enabled"}
    assert got["cors"] == infra.cors_rules()
    assert got["lifecycle"] == infra.lifecycle_rules(values)
    assert got["policy"] == infra.bucket_policy(values, public=public, require_tls=False)
    tls_only = {"DenyInsecureTransportUnderThePrefix", "DenyInsecureListingOfThePrefix"}
    assert {s["Sid"] for s in got["policy"]["Statement"]} | tls_only == {s["Sid"] for s in infra.bucket_policy(values, public=public)["Statement"]}
    assert got["public_access_block"] == infra.public_access_block(public=public)
    assert any(s["Sid"] == "PublicReadOfReleases" for s in got["policy"]["Statement"]) is public
    # idempotent: nothing to put again, and it says so
    again = infra.apply(s3_client, bucket, "sen12", public=public, endpoint=moto.endpoint_url, allow_http=True)
    assert again.applied == [] and len(again.unchanged) == 5 and str(again).startswith("nothing to change")
    assert infra.read_back(s3_client, bucket) == got


@pytest.mark.s3
def test_the_local_server_honours_the_policy_for_anonymous_reads(s3_client, bucket, moto):
    """moto evaluates a bucket policy for unsigned object GETs: released objects readable, the rest not.
    (It does not check listings against the policy: that no one lists anonymously is shown on the document above.)"""
    import urllib.error
    import urllib.request

    from sen12stac import infra

    for key in ("sen12/catalog.json", "sen12/v1.0.0/catalog.json", "sen12/staging/catalog.json"):
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"{}")

    def anonymous(path: str) -> int:
        try:
            with urllib.request.urlopen(f"{moto.endpoint_url}/{bucket}/{path}", timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert anonymous("sen12/v1.0.0/catalog.json") == 403  # private until applied as public
    infra.apply(s3_client, bucket, "sen12", public=True, endpoint=moto.endpoint_url, allow_http=True)
    assert anonymous("sen12/v1.0.0/catalog.json") == 200
    assert anonymous("sen12/catalog.json") == 200
    assert anonymous("sen12/staging/catalog.json") == 403
    infra.apply(s3_client, bucket, "sen12", public=False, endpoint=moto.endpoint_url, allow_http=True, yes=True)
    assert anonymous("sen12/v1.0.0/catalog.json") == 403


@pytest.mark.s3
def test_infra_apply_cli(tmp_path, moto, bucket, s3_client):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SEN12STAC_"))}
    env.update(AWS_ACCESS_KEY_ID=TEST_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=TEST_SECRET_KEY, AWS_DEFAULT_REGION="us-east-1")
    cli = [sys.executable, "-m", "sen12stac.cli", "infra", "apply"]
    r = subprocess.run([*cli, f"s3://{bucket}/sen12", "--public", "--allow-http", "--endpoint-url", moto.endpoint_url], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PUBLIC" in r.stdout and "PublicReadOfReleases" in r.stdout
    policy = json.loads(s3_client.get_bucket_policy(Bucket=bucket)["Policy"])
    assert {s["Sid"] for s in policy["Statement"]} >= {"CreateOnlyUnderThePrefix", "ReleasesAreNeverReplaced", "PublicReadOfReleases"}
    assert obj("sen12/v*/*").replace(BUCKET, bucket) in policy["Statement"][-1]["Resource"]
    missing = subprocess.run([*cli, "s3://no-such-bucket-here/sen12", "--allow-http", "--endpoint-url", moto.endpoint_url], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert missing.returncode == 4 and "no-such-bucket-here" in missing.stderr and "Fix:" in missing.stderr, missing.stderr
    bad = subprocess.run([*cli, "bucket-without-scheme"], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert bad.returncode == 2 and "s3://" in bad.stderr
    http = subprocess.run([*cli, f"s3://{bucket}/sen12", "--endpoint-url", moto.endpoint_url], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert http.returncode == 2 and "--allow-http" in http.stderr, http.stderr
    for out in (r, missing, bad, http):
        assert TEST_SECRET_KEY not in out.stdout + out.stderr


def test_stac_api_compose_is_pinned_and_loopback_only():
    """infra/stac-api/compose.yaml: sen12stac's own `api` commands with the `api` extra (the pins
    `sen12stac api` uses), every published port on 127.0.0.1."""
    compose = yaml.safe_load((INFRA / "stac-api" / "compose.yaml").read_text())
    services = compose["services"]
    ports = [p for s in services.values() for p in s.get("ports", [])]
    assert ports and all(p.startswith("127.0.0.1:") for p in ports), ports
    build = services["api"]["build"]
    assert services["migrate"]["build"] == build  # one image
    assert "pip install --no-cache-dir '/src[api]'" in build["dockerfile_inline"]
    assert (INFRA / "stac-api" / build["context"]).resolve() == REPO  # built from this repository
    # the extra it installs holds the pins the issue names
    pyproject = (REPO / "pyproject.toml").read_text()
    api_extra = pyproject[pyproject.index("\napi = ["):]
    api_extra = api_extra[: api_extra.index("]\n")]
    pins = dict(re.findall(r'"(pypgstac|stac-fastapi-pgstac)(?:\[[a-z,]+\])?([=<>][^"]+)"', api_extra))
    assert pins == {"pypgstac": ">=0.10.0,<0.11", "stac-fastapi-pgstac": ">=7.1,<8"}, pins
    cmd = services["api"]["command"]
    assert cmd[:3] == ["sen12stac", "api", "serve"] and "--dsn" in cmd
    assert "prepare_database" in " ".join(services["migrate"]["command"])
    assert services["database"]["image"].startswith("postgis/postgis:15-")
    # the commands exist with these options (the CLI, not a guess)
    from typer.testing import CliRunner

    from sen12stac.cli import app

    help_text = CliRunner().invoke(app, ["api", "serve", "--help"], env={"COLUMNS": "200"}).output
    assert "--dsn" in help_text and "--host" in help_text and "--port" in help_text
    from sen12stac.api.database import prepare_database  # noqa: F401 - what the migrate service calls



def test_a_bucket_without_prefix_as_apply_builds_it():
    """`infra apply s3://bucket` (releases at the bucket's root): the same rules on the keys there."""
    from sen12stac import infra

    v = infra.BucketValues(bucket=BUCKET, prefix="")
    public, publisher = infra.bucket_policy(v, public=True), infra.publisher_policy(v)
    assert decide(get("catalog.json"), public, None) == "allow"
    assert decide(get("v1.0.0/ROIs1158_spring/collection.json"), public, None) == "allow"
    assert decide(get("staging/catalog.json"), public, None) == "implicit-deny"
    assert decide(put("v1.0.0/catalog.json", if_match=True), public, publisher) == "deny"
    assert decide(put("catalog.json", if_match=True), public, publisher) == "allow"
    assert decide(put("v2.0.0/catalog.json", if_none_match=True), public, publisher) == "allow"
    assert infra.split_bucket_url("s3://my-bucket") == ("my-bucket", "")
    assert infra.split_bucket_url("s3://my-bucket/a/b/") == ("my-bucket", "a/b")


# -- infra apply on a bucket that already has settings: shown, replaced only with --yes -----

SOMEONE_ELSES = {
    "policy": lambda b: {"Version": "2012-10-17", "Statement": [
        {"Sid": "SomeoneElsesPublicFolder", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{b}/public/*"}]},
    "cors": [{"ID": "maps-viewer", "AllowedOrigins": ["https://maps.example.org"], "AllowedMethods": ["GET"]}],
    "lifecycle": [{"ID": "expire-logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}}],
}


def _put_someone_elses(s3_client, bucket: str, parts=("policy", "cors", "lifecycle")) -> None:
    if "policy" in parts:
        s3_client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(SOMEONE_ELSES["policy"](bucket)))
    if "cors" in parts:
        s3_client.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": SOMEONE_ELSES["cors"]})
    if "lifecycle" in parts:
        s3_client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": SOMEONE_ELSES["lifecycle"]})


def _on_the_server(s3_client, bucket: str) -> dict[str, Any]:
    """Every setting `infra apply` manages, as the server holds it (None where there is none)."""
    from botocore.exceptions import ClientError

    out: dict[str, Any] = {"versioning": s3_client.get_bucket_versioning(Bucket=bucket).get("Status")}
    for name, call, key in (("policy", s3_client.get_bucket_policy, "Policy"), ("cors", s3_client.get_bucket_cors, "CORSRules"),
                            ("lifecycle", s3_client.get_bucket_lifecycle_configuration, "Rules"),
                            ("public_access_block", s3_client.get_public_access_block, "PublicAccessBlockConfiguration")):
        try:
            out[name] = call(Bucket=bucket)[key]
        except ClientError:
            out[name] = None
    return out


def _cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SEN12STAC_"))}
    env.update(AWS_ACCESS_KEY_ID=TEST_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=TEST_SECRET_KEY, AWS_DEFAULT_REGION="us-east-1", COLUMNS="200")
    return env


@pytest.mark.s3
def test_infra_apply_shows_what_it_would_replace_and_replaces_only_with_yes(tmp_path, moto, bucket, s3_client):
    _put_someone_elses(s3_client, bucket)
    before = _on_the_server(s3_client, bucket)
    cli = [sys.executable, "-m", "sen12stac.cli", "infra", "apply", f"s3://{bucket}/sen12", "--allow-http", "--endpoint-url", moto.endpoint_url]
    refused = subprocess.run(cli, env=_cli_env(), capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    # the difference, per part: what is there now (-) and what would replace it (+)
    shown = refused.stdout.splitlines()
    for gone in ("SomeoneElsesPublicFolder", "https://maps.example.org", "expire-logs"):
        assert any(line.startswith("-") and gone in line for line in shown), (gone, refused.stdout)
    for coming in ("CreateOnlyUnderThePrefix", "stac-browser-read", "abort-incomplete-multipart-uploads"):
        assert any(line.startswith("+") and coming in line for line in shown), (coming, refused.stdout)
    # one line saying what and how
    (error,) = refused.stderr.strip().splitlines()
    assert "--yes" in error and "bucket policy" in error and "CORS" in error and "lifecycle" in error, error
    assert _on_the_server(s3_client, bucket) == before  # nothing written, not even versioning

    applied = subprocess.run([*cli, "--yes"], env=_cli_env(), capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    from sen12stac import infra

    now = _on_the_server(s3_client, bucket)
    assert json.loads(now["policy"]) == infra.bucket_policy(infra.BucketValues(bucket, "sen12"), public=False, require_tls=False)
    assert now["cors"] == infra.cors_rules() and now["versioning"] == "Enabled"

    again = subprocess.run(cli, env=_cli_env(), capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert again.returncode == 0 and "nothing to change" in again.stdout, again.stdout + again.stderr
    for out in (refused, applied, again):
        assert TEST_SECRET_KEY not in out.stdout + out.stderr


@pytest.mark.s3
def test_infra_apply_needs_yes_only_for_the_parts_that_differ(moto, bucket, s3_client):
    from sen12stac import infra

    first = infra.apply(s3_client, bucket, "sen12", endpoint=moto.endpoint_url, allow_http=True)  # empty bucket: no --yes
    assert len(first.applied) == 5 and not first.unchanged
    _put_someone_elses(s3_client, bucket, parts=("cors",))
    with pytest.raises(ConfigError, match="--yes") as refused:
        infra.apply(s3_client, bucket, "sen12", endpoint=moto.endpoint_url, allow_http=True)
    assert "CORS" in str(refused.value) and "policy" not in str(refused.value) and "lifecycle" not in str(refused.value)
    assert s3_client.get_bucket_cors(Bucket=bucket)["CORSRules"] == SOMEONE_ELSES["cors"]
    report = infra.apply(s3_client, bucket, "sen12", endpoint=moto.endpoint_url, allow_http=True, yes=True)
    assert [a.split(":")[0] for a in report.applied] == ["CORS"] and len(report.unchanged) == 4
    assert s3_client.get_bucket_cors(Bucket=bucket)["CORSRules"] == infra.cors_rules()
    # public -> private is a replacement too (the policy and the public access block differ)
    infra.apply(s3_client, bucket, "sen12", public=True, endpoint=moto.endpoint_url, allow_http=True, yes=True)
    with pytest.raises(ConfigError, match="bucket policy.*public access block|public access block.*bucket policy"):
        infra.apply(s3_client, bucket, "sen12", public=False, endpoint=moto.endpoint_url, allow_http=True)
