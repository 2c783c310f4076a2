"""CLI behaviour a user meets: settings precedence, paths in messages, exit codes."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sen12stac.cli import app
from sen12stac.errors import ConfigError
from sen12stac.runtime.gdalenv import endpoint_parts

RUN = CliRunner()

pytest_plugins = ["tests.conftest_s3"]


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
from sen12stac.cli.settings import Settings
def boom(*a, **kw):
    aws_secret = "sen12stac-LOCAL-SECRET-" + "0123456789"
    raise RuntimeError("unexpected")
Settings.build_config = boom
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


def test_build_release_with_a_folder_out_is_refused_before_any_work(tmp_path):
    r = RUN.invoke(app, ["build", "--out", str(tmp_path / "o"), "--release", "1.0.0", "--workers", "0", "--scene-size", "256",
                         "--seasons", "spring", "--scenes-per-season", "1"])
    assert r.exit_code == 2, r.output
    assert "--release 1.0.0" in r.output and "sen12stac publish" in r.output and "Fix:" in r.output
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


# --------------------------------------------------------------------------- the CLI as users expect

def _help(*args: str) -> str:
    r = RUN.invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    return r.output


def _options(help_text: str) -> dict[str, str]:
    """Each option's whole entry in a rich help text (an entry may span several lines)."""
    entries: dict[str, str] = {}
    current = None
    for line in help_text.splitlines():
        m = re.match(r"│\s+(?:\*\s+)?(--[a-z0-9-]+)", line)
        if m:
            current = m.group(1)
            entries[current] = line
        elif current and line.startswith("│"):
            entries[current] += " " + line.strip("│ ")
        else:
            current = None
    return entries


def test_build_help_groups_its_options_and_shows_every_default():
    text = _help("build")
    for panel in ("What to build", "Where it goes", "Source: synthetic", "Source: local", "Source: Earth Engine", "Source: STAC APIs", "Performance", "Release"):
        assert f"─ {panel} ─" in text, panel
    options = _options(text)
    assert len(options) >= 28, sorted(options)
    for name, entry in options.items():
        if name != "--help":
            assert "[default:" in entry or "[required]" in entry, entry
    # choices are listed (and refused by the parser: test_wrong_choices_and_old_names_are_one_line_naming_the_fix)
    assert "compatible|fast" in options["--compression"] and "synthetic|local|earthengine|stac" in options["--source"]
    assert "pixels|gcs|drive" in options["--ee-export"] and "earth-search|planetary-computer" in options["--stac-preset"]
    # names that no longer collide: --compression is the COG setting, --aws-profile the AWS profile, --release the version
    assert "--profile" not in options and "--version" not in options
    assert "--aws-profile" in options and "--release" in options


def _figure(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    assert m, (pattern, text)
    return float(m.group(1).replace(",", ""))


def test_build_help_says_what_a_build_without_scenes_per_season_is():
    text = " ".join(_help("build").rsplit("╯", 1)[1].split())  # the epilog (after the last panel), unwrapped
    assert "Without --scenes-per-season" in text and "whole dataset" in text, text
    # the paper published 282,384 pairs; the measured rates (bench/results/season.md) project
    # 13-17 min with fast compression and 23-29 min with DEFLATE on 2 workers, 57 GB with fast
    pairs = _figure(r"~([\d,]+) pairs", text)
    assert 0.9 * 282_384 <= pairs <= 1.1 * 282_384, text
    assert 80 <= _figure(r"~(\d+) GB, roughly \d+ min on 2 workers", text) <= 110, text  # COGs and training shards (--layout both)
    assert 40 <= _figure(r"--layout cogs or shards ~(\d+) GB", text) <= 60, text
    assert 20 <= _figure(r"GB, roughly (\d+) min on 2 workers", text) <= 35, text
    assert 50 <= _figure(r"--compression fast ~(\d+) GB", text) <= 65, text
    assert 10 <= _figure(r"--compression fast ~\d+ GB, roughly (\d+) min", text) <= 20, text


def test_a_build_says_how_much_work_it_is_in_its_first_line(tmp_path):
    r = _cli_proc("build", "--out", str(tmp_path / "o"), "--seasons", "spring,winter", "--scenes-per-season", "2",
                  "--scene-size", "768", "--workers", "0", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]  # stdout: the report (stderr stays progress and errors)
    assert first.startswith("this build: about 4 scenes, ~") and "in this process" in first, r.stdout
    expected = _figure(r"~([\d,]+) pairs", first)
    published = _figure(r"^(\d+) patch pairs", r.stdout.splitlines()[-1])
    assert published / 2 <= expected <= published * 2, (first, published)
    assert "every ROI" not in first  # --scenes-per-season was given


def test_a_build_of_the_whole_dataset_says_so_before_the_first_scene(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "sen12stac.cli", "build", "--out", str(tmp_path / "o"), "--workers", "0"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "COLUMNS": "80"})
    try:
        first = proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert first.startswith("this build: about "), first
    scenes = _figure(r"about ([\d,]+) scenes", first)
    assert 4 * 140 <= scenes <= 4 * 150, first  # every kept ROI of the four seasons (150 sampled per season)
    assert 0.9 * 282_384 <= _figure(r"~([\d,]+) pairs", first) <= 1.1 * 282_384, first
    assert "every ROI" in first and "--scenes-per-season" in first, first


