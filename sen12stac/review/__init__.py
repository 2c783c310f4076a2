"""Review before release: `sen12stac review BUILD`, a local page over a folder build built with
``--review`` (per season every scene with its S1 | S2 preview, QC metrics and reasons, kept and
rejected alike; per scene its patch positions), whose accept/reject clicks write the overrides
file ``sen12stac build --overrides`` reads (docs/review.md).

    state    the build read once; the overrides file, rewritten whole on each decision
    server   starlette on 127.0.0.1 (as `browse`)
    page     the HTML page
"""
