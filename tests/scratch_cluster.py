"""A PostgreSQL cluster of a test's own: `initdb` into a temporary directory, `pg_ctl` on a free loopback
port, stopped and removed afterwards. For faults a shared server must not suffer: restarts, a small
`max_connections`, password authentication, a streaming replica and its promotion.

The binaries are PostgreSQL's own (`pg_config --bindir`, else /usr/lib/postgresql/*/bin). PostgreSQL
refuses to run as root: under root (CI's containers) the cluster's processes run as the `postgres` user,
and its directory is made outside pytest's root-only temporary tree. Its superuser `postgres` connects
without a password from loopback; every other role authenticates with scram-sha-256. It imports nothing
of the tests (bench/soak.py runs on it too).
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from tests.databases import migrate
from tests.live import free_port

# Each pg_ctl call is bounded: a cluster that does not start or stop in this time fails the test.
PG_CTL_SECONDS = 30
SUPERUSER = "postgres"
HBA = """\
local all all trust
host all postgres 127.0.0.1/32 trust
host replication postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
"""


def bindir() -> Path | None:
    """Where initdb, pg_ctl and pg_basebackup are, or None."""
    candidates = []
    if pg_config := shutil.which("pg_config"):
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(found.stdout.strip())
    candidates.extend(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    return None


def why_not() -> str | None:
    """Why this machine cannot run a scratch cluster, or None when it can."""
    if bindir() is None:
        return "no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            return "running as root and there is no `postgres` user to run a scratch cluster as"
    return None


def _owner() -> tuple[int, int] | None:
    """The uid and gid the cluster runs as when this process is root, else None (as this user)."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(SUPERUSER)
    return entry.pw_uid, entry.pw_gid


