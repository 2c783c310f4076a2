"""A real S3 server for tests and benchmarks: ``moto_server -H 127.0.0.1 -p PORT`` as a subprocess.

Reached over HTTP (boto3 and GDAL /vsis3/), loopback only. Starts in about a second.

    with MotoServer() as server:
        client = server.client()
        client.create_bucket(Bucket="b")

``no_auth_count``: moto's ``INITIAL_NO_AUTH_ACTION_COUNT``. Unset (default), moto accepts any
credentials. ``auth_after(n)`` switches authentication on for a running server: after
``n`` more requests every request must be signed with an access key that exists in moto's
IAM (use :meth:`create_access_key` first).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

# Dummy credentials for tests. Distinctive so tests can grep every output for them.
TEST_ACCESS_KEY = "AKIASEN12STACTEST001"
TEST_SECRET_KEY = "sen12stac-test-SECRET-must-never-leak-0123456789"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def venv_command(name: str, missing: str) -> str:
    """The console script ``name`` beside this interpreter (the project's venv), else on PATH;
    RuntimeError(``missing``) when neither has it."""
    exe = Path(sys.executable).with_name(name)
    if exe.exists():
        return str(exe)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(missing)
    return found


def moto_server_exe() -> str:
    return venv_command("moto_server", "moto_server not found: install the dev extras (pip install -e '.[dev]')")


class MotoServer:
    def __init__(self, *, host: str = "127.0.0.1", extra_env: dict[str, str] | None = None, start_timeout: float = 20.0):
        self.host = host
        self.port: int | None = None
        self.extra_env = dict(extra_env or {})
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)

    @property
    def endpoint_url(self) -> str:
        assert self.port is not None, "server not started"
        return f"http://{self.host}:{self.port}"

    def start(self) -> "MotoServer":
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        env.update(self.extra_env)
        last_error = "did not start"
        for _ in range(3):  # a freshly picked free port can be taken by someone else
            self.port = free_port()
            self.proc = subprocess.Popen(
                [moto_server_exe(), "-H", self.host, "-p", str(self.port)],
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    last_error = f"exited with {self.proc.returncode}"
                    break
                try:
                    with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1) as r:
                        if r.status == 200:
                            return self
                except (urllib.error.URLError, ConnectionError, OSError):
                    time.sleep(0.05)
            else:
                last_error = f"not answering after {self.start_timeout}s"
            self.stop()
        raise RuntimeError(f"moto_server {last_error}; log: {self.log_text()[-2000:]}")

    def log_text(self) -> str:
        try:
            return Path(self._log.name).read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def close(self) -> None:
        self.stop()
        try:
            os.unlink(self._log.name)
        except OSError:
            pass

    def __enter__(self) -> "MotoServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- helpers -------------------------------------------------------------------------
    def client(self, service: str = "s3", access_key: str = TEST_ACCESS_KEY, secret_key: str = TEST_SECRET_KEY, endpoint_url: str | None = None):
        import boto3
        from botocore.config import Config

        return boto3.session.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name="us-east-1"
        ).client(
            service,
            endpoint_url=endpoint_url or self.endpoint_url,
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "total_max_attempts": 3}),
        )

    def create_access_key(self, user: str = "publisher", policy: dict | None = None) -> tuple[str, str]:
        """An IAM user with an inline policy (default: all of S3) and an access key for it."""
        iam = self.client("iam")
        iam.create_user(UserName=user)
        policy = policy or {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def auth_after(self, n: int = 0) -> None:
        """Enforce authentication after ``n`` more requests (moto's reset-auth API)."""
        req = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset-auth", data=str(n).encode(), method="POST", headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(req, timeout=5) as r:
            r.read()
