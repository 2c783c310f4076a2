"""infra/: the CloudFormation template's CORS rules and policies equal the JSON files
(so the two cannot drift), the template lints clean, private is the default, and the
JSON files are accepted by an S3 server."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

# The S3 server fixtures (idempotent if tests/conftest.py registers them too).
pytest_plugins = ["tests.conftest_s3"]

INFRA = Path(__file__).resolve().parents[1] / "infra"
TAGS = {"Ref": "Ref", "Sub": "Fn::Sub", "If": "Fn::If", "Equals": "Fn::Equals", "GetAtt": "Fn::GetAtt", "Not": "Fn::Not"}


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
    params.update(BucketName="example-bucket", **overrides)
    return resolve(t["Resources"], params, t["Conditions"])


def json_file(name: str, **subs: str) -> Any:
    text = (INFRA / name).read_text()
    for k, v in subs.items():
        text = text.replace("${" + k + "}", v)
    return json.loads(text)


def test_cors_equals_cors_json():
    rules = rendered()["Bucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    names = {"Id": "ID", "ExposedHeaders": "ExposeHeaders", "MaxAge": "MaxAgeSeconds"}  # CFN vs S3 API spelling
    as_api = [{names.get(k, k): v for k, v in rule.items()} for rule in rules]
    assert as_api == json_file("cors.json")["CORSRules"]
    rule = as_api[0]
    assert rule["AllowedMethods"] == ["GET", "HEAD"] and "Range" in rule["AllowedHeaders"]
    assert {"ETag", "Content-Range"} <= set(rule["ExposeHeaders"])


def test_policies_equal_the_json_files():
    public = rendered(PublicRead="true")
    assert public["BucketPolicy"]["Properties"]["PolicyDocument"] == json_file("bucket-policy.json", BucketName="example-bucket")
    private = rendered()  # defaults: PublicRead=false
    expected = json_file("bucket-policy.json", BucketName="example-bucket")
    expected["Statement"] = [s for s in expected["Statement"] if s["Sid"] != "PublicReadObjects"]
    assert private["BucketPolicy"]["Properties"]["PolicyDocument"] == expected
    assert public["PublisherPolicy"]["Properties"]["PolicyDocument"] == json_file(
        "publisher-policy.json", BucketName="example-bucket", ReleasePrefix="sen12"
    )
    publisher_actions = {a for s in json_file("publisher-policy.json")["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not any("Delete" in a for a in publisher_actions)  # the tool never deletes


def test_private_by_default_and_versioned():
    t = template()
    assert t["Parameters"]["PublicRead"]["Default"] == "false"
    bucket = rendered()["Bucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert rendered(PublicRead="true")["Bucket"]["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is False


def test_template_lints_clean():
    from cfnlint.api import lint_all

    matches = lint_all((INFRA / "bucket.yaml").read_text())
    serious = [str(m) for m in matches if m.rule.id[0] in "EW"]
    assert not serious, serious


@pytest.mark.s3
def test_json_files_are_accepted_by_s3(s3_client, bucket):
    s3_client.put_bucket_cors(Bucket=bucket, CORSConfiguration=json_file("cors.json"))
    got = s3_client.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got == json_file("cors.json")["CORSRules"]
    policy = json_file("bucket-policy.json", BucketName=bucket)
    s3_client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert json.loads(s3_client.get_bucket_policy(Bucket=bucket)["Policy"]) == policy
