"""CLI behaviour a user meets: settings precedence, paths in messages, exit codes."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sen12stac.cli import app
from sen12stac.errors import ConfigError
from sen12stac.runtime.gdalenv import endpoint_parts

RUN = CliRunner()


def test_config_file_source_is_not_overridden_by_the_default(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"source": "local", "source_path": str(tmp_path / "no-such-scenes")}))
    r = RUN.invoke(app, ["build", "--out", str(tmp_path / "o"), "--config", str(cfg), "--workers", "0"])
    assert r.exit_code == 2, r.output
    assert "no-such-scenes" in r.output  # the local source was used, and it names the missing folder
    assert not (tmp_path / "o").exists()


def test_paths_with_brackets_are_printed_verbatim(tmp_path):
    odd = tmp_path / "[old]" / "qc.json"
    r = RUN.invoke(app, ["build", "--out", str(tmp_path / "o"), "--overrides", str(odd), "--workers", "0", "--scene-size", "256", "--seasons", "spring", "--scenes-per-season", "1"])
    assert r.exit_code == 2, r.output
    assert "[old]" in r.output.replace("\n", "")


def test_validate_a_catalog_in_the_current_folder(tmp_path, monkeypatch):
    src = __import__("conftest").REPO / "catalog" / "examples"
    shutil.copytree(src, tmp_path / "ex")
    monkeypatch.chdir(tmp_path / "ex")
    r = RUN.invoke(app, ["validate", "catalog.json", "--no-assets"])
    assert r.exit_code == 0, r.output
    assert "valid" in r.output


def test_endpoint_with_user_information_is_refused_without_echoing_it():
    for url in ("minio:S3CR3TKEY@minio.local:9000", "http://user:S3CR3TKEY@minio.local:9000"):
        try:
            endpoint_parts(url)
        except ConfigError as exc:
            assert "S3CR3TKEY" not in str(exc) and "Fix:" in str(exc)
        else:
            raise AssertionError(f"{url} was accepted")


def _run_cli(code: str, *args: str, env: dict | None = None, cwd=None):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, "COLUMNS": "80", **(env or {})})


def test_an_unexpected_error_never_prints_local_variables_whatever_typers_default(tmp_path):
    """Older typer versions show locals in tracebacks by default; a local may hold a secret."""
    code = '''
import sys, typer
orig = typer.Typer.__init__
def init(self, *a, **kw):  # a typer whose default is to show locals (typer < 0.12 did)
    kw.setdefault("pretty_exceptions_show_locals", True)
    orig(self, *a, **kw)
typer.Typer.__init__ = init
import sen12stac.cli as cli
def boom(*a, **kw):
    aws_secret = "sen12stac-LOCAL-SECRET-" + "0123456789"
    raise RuntimeError("unexpected")
cli._config_from_options = boom
sys.argv = ["sen12stac", *sys.argv[1:]]
cli.main()
'''
    r = _run_cli(code, "build", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert r.returncode != 0 and "RuntimeError" in r.stderr, r.stderr
    assert "sen12stac-LOCAL-SECRET-0123456789" not in r.stdout + r.stderr


def _cli_proc(*args: str, cwd, env: dict | None = None):
    """The real command with stderr/stdout piped (not a terminal, as in CI or a redirect), 80 columns."""
    return _run_cli("import sys; from sen12stac.cli import main; sys.argv = ['sen12stac', *sys.argv[1:]]; main()", *args, cwd=cwd, env=env)


def test_a_build_logged_to_a_file_prints_progress_lines_as_it_goes_and_a_whole_summary(tmp_path):
    r = _cli_proc("build", "--out", str(tmp_path / "o"), "--seasons", "spring,winter", "--scenes-per-season", "2",
                  "--scene-size", "768", "--workers", "0", cwd=tmp_path, env={"SEN12STAC_PROGRESS_INTERVAL": "0.5"})
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("progress: ")]
    # steady lines while it runs (not one at the end): elapsed time grows, scenes are counted as they finish
    assert len(lines) >= 4, r.stderr
    assert any("scenes 0/4" in ln or "scenes 1/4" in ln for ln in lines) and "scenes 4/4" in lines[-1]
    assert all(" pairs, " in ln and "pairs/s" in ln and ("ETA" in ln or "scenes done" in ln or "writing" in ln) for ln in lines), lines
    assert any("ETA " in ln and "ETA unknown" not in ln for ln in lines), lines
    # the summary table at 80 columns shows each set name whole, on its row
    rows = [ln for ln in r.stdout.splitlines() if ln.startswith("│")]
    assert any(ln.startswith("│ROIs1158_spring│") for ln in rows) and any(ln.startswith("│ROIs2017_winter│") for ln in rows), r.stdout
    assert all(len(ln) <= 80 for ln in r.stdout.splitlines() if ln.startswith(("│", "┃", "┏", "└"))), r.stdout


def test_an_error_is_one_line_with_its_path_unbroken_and_fix_once(tmp_path):
    deep = tmp_path / ("a-rather-long-folder-name-" * 3) / "and-another-level" / "qc-overrides.json"
    r = _cli_proc("build", "--out", str(tmp_path / "o"), "--overrides", str(deep), "--workers", "0", "--scene-size", "256",
                  "--seasons", "spring", "--scenes-per-season", "1", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.strip()]
    err = [ln for ln in errors if ln.startswith("error: ")]
    assert len(err) == 1 and str(deep) in err[0] and err[0].count("Fix:") == 1, r.stderr
    assert len(err[0]) > 80  # longer than the terminal width, still one line


def test_an_unreachable_dask_scheduler_is_one_line_naming_it_and_nothing_is_written(tmp_path):
    from tests.s3server import free_port

    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    r = _cli_proc("build", "--out", str(tmp_path / "o"), "--scheduler", address, "--scene-size", "256",
                  "--seasons", "spring", "--scenes-per-season", "1", cwd=tmp_path,
                  env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"})
    assert r.returncode == 2, r.stderr
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert len(err) == 1 and f"cannot reach the Dask scheduler {address}" in err[0] and "Fix: start it" in err[0], r.stderr
    assert "Traceback" not in r.stderr and "╭" not in r.stderr, r.stderr
    from sen12stac.store import LocalStore

    assert not list(LocalStore(tmp_path / "o").list())  # no object (the deferred store's sync marker is none)


def test_version_flag_prints_the_package_version():
    from sen12stac import __version__

    r = RUN.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"sen12stac {__version__}", r.output


def test_build_version_with_a_folder_out_is_refused_before_any_work(tmp_path):
    r = RUN.invoke(app, ["build", "--out", str(tmp_path / "o"), "--version", "1.0.0", "--workers", "0", "--scene-size", "256",
                         "--seasons", "spring", "--scenes-per-season", "1"])
    assert r.exit_code == 2, r.output
    assert "--version 1.0.0" in r.output and "sen12stac publish" in r.output and "Fix:" in r.output
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- fail before work

_SMALL = ["--workers", "0", "--scene-size", "256", "--seasons", "spring", "--scenes-per-season", "1"]


def test_out_an_existing_file_is_refused_before_any_scene(tmp_path):
    target = tmp_path / "not-a-folder.txt"
    target.write_text("keep me\n")
    r = _cli_proc("build", "--out", str(target), *_SMALL, cwd=tmp_path, env={"SEN12STAC_PROGRESS_INTERVAL": "0.2"})
    assert r.returncode == 2, r.stdout + r.stderr
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert len(err) == 1 and str(target) in err[0] and "Fix:" in err[0], r.stderr
    assert "Traceback" not in r.stderr and "progress:" not in r.stderr  # refused before the first scene
    assert target.read_text() == "keep me\n"
    under = _cli_proc("build", "--out", str(target / "sub"), *_SMALL, cwd=tmp_path)
    assert under.returncode == 2 and "Traceback" not in under.stderr, under.stderr


def _unwritable_folder(tmp_path):
    """A folder this process cannot write to, also as root (chmod alone does not stop root)."""
    import os
    import subprocess

    d = tmp_path / "locked"
    d.mkdir()
    d.chmod(0o555)
    if os.access(d, os.W_OK):  # root: make it immutable instead
        subprocess.run(["chattr", "+i", str(d)], capture_output=True)
    try:
        (d / "probe").touch()
    except OSError:
        return d, lambda: subprocess.run(["chattr", "-i", str(d)], capture_output=True) and d.chmod(0o755)
    (d / "probe").unlink()
    return Path("/sys/sen12stac-unwritable"), lambda: None  # sysfs refuses mkdir even to root


def test_out_an_unwritable_folder_is_refused_before_any_scene(tmp_path):
    locked, unlock = _unwritable_folder(tmp_path)
    try:
        r = _cli_proc("build", "--out", str(locked), *_SMALL, cwd=tmp_path, env={"SEN12STAC_PROGRESS_INTERVAL": "0.2"})
    finally:
        unlock()
    assert r.returncode == 4, r.stdout + r.stderr
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert len(err) == 1 and str(locked) in err[0] and "cannot be written" in err[0] and "Fix:" in err[0], r.stderr
    assert "Traceback" not in r.stderr and "progress:" not in r.stderr


# --------------------------------------------------------------------------- Ctrl-C


def _command(*args: str, cwd, env: dict | None = None):
    """The installed ``sen12stac`` command (the console script), in its own process group as a
    terminal's foreground job is, stdout and stderr piped, no progress lines."""
    import os
    import subprocess
    import sys

    script = Path(sys.executable).with_name("sen12stac")
    cmd = [str(script)] if script.exists() else [sys.executable, "-c", "import sys; from sen12stac.entry import main; sys.argv = ['sen12stac', *sys.argv[1:]]; main()"]
    return subprocess.Popen([*cmd, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "SEN12STAC_PROGRESS_INTERVAL": "1000", **(env or {})})


