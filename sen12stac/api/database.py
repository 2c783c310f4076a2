"""PostgreSQL for the STAC API: a private cluster in a cache folder, connection checks, pgstac set-up.

A private cluster is Debian's PostgreSQL + PostGIS run from a folder we own (``initdb``,
``pg_ctl``). It listens on no TCP address at all: only on a Unix socket in a folder of mode
0700, so only the account that owns the cluster (and root) can reach it. Over that socket the
``postgres`` role is trusted; any other role needs its password (scram-sha-256), and TCP lines
in its ``pg_hba.conf`` reject. As root, PostgreSQL refuses to run; the cluster then belongs to
the unprivileged ``postgres`` account and its programs run as that user.

    with PrivateCluster(Path(".sen12stac-cache/api/x")) as cluster:
        prepare_database(cluster.dsn)            # pgstac migrate, settings, queryables
        ...

Any other database is named by a libpq connection string or URL (``--dsn``) or, without one,
by libpq's own environment: PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD, PGPASSFILE
(``~/.pgpass``), PGSERVICE with PGSERVICEFILE (``~/.pg_service.conf``). It is checked with
:func:`check_dsn` before work starts: one clear :class:`~sen12stac.errors.DatabaseError` when it
cannot be reached or has no pgstac. A password is never printed.
"""
from __future__ import annotations

import logging
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import ConfigError, DatabaseError

log = logging.getLogger(__name__)

PG_ROLE = "postgres"
API_ROLE = "sen12stac_api"  # what `api up`'s API connects as: pgstac's pgstac_read, no writes to the data
DB_NAME = "pgstac"
SOCKET_PORT = 5432  # names the socket file (.s.PGSQL.5432) in the cluster's own folder; no TCP port is opened
# Who may connect, written at every start (so a cluster made by an older version is closed too):
# the superuser over the owner-only socket, any other role with its password, nothing over TCP.
PG_HBA = f"""# written by sen12stac at every start; edits are lost
local   all   {PG_ROLE}        trust
local   all   {API_ROLE}   trust
local   all   all             scram-sha-256
host    all   all        0.0.0.0/0   reject
host    all   all        ::/0        reject
"""
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
    "listen_addresses": "",  # no TCP: the Unix socket only
    "unix_socket_permissions": "0700",
    "password_encryption": "scram-sha-256",
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


