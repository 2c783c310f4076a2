"""A real Dask cluster of separate processes on 127.0.0.1 for tests: ``dask scheduler`` and
``dask worker`` (no nanny: one process per worker, so a test can SIGKILL it), each started
in its own empty working folder with its own environment -- nothing shared with the client
but the scheduler's address (and, for the workers, the object store they write to)."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from .s3server import free_port, venv_command


DASK_SETTINGS = Path(__file__).resolve().parents[1] / "infra" / "dask"


def dask_exe() -> str:
    return venv_command("dask", "the `dask` command (package distributed) is not installed: run `make venv`")


class DaskCluster:
    def __init__(self, base: Path, *, workers: int = 2, env: dict[str, str] | None = None, start_timeout: float = 60.0) -> None:
        self.base = Path(base)
        self.n_workers = workers
        self.env = env or {}
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []

    @property
    def address(self) -> str:
        assert self.port is not None, "cluster not started"
        return f"tcp://127.0.0.1:{self.port}"

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        cwd = self.base / name
        cwd.mkdir(parents=True, exist_ok=True)
        log = open(cwd / "log.txt", "wb")
        return subprocess.Popen([dask_exe(), *args], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def _base_env(self) -> dict[str, str]:
        # a clean environment: no credentials or settings of the test process leak in
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env["DASK_DISTRIBUTED__WORKER__DAEMON"] = "False"
        env["DASK_CONFIG"] = str(DASK_SETTINGS)  # the project's settings, as its README tells a cluster's operator
        return env

    def start(self) -> "DaskCluster":
        self.port = free_port()
        self.scheduler = self._spawn("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"], self._base_env())
        for i in range(self.n_workers):
            self.add_worker(i)
        # Ready when every worker has logged its registration with the scheduler. (Polling with a
        # throwaway distributed.Client per try once hung inside Client() for minutes on a loaded
        # machine, past its own timeout; reading the workers' logs cannot hang.)
        deadline = time.monotonic() + self.start_timeout
        while not all(self._registered(i) for i in range(self.n_workers)):
            dead = [p for p in [self.scheduler, *self.workers] if p.poll() is not None]
            if time.monotonic() > deadline or dead:
                self.close()
                raise RuntimeError(f"the Dask cluster did not come up in {self.start_timeout:.0f} s:\n{self.logs()}")
            time.sleep(0.2)
        return self

    def _registered(self, i: int) -> bool:
        log = self.base / f"worker{i}" / "log.txt"
        return log.exists() and "Registered to:" in log.read_text(errors="replace")

    def add_worker(self, i: int) -> subprocess.Popen:
        env = {**self._base_env(), **self.env}
        p = self._spawn(f"worker{i}", ["worker", self.address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny", "--no-dashboard",
                                        "--name", f"w{i}", "--local-directory", str(self.base / f"worker{i}" / "dask")], env)
        self.workers.append(p)
        return p

    def kill_worker(self, i: int) -> None:
        os.kill(self.workers[i].pid, signal.SIGKILL)
        self.workers[i].wait(10)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{(p / 'log.txt').read_text(errors='replace')[-3000:]}" for p in sorted(self.base.iterdir()) if (p / "log.txt").exists())

    def close(self) -> None:
        for p in [*self.workers, self.scheduler]:
            if p is not None and p.poll() is None:
                p.terminate()
        for p in [*self.workers, self.scheduler]:
            if p is not None:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)

    def __enter__(self) -> "DaskCluster":
        try:
            return self.start()
        except BaseException:  # a failed or interrupted start (e.g. a pytest timeout) leaves no process behind
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()