def _interrupt(proc, when, to_group: bool, timeout: float = 300) -> tuple[str, str]:
    """Wait until ``when()`` holds, then send SIGINT to the process (or to its whole group, as
    a terminal's Ctrl-C does); return (stdout, stderr) once it ended, and check that no
    process of its group (a Dask worker) outlives it."""
    import os
    import signal
    import time

    deadline = time.monotonic() + timeout
    while not when():
        assert proc.poll() is None, f"it ended before the interrupt: {proc.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "the moment never came"
        time.sleep(0.02)
    (os.killpg if to_group else os.kill)(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    deadline = time.monotonic() + 30
    while True:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "a process of the build outlived it"
        time.sleep(0.2)
    return out, err


@pytest.mark.parametrize("moment,to_group", [("imports", False), ("cluster", True), ("scenes", False), ("scenes", True)])
def test_ctrl_c_during_a_build_is_one_line_with_the_command_that_resumes_and_exit_130(tmp_path, moment, to_group):
    import time

    out = tmp_path / "out"
    args = ("build", "--out", str(out), "--seasons", "spring", "--scenes-per-season", "3", "--scene-size", "1024", "--workers", "2")
    proc = _command(*args, cwd=tmp_path)
    t0 = time.monotonic()
    when = {
        "imports": lambda: time.monotonic() - t0 > 0.2,  # the command's modules are still loading
        "cluster": lambda: out.exists(),  # planned; the Dask cluster starts
        "scenes": lambda: out.exists() and any(out.rglob("*.tif")),  # a scene is writing its pairs
    }[moment]
    _stdout, err = _interrupt(proc, when, to_group)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted: "), err  # one line: no traceback, no Dask log
    assert lines[0].endswith("to resume, run: sen12stac " + " ".join(args)), lines[0]
    assert not out.exists()  # the build created it; nothing of it is left


def test_ctrl_c_during_a_publish_is_one_line_and_the_same_command_completes_it(tmp_path):
    from tests.fakebuild import make_build

    build = make_build(tmp_path / "build", scenes=6, patches=6, cog_size=256)
    rel = tmp_path / "releases"
    args = ("publish", str(build), str(rel), "--version", "1.0.0", "--workers", "1")
    proc = _command(*args, cwd=tmp_path)
    _stdout, err = _interrupt(proc, lambda: (rel / "v1.0.0").exists() and any((rel / "v1.0.0").rglob("*.tif")), to_group=True)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "v1.0.0 is not in the landing catalog" in lines[0] and lines[0].endswith("sen12stac " + " ".join(args)), err
    assert not (rel / "catalog.json").exists() and not (rel / "v1.0.0" / "catalog.json").exists()  # not published
    again = _command(*args, cwd=tmp_path)
    _out, err = again.communicate(timeout=600)
    assert again.returncode == 0 and (rel / "catalog.json").exists(), err