# Longest path of a Unix socket (sun_path is 108 bytes with its terminating NUL).
MAX_SOCKET_PATH = 107


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster in ``folder``, reached through a Unix socket in ``folder/sock`` (0700)."""

    folder: Path
    port: int | None = None  # the socket's number (default 5432: the folder is the cluster's own)
    durable: bool = True  # False: fsync off (tests and benchmarks: data they can rebuild)
    settings: dict[str, str] = field(default_factory=dict)
    _bins: PgBinaries | None = None
    _started: bool = False
    _sockdir: Path | None = None

    def __post_init__(self) -> None:
        # absolute: PostgreSQL's programs run with the folder as their working directory, so a
        # relative one (the default cache, .sen12stac-cache/) would point inside itself
        self.folder = Path(self.folder).absolute()

    @property
    def pgdata(self) -> Path:
        return self.folder / "pgdata"

    @property
    def sockdir(self) -> Path:
        """``folder/sock``, or, when that path is too long for a socket, a private temporary folder."""
        if self._sockdir is None:
            own = self.folder / "sock"
            if len(str(own / f".s.PGSQL.{self.port or SOCKET_PORT}")) <= MAX_SOCKET_PATH:
                self._sockdir = own
            else:
                self._sockdir = Path(tempfile.mkdtemp(prefix="sen12stac-pg-"))  # 0700 already
        return self._sockdir

    @property
    def logfile(self) -> Path:
        return self.folder / "log" / "postgres.log"

    def dsn_for(self, dbname: str, role: str = PG_ROLE) -> str:
        # libpq takes a socket folder as the URL's host, percent-encoded
        return f"postgresql://{role}@{quote(str(self.sockdir), safe='')}:{self.port or SOCKET_PORT}/{dbname}"

    def reader_dsn(self) -> str:
        """The database as :data:`API_ROLE`, a login role in pgstac's ``pgstac_read`` (created when
        missing; needs pgstac migrated): it may search, and write pgstac's search caches only."""
        with connect(self.dsn, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (API_ROLE,)).fetchone() is None:
                conn.execute(f"CREATE ROLE {API_ROLE} LOGIN IN ROLE pgstac_read")
                conn.execute(f"ALTER ROLE {API_ROLE} SET search_path TO pgstac, public")  # as pgstac sets pgstac_read's (not inherited)
        return self.dsn_for(DB_NAME, API_ROLE)

    @property
    def dsn(self) -> str:
        assert self._started, "cluster not started"
        return self.dsn_for(DB_NAME)

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
        self.folder.mkdir(parents=True, exist_ok=True)
        private = (self.sockdir, self.logfile.parent)  # the socket and the server's log: the owner's alone
        for d in private:
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o700)
        user = self._user()
        if user:
            pw = pwd.getpwnam(user)
            for d in (self.folder, *private):
                os.chown(d, pw.pw_uid, pw.pw_gid)
            if self.pgdata.exists():
                os.chown(self.pgdata, pw.pw_uid, pw.pw_gid)
            probe = subprocess.run(["test", "-w", str(self.folder)], user=user)
            if probe.returncode != 0:
                raise ConfigError(
                    f"the database folder {self.folder} is not reachable by the unprivileged '{user}' account (a parent folder is private)",
                    fix="put the cache where every user can traverse, e.g. SEN12STAC_WORK_DIR=/var/tmp/sen12stac",
                )

    def _write_hba(self) -> None:
        hba = self.pgdata / "pg_hba.conf"
        tmp = hba.with_name("pg_hba.conf.sen12stac")
        tmp.write_text(PG_HBA)
        tmp.chmod(0o600)
        user = self._user()
        if user:
            pw = pwd.getpwnam(user)
            os.chown(tmp, pw.pw_uid, pw.pw_gid)
        os.replace(tmp, hba)

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
        running = self._running_postmaster()
        if running is not None:
            raise DatabaseError(
                f"the database in {self.folder} is already running (postmaster PID {running}): another `sen12stac api up` of this release is serving it",
                fix="use that API, or stop it (Ctrl-C in its terminal) and run this command again",
            )
        self._prepare_folder()
        if not self.initialized():
            self._run([bins.exe("initdb"), "-D", str(self.pgdata), "-U", PG_ROLE, "--auth-local=trust", "--auth-host=reject", "-E", "UTF8", "--no-locale", "--no-sync"], "initdb")
        self._write_hba()
        options = dict(SERVER_SETTINGS)
        if not self.durable:
            options.update(fsync="off", full_page_writes="off")
        options.update(self.settings)
        port = self.port or SOCKET_PORT
        # pg_ctl hands -o to a shell: every value quoted
        opts = " ".join([f"-p {port}", f"-k {shlex.quote(str(self.sockdir))}"] + [f"-c {k}={shlex.quote(v)}" for k, v in options.items()])
        try:
            self._run([bins.exe("pg_ctl"), "-D", str(self.pgdata), "-l", str(self.logfile), "-w", "-t", "60", "-o", opts, "start"], "starting PostgreSQL")
        except DatabaseError:
            self._drop_temporary_sockdir()
            raise
        self.port, self._started = port, True
        self._create_database()
        return self

    def _create_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.dsn_for("postgres"), autocommit=True, connect_timeout=5) as conn:
                    if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone() is None:
                        conn.execute(f"CREATE DATABASE {DB_NAME}")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise DatabaseError(f"PostgreSQL in {self.folder} started but refuses connections: {str(exc).strip().splitlines()[0]}", fix=f"read {self.logfile}") from None
                time.sleep(0.2)

    def _drop_temporary_sockdir(self) -> None:
        if self._sockdir is not None and self._sockdir != self.folder / "sock":
            shutil.rmtree(self._sockdir, ignore_errors=True)

    def stop(self) -> None:
        if not self._started or self._bins is None:
            return
        if not (self.pgdata / "postmaster.pid").exists():  # already stopped
            self._started = False
            self._drop_temporary_sockdir()
            return
        try:
            self._run([self._bins.exe("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60", "stop"], "stopping PostgreSQL")
        finally:
            self._started = False
            self._drop_temporary_sockdir()

    def __enter__(self) -> "PrivateCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ----------------------------------------------------------------------------- any DSN


CONNECT_FIX = (
    "check the host, port, user and database name in --dsn or the PG* variables (PGHOST, PGPORT, PGUSER, PGDATABASE, PGSERVICE), "
    "the password in PGPASSWORD or a password file (PGPASSFILE, ~/.pgpass), and that PostgreSQL runs there "
    "(or use `sen12stac api up RELEASE` for a private database)"
)


def _parts(dsn: str) -> dict[str, Any]:
    from psycopg.conninfo import conninfo_to_dict

    return conninfo_to_dict(dsn)


def _libpq_defaults() -> dict[str, str]:
    """What libpq takes when the connection string leaves a field out (PGHOST, PGUSER, ...)."""
    from psycopg import pq

    keep = ("host", "port", "user", "dbname", "service")
    return {o.keyword.decode(): o.val.decode() for o in pq.Conninfo.get_defaults() if o.val is not None and o.keyword.decode() in keep}


def safe_dsn(dsn: str) -> str:
    """Where ``dsn`` (or, for what it leaves out, the PG* environment) points, without a password, for messages."""
    try:
        parts = _parts(dsn)
    except Exception:  # noqa: BLE001 - unparsable: show nothing of it but the scheme
        return "postgresql://..." if "://" in dsn else "<dsn>"
    defaults = _libpq_defaults()
    service = parts.get("service") or defaults.get("service")
    if service and not parts.get("host"):
        return f"the database of service {service!r}"
    host, port = str(parts.get("host") or defaults.get("host") or "localhost"), parts.get("port") or defaults.get("port") or "5432"
    user = parts.get("user") or defaults.get("user") or ""
    db = parts.get("dbname") or defaults.get("dbname") or user
    if host.startswith("/"):
        host = quote(host, safe="")
    return f"postgresql://{user + '@' if user else ''}{host}:{port}/{db}"


def warn_about_password(dsn: str | None) -> None:
    """One warning line when the connection string itself carries a password (``ps`` shows argv)."""
    try:
        has = bool(dsn) and "password" in _parts(dsn)
    except Exception:  # noqa: BLE001 - connect() reports an unparsable string
        return
    if has:
        log.warning("--dsn carries a password, which other users of this machine can read in the process list (ps): give it by a password file "
                    "(PGPASSFILE, default ~/.pgpass), a service file (PGSERVICE, ~/.pg_service.conf) or PGPASSWORD instead, and leave it out of --dsn")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def connect(dsn: str, **kwargs: Any):
    """A psycopg connection, or a DatabaseError naming the server and the fix. An empty ``dsn``
    means libpq's environment (PG* variables, service and password files)."""
    import psycopg

    try:
        _parts(dsn)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"--dsn is not a PostgreSQL connection string: {_first_line(exc)}", fix="use postgresql://USER@HOST:PORT/DBNAME, or service=NAME") from None
    try:
        return psycopg.connect(dsn, connect_timeout=5, **kwargs)
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot connect to {safe_dsn(dsn)}: {_first_line(exc)}", fix=CONNECT_FIX) from None


def connection_params(dsn: str) -> dict[str, Any]:
    """Host, port, user, database and password as libpq resolved them for ``dsn`` (connection
    string, PG* variables, service file, password file), for a client that does not read them
    all itself (the API's asyncpg pool). The password stays in memory."""
    with connect(dsn) as conn:
        info = conn.info
        return {"host": info.host, "port": int(info.port), "user": info.user, "dbname": info.dbname, "password": info.password or ""}


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
            fix="install pgstac there once with `pypgstac migrate --dsn DSN` (or add --migrate), or use `sen12stac api up RELEASE` for a private database",
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
