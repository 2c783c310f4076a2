"""PostgreSQL for the STAC API: a private cluster in a cache folder, DSN checks, pgstac set-up.

A private cluster is Debian's PostgreSQL + PostGIS run from a folder we own (``initdb``,
``pg_ctl``), listening on 127.0.0.1 only, trust authentication for the ``postgres`` role.
As root, PostgreSQL refuses to run; the cluster then belongs to the unprivileged
``postgres`` account and its programs run as that user.

    with PrivateCluster(Path(".sen12stac-cache/api/x")) as cluster:
        prepare_database(cluster.dsn)            # pgstac migrate, settings, queryables
        ...

Any DSN (``postgresql://user:pass@host:port/db``) is checked with :func:`check_dsn` before work
starts: one clear :class:`~sen12stac.errors.DatabaseError` when it cannot be reached or has no
pgstac.
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DatabaseError

PG_ROLE = "postgres"
DB_NAME = "pgstac"
INSTALL_FIX = "install Debian's PostgreSQL and PostGIS with `bash scripts/system-deps.sh` (or `apt-get install postgresql postgis`)"

# Server settings of the private cluster. jit off: pgstac's short searches otherwise pay JIT
# compilation (tens of ms) whenever the planner's cost estimate crosses jit_above_cost;
# synchronous_commit off: a crash loses at most the last few commits of a cache, never
# consistency; a large max_wal_size keeps checkpoints out of a bulk load;
# max_parallel_workers_per_gather 0: pgstac's searches do a few ms of work, and launching
# parallel workers added 45-65 ms to each (the API's sessions set it too: serve.py);
# wal_level minimal (no replication or archiving for a private cache; needs max_wal_senders 0):
# a collection's first load creates its partition in the load's transaction, so PostgreSQL
# writes the COPY and the index builds straight to the table files instead of the WAL too
# (PostgreSQL docs, "Populating a Database": disable WAL archival and streaming replication).
SERVER_SETTINGS: dict[str, str] = {
    "listen_addresses": "127.0.0.1",
    "shared_buffers": "256MB",
    "work_mem": "32MB",
    "maintenance_work_mem": "256MB",
    "effective_cache_size": "1GB",
    "random_page_cost": "1.1",
    "jit": "off",
    "synchronous_commit": "off",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "30min",
    "max_connections": "50",
    "max_parallel_workers_per_gather": "0",
    "wal_level": "minimal",
    "max_wal_senders": "0",
}


@dataclass(frozen=True)
class PgBinaries:
    bindir: Path
    sharedir: Path

    def exe(self, name: str) -> str:
        return str(self.bindir / name)


def find_postgres() -> PgBinaries:
    """The newest PostgreSQL server found (Debian's /usr/lib/postgresql/N/bin, else PATH) with PostGIS."""
    candidates: list[Path] = []
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted((p for p in debian.iterdir() if p.name.isdigit()), key=lambda p: int(p.name), reverse=True)
        candidates += [p / "bin" for p in versions]
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).parent)
    for bindir in candidates:
        if not (bindir / "initdb").exists() or not (bindir / "pg_ctl").exists():
            continue
        sharedir = _sharedir(bindir)
        if sharedir is None:
            continue
        if not (sharedir / "extension" / "postgis.control").exists():
            raise ConfigError(f"PostgreSQL in {bindir} has no PostGIS (no {sharedir}/extension/postgis.control)", fix=INSTALL_FIX)
        return PgBinaries(bindir, sharedir)
    raise ConfigError("no PostgreSQL server programs (initdb, pg_ctl) found in /usr/lib/postgresql/*/bin or on PATH", fix=INSTALL_FIX)


