"""infra apply: the release bucket as code (sen12stac/infra/; infra/README.md)."""
from __future__ import annotations

from typing import Optional

import typer

from ..errors import Sen12StacError
from .output import fail, out
from .settings import endpoint_option, profile_option, settings_of

app = typer.Typer(no_args_is_help=True, help="The release bucket as code: policy, CORS, versioning, lifecycle (the same definition as infra/bucket.yaml).")


@app.command("apply")
def infra_apply(
    ctx: typer.Context,
    bucket_url: str = typer.Argument(..., help="s3://BUCKET\\[/PREFIX]: the bucket, and the prefix `sen12stac publish` writes releases under"),
    public: bool = typer.Option(False, "--public", help="let anyone read the released data (GetObject on PREFIX/catalog.json and PREFIX/v*/*); default private"),
    no_public_access_block: bool = typer.Option(False, "--no-public-access-block", help="skip the public access block (endpoints without that API, e.g. MinIO)"),
    allow_http: bool = typer.Option(False, "--allow-http", help="a plain-http endpoint (local MinIO, moto): leave out the statement that denies plain-HTTP requests"),
    endpoint_url: Optional[str] = endpoint_option(),
    aws_profile: Optional[str] = profile_option(),
    yes: bool = typer.Option(False, "--yes", help="replace settings the bucket already has in another form (shown as a diff first; without --yes nothing is changed)"),
) -> None:
    """Put the bucket's versioning, CORS, lifecycle rule, public access block and policy: shows each part's difference first, replaces existing ones only with --yes (idempotent)."""
    settings = settings_of(ctx)
    try:
        from .. import infra
        from ..store.s3 import S3Store

        bucket, prefix = infra.split_bucket_url(bucket_url)
        opts = settings.s3(endpoint_url, aws_profile)
        store = S3Store.from_url(f"s3://{bucket}", **opts)
        report = infra.apply(store.boto3_client(), bucket, prefix, public=public, endpoint=opts.get("endpoint_url") or "AWS", allow_http=allow_http,
                             public_access_block_supported=not no_public_access_block, yes=yes,
                             on_plan=lambda plan: out.print(plan.plan_text(), highlight=False, markup=False, soft_wrap=True))
        out.print(str(report), highlight=False, soft_wrap=True)
    except Sen12StacError as exc:
        fail(exc)
