"""The pystac-client snippet `sen12stac api up` prints runs as printed and finds pairs."""
from __future__ import annotations

import contextlib
import io

pytest_plugins = ["tests.apifixtures"]


def test_up_snippet_runs_and_finds_pairs(api_url):
    # it searched spring's test split over Europe, which printed "0 []" on ./demo (no test scene there)
    from sen12stac.api.serve import client_snippet

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(client_snippet(api_url, "ROIs1158_spring"), {})
    count = int(printed.getvalue().split()[0])
    assert count > 0, printed.getvalue()
    assert "ROIs1158_spring_" in printed.getvalue()