def _sharedir(bindir: Path) -> Path | None:
    pg_config = bindir / "pg_config"
    if pg_config.exists():
        try:
            return Path(subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True, check=True).stdout.strip())
        except (OSError, subprocess.CalledProcessError):
            pass
    if bindir.parent.parent.name == "postgresql":  # Debian: /usr/lib/postgresql/15/bin -> /usr/share/postgresql/15
        return Path("/usr/share/postgresql") / bindir.parent.name
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster in ``folder`` on 127.0.0.1 at ``port`` (a free one picked at start)."""

    folder: Path
    port: int | None = None
    durable: bool = True  # False: fsync off (tests and benchmarks: data they can rebuild)
    settings: dict[str, str] = field(default_factory=dict)
    _bins: PgBinaries | None = None
    _started: bool = False

    def __post_init__(self) -> None:
        # absolute: PostgreSQL's programs run with the folder as their working directory, so a
        # relative one (the default cache, .sen12stac-cache/) would point inside itself
        self.folder = Path(self.folder).absolute()

    @property
    def pgdata(self) -> Path:
        return self.folder / "pgdata"

    @property
    def sockdir(self) -> Path:
        return self.folder / "sock"

    @property
    def logfile(self) -> Path:
        return self.folder / "log" / "postgres.log"

    @property
    def dsn(self) -> str:
        assert self.port is not None, "cluster not started"
        return f"postgresql://{PG_ROLE}@127.0.0.1:{self.port}/{DB_NAME}"

    def _user(self) -> str | None:
        """As root the cluster belongs to the unprivileged ``postgres`` account."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(PG_ROLE)
        except KeyError:
            raise ConfigError(f"running as root, and there is no unprivileged '{PG_ROLE}' account to own the database cluster", fix="install Debian's postgresql package (it creates the account) or run as a normal user") from None
        return PG_ROLE

    def _run(self, args: list[str], what: str, timeout: float = 120) -> subprocess.CompletedProcess:
        user = self._user()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        if user:
            env["HOME"] = str(self.folder)
        try:
            # own session: a Ctrl-C at the terminal reaches us, not the postmaster; we stop it in order
            return subprocess.run(args, user=user, env=env, capture_output=True, text=True, timeout=timeout, check=True, cwd=str(self.folder), start_new_session=True)
        except subprocess.CalledProcessError as exc:
            tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or ["no output"]
            raise DatabaseError(f"{what} failed in {self.folder}: {tail[0]} (log: {self.logfile})", fix="read the log; delete the folder to start from an empty database") from None
        except subprocess.TimeoutExpired:
            raise DatabaseError(f"{what} did not finish within {timeout:.0f} s in {self.folder} (log: {self.logfile})", fix="read the log; is the disk full or the machine overloaded?") from None

    def _prepare_folder(self) -> None:
        for d in (self.folder, self.sockdir, self.logfile.parent):
            d.mkdir(parents=True, exist_ok=True)
        user = self._user()
        if user:
            pw = pwd.getpwnam(user)
            for d in (self.folder, self.sockdir, self.logfile.parent):
                os.chown(d, pw.pw_uid, pw.pw_gid)
            if self.pgdata.exists():
                os.chown(self.pgdata, pw.pw_uid, pw.pw_gid)
            probe = subprocess.run(["test", "-w", str(self.folder)], user=user)
            if probe.returncode != 0:
                raise ConfigError(
                    f"the database folder {self.folder} is not reachable by the unprivileged '{user}' account (a parent folder is private)",
                    fix="put the cache where every user can traverse, e.g. SEN12STAC_WORK_DIR=/var/tmp/sen12stac",
                )

    def _running_postmaster(self) -> int | None:
        """PID of a live PostgreSQL already serving ``pgdata`` (its lock file names it), else None."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None  # a stale lock file from a crash: PostgreSQL removes it on start
        except PermissionError:
            pass
        try:
            if b"postgres" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                return None  # the PID was reused by something else
        except OSError:
            pass
        return pid

    def initialized(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def start(self) -> "PrivateCluster":
        self._bins = bins = find_postgres()
        self._prepare_folder()
        if not self.initialized():
            self._run([bins.exe("initdb"), "-D", str(self.pgdata), "-U", PG_ROLE, "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"], "initdb")
        options = dict(SERVER_SETTINGS)
        if not self.durable:
            options.update(fsync="off", full_page_writes="off")
        options.update(self.settings)
        running = self._running_postmaster()
        if running is not None:
            raise DatabaseError(
                f"the database in {self.folder} is already running (postmaster PID {running}): another `sen12stac api up` of this release is serving it",
                fix="use that API, or stop it (Ctrl-C in its terminal) and run this command again",
            )
        fixed = self.port
        last: DatabaseError | None = None
        for _ in range(1 if fixed else 4):  # a port picked free can be taken before we bind it
            port = fixed or free_port()
            opts = " ".join([f"-p {port}", f"-k {self.sockdir}"] + [f"-c {k}={v}" for k, v in options.items()])
            try:
                self._run([bins.exe("pg_ctl"), "-D", str(self.pgdata), "-l", str(self.logfile), "-w", "-t", "60", "-o", opts, "start"], "starting PostgreSQL")
            except DatabaseError as exc:
                last = exc
                continue
            self.port, self._started = port, True
            self._create_database()
            return self
        assert last is not None
        raise last

    def _create_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(f"postgresql://{PG_ROLE}@127.0.0.1:{self.port}/postgres", autocommit=True, connect_timeout=5) as conn:
                    if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone() is None:
                        conn.execute(f"CREATE DATABASE {DB_NAME}")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise DatabaseError(f"PostgreSQL in {self.folder} started but refuses connections: {str(exc).strip().splitlines()[0]}", fix=f"read {self.logfile}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if not self._started or self._bins is None:
            return
        if not (self.pgdata / "postmaster.pid").exists():  # already stopped
            self._started = False
            return
        try:
            self._run([self._bins.exe("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60", "stop"], "stopping PostgreSQL")
        finally:
            self._started = False

    def __enter__(self) -> "PrivateCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ----------------------------------------------------------------------------- any DSN


def safe_dsn(dsn: str) -> str:
    """The DSN without its password, for messages."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(dsn)
    except Exception:  # noqa: BLE001 - unparsable: show nothing of it but the scheme
        return "postgresql://..." if "://" in dsn else "<dsn>"
    host, port, db, user = parts.get("host", "localhost"), parts.get("port", "5432"), parts.get("dbname", ""), parts.get("user", "")
    return f"postgresql://{user + '@' if user else ''}{host}:{port}/{db}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def connect(dsn: str, **kwargs: Any):
    """A psycopg connection, or a DatabaseError naming the server and the fix."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"--dsn is not a PostgreSQL connection string: {_first_line(exc)}", fix="use postgresql://USER[:PASSWORD]@HOST:PORT/DBNAME") from None
    try:
        return psycopg.connect(dsn, connect_timeout=5, **kwargs)
    except psycopg.OperationalError as exc:
        raise DatabaseError(
            f"cannot connect to {safe_dsn(dsn)}: {_first_line(exc)}",
            fix="check the host, port, user, password and database name in --dsn, and that PostgreSQL runs there (or use `sen12stac api up RELEASE` for a private database)",
        ) from None


def pgstac_version(dsn: str) -> str | None:
    """pgstac's version in the database, or None when it has no pgstac."""
    with connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('pgstac.migrations')").fetchone()[0] is None:
            return None
        return conn.execute("SELECT pgstac.get_version()").fetchone()[0]