class Cluster:
    """One cluster: its directory, port and processes; `url()` for the app, `sql()` for the test."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = port
        self.log = directory / "postgres.log"
        found = bindir()
        assert found is not None, why_not()
        self.bin = found

    # -- processes -------------------------------------------------------------------------------

    def run(self, program: str, *args: str, timeout: float = PG_CTL_SECONDS) -> str:
        """Run one of PostgreSQL's programs as the cluster's owner; its output, or an error with it."""
        owner = _owner()
        result = subprocess.run(
            [str(self.bin / program), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.directory,
            user=owner[0] if owner else None,
            group=owner[1] if owner else None,
            env={**os.environ, "LC_ALL": "C.UTF-8", "PGTZ": "UTC"},
        )
        if result.returncode != 0:
            log = self.log.read_text()[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} {' '.join(args)}: {result.stdout}{result.stderr}\n{log}")
        return result.stdout

    def initdb(self, **settings: str | int) -> None:
        self.run(
            "initdb",
            "--pgdata",
            str(self.data),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C.UTF-8",
            "--no-sync",
        )
        (self.data / "pg_hba.conf").write_text(HBA)
        defaults: dict[str, str | int] = {
            "listen_addresses": "'127.0.0.1'",
            "port": self.port,
            "unix_socket_directories": f"'{self.directory}'",
            "fsync": "off",
            "full_page_writes": "off",
            "shared_buffers": "'16MB'",
            "max_connections": 30,
            "password_encryption": "'scram-sha-256'",
            "wal_level": "replica",
            "max_wal_senders": 4,
            "log_min_messages": "warning",
        }
        self.configure(**{**defaults, **settings})

    def configure(self, **settings: str | int) -> None:
        """Settings appended to postgresql.conf (the last one of a name wins); applied at the next start."""
        lines = "".join(f"{name} = {value}\n" for name, value in settings.items())
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(lines)

    def start(self) -> None:
        self.run("pg_ctl", "start", "--pgdata", str(self.data), "--log", str(self.log), "--wait")

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "stop", "--pgdata", str(self.data), "--mode", mode, "--wait")

    def restart(self, mode: str = "fast") -> None:
        # --log here too: without it the new postmaster writes to pg_ctl's output, held open forever.
        self.run(
            "pg_ctl", "restart", "--pgdata", str(self.data), "--log", str(self.log), "--mode", mode, "--wait"
        )

    def promote(self) -> None:
        self.run("pg_ctl", "promote", "--pgdata", str(self.data), "--wait")

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    # -- connections -----------------------------------------------------------------------------

    def dsn(self, database: str = "postgres", user: str = SUPERUSER, password: str | None = None) -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def url(self, database: str = "postgres", user: str = SUPERUSER, password: str | None = None) -> str:
        """The app's URL (SQLAlchemy, asyncpg driver)."""
        return "postgresql+asyncpg" + self.dsn(database, user, password).removeprefix("postgresql")

    def sql(self, statement: str, *args: Any, database: str = "postgres") -> Any:
        """One statement as the superuser, on a connection of its own; its rows."""

        async def run() -> Any:
            conn = await asyncpg.connect(self.dsn(database), timeout=10)
            try:
                return await conn.fetch(statement, *args)
            finally:
                await conn.close()

        return asyncio.run(run())

    def script(self, statements: str, *, database: str = "postgres") -> None:
        """Statements separated by semicolons (a transaction, say), as the superuser."""

        async def run() -> None:
            conn = await asyncpg.connect(self.dsn(database), timeout=10)
            try:
                await conn.execute(statements)
            finally:
                await conn.close()

        asyncio.run(run())

    def create_database(self, name: str = "app") -> str:
        """A migrated database for the app, sorting text by code point as the test databases do; its
        URL as the superuser."""
        self.sql(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C'")
        url = self.url(name)
        asyncio.run(migrate(url))
        return url

    def create_reader(self, database: str, role: str, password: str) -> str:
        """A login role with a password that may read `database`; the app's URL as that role."""
        self.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        self.sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}", database=database)
        return self.url(database, role, password)

    def standby(self, directory: Path, **settings: str | int) -> Cluster:
        """A hot standby of this cluster in `directory`, streaming from it (pg_basebackup -R), started."""
        standby = Cluster(directory, free_port())
        self.run(
            "pg_basebackup",
            "--pgdata",
            str(standby.data),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--username",
            SUPERUSER,
            "--write-recovery-conf",
            "--checkpoint",
            "fast",
            "--wal-method",
            "stream",
            "--no-sync",
        )
        standby.configure(
            port=standby.port,
            unix_socket_directories=f"'{standby.directory}'",
            hot_standby="on",
            **settings,
        )
        standby.start()
        return standby


def _make_directory(prefix: str) -> Path:
    """A directory the cluster's owner may write: outside pytest's tree, which only root may enter."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    owner = _owner()
    if owner is not None:
        os.chown(directory, *owner)
    directory.chmod(0o700)
    return directory


def _remove(cluster: Cluster) -> None:
    try:
        if cluster.running:
            cluster.stop("immediate")
    finally:
        shutil.rmtree(cluster.directory, ignore_errors=True)


@contextmanager
def scratch_cluster(**settings: str | int) -> Iterator[Cluster]:
    """A started cluster (postgresql.conf `settings` on top of the scratch defaults); always stopped
    and removed, with any standby made from it through `standbys`."""
    cluster = Cluster(_make_directory("graphql-api-pg-"), free_port())
    try:
        cluster.initdb(**settings)
        cluster.start()
        yield cluster
    finally:
        _remove(cluster)


@contextmanager
def scratch_standby(primary: Cluster, **settings: str | int) -> Iterator[Cluster]:
    """A started hot standby of `primary`; always stopped and removed."""
    directory = _make_directory("graphql-api-pg-standby-")
    standby: Cluster | None = None
    try:
        standby = primary.standby(directory, **settings)
        yield standby
    finally:
        if standby is not None:
            _remove(standby)
        else:
            shutil.rmtree(directory, ignore_errors=True)