def test_wrong_choices_and_old_names_are_one_line_naming_the_fix(tmp_path):
    for args, needle in (
        (["build", "--out", "o", "--source", "landsat"], "'synthetic', 'local', 'earthengine', 'stac'"),
        (["build", "--out", "o", "--compression", "zstd"], "'compatible', 'fast'"),
        (["build", "--out", "o", "--profile", "fast"], "Fix: use --compression compatible|fast"),
        (["build", "--out", "o", "--version", "1.0.0"], "Fix: use --release X.Y.Z"),
        (["publish", "o", "s3://b/p", "--version", "1.0.0"], "Fix: use --release X.Y.Z"),
    ):
        r = _cli_proc(*args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0] and lines[0].count("Fix:") == 1, (args, r.stderr)
    assert not (tmp_path / "o").exists()


def test_config_precedence_command_line_then_environment_then_file_then_defaults(tmp_path, monkeypatch):
    from sen12stac.cli.settings import Settings
    from sen12stac.config import COG_PROFILES

    cfg = tmp_path / "build.toml"
    cfg.write_text('workers = 3\nscheduler = "tcp://127.0.0.1:1"\nseasons = ["fall"]\n[cog]\nlevel = 3\nblocksize = 512\n'
                   '[stac]\npreset = "earth-search"\n[stac.s1]\ncollection = "from-the-file"\n')
    for key in [k for k in __import__("os").environ if k.startswith("SEN12STAC_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SEN12STAC_WORKERS", "1")
    monkeypatch.setenv("SEN12STAC_COG__LEVEL", "4")
    monkeypatch.setenv("SEN12STAC_WORK_DIR", str(tmp_path / "cache"))
    settings = Settings.load()
    # the environment over the file, the file over the defaults, sections merged key by key
    c = settings.build_config({}, cfg)
    assert (c.workers, c.scheduler, c.seasons, c.cog.level, c.cog.blocksize, c.scene_size_px) == (1, "tcp://127.0.0.1:1", ("fall",), 4, 512, 4480)
    assert c.stac.preset == "earth-search" and c.stac.s1.collection == "from-the-file"
    assert c.earthengine.cache_dir == tmp_path / "cache" / "earthengine"  # the work folder's
    # the command line over both
    c = settings.build_config({"workers": 0, "cog": COG_PROFILES["fast"], "stac": {"s1": {"api_url": "http://127.0.0.1:2/"}}, "seasons": None}, cfg)
    assert (c.workers, c.cog.compress, c.cog.level, c.cog.blocksize, c.seasons) == (0, "ZSTD", 1, 512, ("fall",))
    assert c.stac.s1.collection == "from-the-file" and c.stac.s1.api_url == "http://127.0.0.1:2/"
    # without a file: the defaults under the environment
    c = settings.build_config({})
    assert (c.workers, c.scheduler, c.cog.level, c.cog.blocksize, len(c.seasons)) == (1, None, 4, 256, 4)


def test_the_environment_wins_over_the_config_file_in_a_build(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"workers": 2, "seasons": ["winter"], "scene_size_px": 256, "scenes_per_season": 1}))
    r = _cli_proc("build", "--out", str(tmp_path / "o"), "--config", str(cfg), cwd=tmp_path, env={"SEN12STAC_WORKERS": "0"})
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith("this build: about 1 scene,") and first.endswith("in this process"), r.stdout