def check_dsn(dsn: str) -> str:
    """Reachable, with the pgstac this package's pypgstac expects; returns the pgstac version."""
    from pypgstac import __version__ as expected

    found = pgstac_version(dsn)
    if found is None:
        raise DatabaseError(
            f"the database {safe_dsn(dsn)} has no pgstac schema",
            fix=f"install pgstac there once with `pypgstac migrate --dsn DSN` (or add --migrate), or use `sen12stac api up RELEASE` for a private database",
        )
    if found.split("-")[0] != expected.split("-")[0]:
        raise DatabaseError(
            f"the database {safe_dsn(dsn)} has pgstac {found}, this sen12stac needs {expected}",
            fix="migrate it with `pypgstac migrate --dsn DSN` (or add --migrate)",
        )
    return found


def migrate(dsn: str) -> str:
    """Install or upgrade pgstac (pypgstac's migrations); returns the version."""
    from pypgstac.db import PgstacDB
    from pypgstac.migrate import Migrate

    connect(dsn).close()  # the clear error for a wrong DSN first
    db = PgstacDB(dsn=dsn)
    try:
        return str(Migrate(db).run_migration())
    except Exception as exc:  # noqa: BLE001 - psycopg errors, permission problems
        raise DatabaseError(f"pgstac migration failed on {safe_dsn(dsn)}: {_first_line(exc)}", fix="migrate as a role that may create schemas and extensions (postgis, btree_gist, unaccent)") from None
    finally:
        db.close()


# pgstac settings (pgstac.pgstac_settings). context on: searches return numberMatched, counted
# exactly (context 'auto' would switch to planner estimates on large results).
PGSTAC_SETTINGS: dict[str, str] = {"context": "on"}


def apply_settings(dsn: str, settings: dict[str, str] | None = None) -> None:
    with connect(dsn) as conn:
        with conn.transaction():
            for name, value in (settings or PGSTAC_SETTINGS).items():
                conn.execute(
                    "INSERT INTO pgstac.pgstac_settings (name, value) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                    (name, value),
                )


def prepare_database(dsn: str, *, migrate_first: bool = True) -> str:
    """pgstac migrated (when asked) or checked, and its settings applied. The queryables are
    registered by :func:`~sen12stac.api.load.load_release` before it loads items (the COPY then
    fills their indexes, which measured faster than building them after: docs/api.md)."""
    version = migrate(dsn) if migrate_first else check_dsn(dsn)
    apply_settings(dsn)
    return version