def test_bad_configuration_values_are_one_line(tmp_path):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("workers = [")
    for args, env, needle in (
        (["--config", str(cfg)], {}, f"configuration file {cfg} does not parse"),
        (["--config", str(tmp_path / "missing.json")], {}, "cannot read the configuration file"),
        ([], {"SEN12STAC_WORKERS": "many"}, "invalid configuration: workers"),
        ([], {"SEN12STAC_SEASONS": "spring,fall"}, "SEN12STAC_* lists and sections as JSON"),
        ([], {"SEN12STAC_PROGRESS_INTERVAL": "often"}, "SEN12STAC_PROGRESS_INTERVAL"),
    ):
        r = _cli_proc("build", "--out", str(tmp_path / "o"), *args, cwd=tmp_path, env=env)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2 and len(lines) == 1 and needle in lines[0] and "Fix:" in lines[0], (args, env, r.stderr)
    assert not (tmp_path / "o").exists()


@pytest.mark.s3
def test_aws_profile_is_the_s3_profile_and_wins_over_the_environments_keys(tmp_path, auth_moto):
    import os

    server, key_id, secret = auth_moto
    creds = tmp_path / "credentials"
    creds.write_text(f"[sen12-test]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SEN12STAC_"))}
    env.update({"AWS_SHARED_CREDENTIALS_FILE": str(creds), "AWS_CONFIG_FILE": str(tmp_path / "no-config"), "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": "not-the-secret-0123456789", "COLUMNS": "80"})
    cmd = ["validate", "s3://locked/none", "--endpoint-url", server.endpoint_url, "--no-assets"]
    import subprocess
    import sys

    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sen12stac.cli", *cmd, *extra], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    denied = run()  # the environment's keys: refused by the server
    assert denied.returncode == 4 and "denied" in denied.stderr, denied.stderr
    profiled = run("--aws-profile", "sen12-test")  # the profile's keys: the bucket answers (there is no catalog there)
    assert profiled.returncode == 6 and "the root catalog does not exist in s3://locked/none" in profiled.stderr, profiled.stderr
    missing = run("--aws-profile", "no-such-profile")
    assert missing.returncode != 0 and "no-such-profile" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1, missing.stderr
    for r in (denied, profiled, missing):
        assert secret not in r.stdout + r.stderr


def test_the_library_never_imports_the_cli():
    import ast

    root = __import__("conftest").REPO / "sen12stac"
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if rel.parts[0] == "cli" or rel == Path("entry.py"):  # the CLI, and the command's launcher that imports it
            continue
        package = ["sen12stac", *rel.parts[:-1]]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                names = [".".join([*base, node.module or ""]).strip(".")]
                names += [f"{names[0]}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if any(n == "sen12stac.cli" or n.startswith("sen12stac.cli.") for n in names):
                offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, offenders


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
    args = ("publish", str(build), str(rel), "--release", "1.0.0", "--workers", "1")
    proc = _command(*args, cwd=tmp_path)
    _stdout, err = _interrupt(proc, lambda: (rel / "v1.0.0").exists() and any((rel / "v1.0.0").rglob("*.tif")), to_group=True)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "v1.0.0 is not in the landing catalog" in lines[0] and lines[0].endswith("sen12stac " + " ".join(args)), err
    assert not (rel / "catalog.json").exists() and not (rel / "v1.0.0" / "catalog.json").exists()  # not published
    again = _command(*args, cwd=tmp_path)
    _out, err = again.communicate(timeout=600)
    assert again.returncode == 0 and (rel / "catalog.json").exists(), err


def test_every_command_has_a_help_page():
    """Each command's and subcommand's --help renders (a help text with `[/...]` in it is rich markup)."""
    from typer.main import get_command

    def walk(cmd, path: list[str]):
        yield path
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, [*path, name])

    paths = list(walk(get_command(app), []))
    assert len(paths) > 15
    broken = []
    for path in paths:
        r = RUN.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        if r.exit_code != 0:
            broken.append(f"{' '.join(path) or '(top)'}: {r.exception!r}")
    assert not broken, broken
