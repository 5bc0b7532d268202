"""A real, throwaway PostgreSQL cluster for the tests (and benchmarks) of the postgres source.

Public API (helper modules and ``benchmarks/bench_postgres.py`` import it; keep it stable):

* :func:`find_bindir` -- the server binaries (``pg_config --bindir``, else the newest
  ``/usr/lib/postgresql/*/bin``), or ``None``.
* :func:`start_postgres` -- ``with start_postgres(max_connections=20) as server:`` runs
  ``initdb`` + ``pg_ctl start`` on a free loopback port with a private socket directory,
  ``fsync=off``, ``superuser_reserved_connections=3``, ``pg_stat_statements`` preloaded,
  and stops the server (``pg_ctl stop -m immediate``) and removes its directory after.
  The clusters of killed runs (their starting process gone) are stopped and removed
  by the next :func:`start_postgres`.
  When the tests run as root (``initdb`` refuses root), the server runs as the
  ``postgres`` user through ``runuser -u postgres --``.
* :func:`postgres` -- the pytest fixture (session scope, so one cluster per xdist
  worker) yielding a :class:`PgServer`. A missing server skips on a laptop and fails
  under ``CI=true``.
* :class:`PgServer` -- ``dsn(user=..., dbname=..., password=...)``, ``connect(...)``
  (plain psycopg, autocommit), ``port``, ``bindir``, ``version`` (``server_version_num``),
  ``major``, ``max_connections``, ``superuser_reserved``, ``stop()``, ``terminate(pids)``.

What the cluster holds once started:

* roles: ``postgres`` (superuser, trust), ``app`` (login, trust, owns the table),
  ``reader`` (login, member of ``pg_monitor``, ``scram-sha-256`` with :data:`PASSWORD`);
* database ``orders`` (owned by ``app``) with ``public.orders`` (id, customer, amount,
  status; :data:`ROWS` rows) and the ``pg_stat_statements`` extension;
* database ``plain``: the same table, WITHOUT ``pg_stat_statements``.

Scenarios (each a context manager that cleans up after itself; they use plain psycopg
connections as ``app``, some on background threads, on database ``orders`` unless
``dbname`` says otherwise; every literal they send contains :data:`SECRET_LITERAL` so
tests can assert no literal leaks into a frame). Mind the budget of connections:
ordinary roles get ``max_connections - superuser_reserved`` (17 by default) slots:

* :func:`idle_in_transaction_leak` -- opens connections left idle in transaction at a
  growing rate (1, 2, 3... per step), ``application_name`` given; ``.pids`` grows.
* :func:`blocking` -- a session holding a row lock (idle in transaction) with two
  sessions blocked behind it, and a chain of three (``chain[0]`` <- ``chain[1]`` <-
  ``chain[2]``); ``.holder``, ``.waiters``, ``.chain`` are backend pids.
* :func:`long_query` -- one ``pg_sleep`` running in the background; ``.pid``.
* :func:`fill_server` -- opens ``app`` connections until the server refuses with
  "too many clients" / "remaining connection slots are reserved"; ``.refusal`` is the
  server's message, ``.connections`` those held.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import UNDER_CI

__all__ = [
    "PASSWORD",
    "ROWS",
    "SECRET_LITERAL",
    "Blocking",
    "Filled",
    "Leak",
    "LongQuery",
    "PgServer",
    "blocking",
    "fill_server",
    "find_bindir",
    "free_port",
    "idle_in_transaction_leak",
    "long_query",
    "postgres",
    "start_postgres",
    "wait_until",
]

#: the password of the role ``reader`` (scram-sha-256); tests assert it never shows
PASSWORD = "s3cr3t-Pw!"
#: rows in ``orders`` (ids 1..ROWS)
ROWS = 100
#: a value every scenario query carries as a literal: it must never appear in a frame
SECRET_LITERAL = "card-4111-1111"
#: the OS user the server runs as when the tests run as root
SERVER_USER = "postgres"


def find_bindir() -> Path | None:
    """The directory of ``initdb``/``pg_ctl``/``postgres``, or ``None`` when not installed."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(Path(out.stdout.strip()))
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(Path(p) for p in versions)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for directory in candidates:
        if all((directory / b).exists() for b in ("initdb", "pg_ctl", "postgres")):
            return directory
    return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Any, what: str, timeout: float = 15.0, every: float = 0.05) -> None:
    """Poll ``predicate()`` until true; ``AssertionError`` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


@dataclass
class PgServer:
    """A running throwaway cluster (see the module notes)."""

    root: Path
    bindir: Path
    port: int
    max_connections: int
    superuser_reserved: int = 3
    version: int = 0
    as_user: str | None = None
    _stopped: bool = False

    @property
    def datadir(self) -> Path:
        """The data directory."""
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        """The private Unix socket directory."""
        return self.root / "sock"

    @property
    def log(self) -> Path:
        """The server log."""
        return self.root / "server.log"

    @property
    def major(self) -> int:
        """The major version (15 for 150010)."""
        return self.version // 10000

    @property
    def host(self) -> str:
        """The TCP host the server listens on."""
        return "127.0.0.1"

    def dsn(
        self,
        user: str = "postgres",
        dbname: str = "orders",
        *,
        password: str | None = None,
        host: str | None = None,
        port: int | None = None,
        **extra: str | int,
    ) -> str:
        """A libpq URI for ``user`` on ``dbname`` over TCP (``extra``: more URI parameters).

        ``password=PASSWORD`` for ``reader``; ``sslmode="disable"`` is added unless given.
        """
        from urllib.parse import quote, urlencode

        auth = quote(user, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        params: dict[str, str | int] = {"sslmode": "disable"}
        params.update(extra)
        where = f"{host or self.host}:{port if port is not None else self.port}"
        return f"postgresql://{auth}@{where}/{quote(dbname, safe='')}?{urlencode(params)}"

    def connect(
        self,
        user: str = "postgres",
        dbname: str = "orders",
        *,
        autocommit: bool = True,
        application_name: str = "pg-server-tests",
        password: str | None = None,
    ) -> Any:
        """A plain ``psycopg.Connection`` (autocommit unless told)."""
        import psycopg

        return psycopg.connect(
            self.dsn(user, dbname, password=password),
            autocommit=autocommit,
            application_name=application_name,
            connect_timeout=10,
        )

    def sql(
        self, query: str, params: Sequence[Any] | None = None, dbname: str = "orders"
    ) -> list[Any]:
        """Run one statement as the superuser; the rows (``[]`` when it returns none)."""
        with self.connect(dbname=dbname, application_name="pg-server-admin") as conn:
            cur = conn.execute(query, params)
            return list(cur.fetchall()) if cur.description else []

    def terminate(self, pids: Sequence[int]) -> None:
        """``pg_terminate_backend`` each pid (quietly: gone already is fine)."""
        if not pids or self._stopped:
            return
        with contextlib.suppress(Exception):
            self.sql("SELECT pg_terminate_backend(p) FROM unnest(%s::int[]) AS p", [list(pids)])

    def backends(self, application_name: str) -> list[int]:
        """Pids of the client backends with ``application_name``."""
        rows = self.sql(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s ORDER BY pid",
            [application_name],
        )
        return [int(r[0]) for r in rows]

    def stop(self) -> None:
        """``pg_ctl stop -m immediate`` (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        _run(
            [str(self.bindir / "pg_ctl"), "stop", "-D", str(self.datadir), "-m", "immediate"],
            self.as_user,
            check=False,
        )


def _run(cmd: list[str], as_user: str | None, *, check: bool = True) -> str:
    if as_user is not None:
        cmd = ["runuser", "-u", as_user, "--", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def _server_user() -> str | None:
    """``postgres`` when running as root (initdb refuses root), else ``None`` (ourselves)."""
    if os.geteuid() != 0:
        return None
    return SERVER_USER


_HBA = """\
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       all                      trust
host    all       postgres  127.0.0.1/32   trust
host    all       app       127.0.0.1/32   trust
host    all       reader    127.0.0.1/32   scram-sha-256
host    all       all       127.0.0.1/32   scram-sha-256
"""

_SETUP = [
    "CREATE ROLE app LOGIN",
    f"CREATE ROLE reader LOGIN PASSWORD '{PASSWORD}'",
    "GRANT pg_monitor TO reader",
    "CREATE DATABASE orders OWNER app",
    "CREATE DATABASE plain OWNER app",
]
_TABLE = [
    "CREATE TABLE public.orders (id int PRIMARY KEY, customer text NOT NULL, "
    "amount numeric(10,2) NOT NULL, status text NOT NULL DEFAULT 'new')",
    f"INSERT INTO public.orders SELECT g, 'customer-' || g, g * 1.5, 'new' "
    f"FROM generate_series(1, {ROWS}) AS g",
    "ALTER TABLE public.orders OWNER TO app",
    "GRANT SELECT ON public.orders TO reader",
]


_PREFIX = "pg-test-"
#: the file holding the pid of the process that started the cluster
_OWNER = "owner.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reap_orphans(bindir: Path, as_user: str | None) -> None:
    """Stop and remove the clusters of test runs that were killed before their teardown."""
    for root in Path(tempfile.gettempdir()).glob(_PREFIX + "*"):
        try:
            owner = int((root / _OWNER).read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being created
        if _alive(owner):
            continue
        if (root / "data" / "postmaster.pid").exists():
            _run(
                [str(bindir / "pg_ctl"), "stop", "-D", str(root / "data"), "-m", "immediate"],
                as_user,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def start_postgres(
    *,
    max_connections: int = 20,
    superuser_reserved: int = 3,
    settings: dict[str, str] | None = None,
    bindir: Path | None = None,
    hba: str = "",
    set_up: bool = True,
) -> Iterator[PgServer]:
    """Run a throwaway cluster for the block (see the module notes).

    Parameters
    ----------
    max_connections, superuser_reserved
        The connection limits (low, so that tests can fill the server).
    settings
        More ``postgresql.conf`` lines (name -> value, written as given).
    bindir
        The server binaries (default :func:`find_bindir`).
    hba
        ``pg_hba.conf`` (default: trust for ``postgres`` and ``app``, passwords for others).
    set_up
        Create the roles, databases and tables the source tests read (False: an empty
        cluster with the ``postgres`` superuser only).
    """
    bindir = bindir or find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found (install postgresql)")
    as_user = _server_user()
    _reap_orphans(bindir, as_user)
    root = Path(tempfile.mkdtemp(prefix=_PREFIX))
    try:
        (root / _OWNER).write_text(str(os.getpid()))
        os.chmod(root, 0o700)
        if as_user is not None:
            shutil.chown(root, user=as_user)
        server = PgServer(
            root=root,
            bindir=bindir,
            port=0,
            max_connections=max_connections,
            superuser_reserved=superuser_reserved,
            as_user=as_user,
        )
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(server.datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            as_user,
        )
        _run(["mkdir", "-m", "700", str(server.socket_dir)], as_user)
        (server.datadir / "pg_hba.conf").write_text(hba or _HBA)
        extra = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{server.socket_dir}'",
            "max_connections": str(max_connections),
            "superuser_reserved_connections": str(superuser_reserved),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "16MB",
            "shared_preload_libraries": "'pg_stat_statements'",
            "pg_stat_statements.track": "all",
            "password_encryption": "'scram-sha-256'",
            "log_min_messages": "warning",
            "log_connections": "off",
        }
        extra.update(settings or {})
        with (server.datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n# pg_server.py\n")
            for name, value in extra.items():
                conf.write(f"{name} = {value}\n")
        started = False
        for _ in range(5):  # the free port may be taken by another worker meanwhile
            server.port = free_port()
            done = subprocess.run(
                (["runuser", "-u", as_user, "--"] if as_user else [])
                + [
                    str(bindir / "pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(server.datadir),
                    "-l",
                    str(server.log),
                    "-o",
                    f"-p {server.port}",
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            if done.returncode == 0:
                started = True
                break
        if not started:
            log = server.log.read_text() if server.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed:\n{done.stdout}{done.stderr}\n{log}")
        try:
            if set_up:
                _set_up(server)
            else:
                server.version = int(server.sql("SHOW server_version_num", dbname="postgres")[0][0])
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _set_up(server: PgServer) -> None:
    for statement in _SETUP:
        server.sql(statement, dbname="postgres")
    for db in ("orders", "plain"):
        for statement in _TABLE:
            server.sql(statement, dbname=db)
    server.sql("CREATE EXTENSION pg_stat_statements", dbname="orders")
    server.version = int(server.sql("SHOW server_version_num")[0][0])


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgServer]:
    """A throwaway cluster shared by the session (one per xdist worker)."""
    if find_bindir() is None:
        message = "PostgreSQL server (initdb, pg_ctl) is not installed"
        if UNDER_CI:
            pytest.fail(f"{message}, and CI must run this test: install it in .ci/run")
        pytest.skip(message)
    with start_postgres() as server:
        yield server


# --------------------------------------------------------------------------- scenarios


def _quiet_close(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.close()


def _pid(conn: Any) -> int:
    return int(conn.info.backend_pid)


@dataclass
class Leak:
    """Connections left idle in transaction (see :func:`idle_in_transaction_leak`)."""

    server: PgServer
    application_name: str
    pids: list[int] = field(default_factory=list)
    connections: list[Any] = field(default_factory=list)
    error: BaseException | None = None
    _done: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        """Block until at least ``count`` sessions are open (or the leak finished)."""
        wait_until(
            lambda: len(self.pids) >= count or self._done.is_set(),
            f"{count} leaked sessions",
            timeout,
        )
        if self.error is not None:
            raise self.error
        assert len(self.pids) >= count, f"only {len(self.pids)} leaked sessions"

    def wait_done(self, timeout: float = 60.0) -> None:
        """Block until every step has run."""
        wait_until(self._done.is_set, "the leak to finish", timeout)
        if self.error is not None:
            raise self.error


@contextmanager
def idle_in_transaction_leak(
    server: PgServer,
    *,
    steps: int = 4,
    every: float = 0.5,
    application_name: str = "leaky-api",
    user: str = "app",
    dbname: str = "orders",
) -> Iterator[Leak]:
    """Open 1, 2, ... ``steps`` connections per step, every ``every`` seconds, each left
    idle in transaction after ``SELECT ... WHERE customer = '<SECRET_LITERAL>'``.

    The connections are opened on a background thread; ``leak.pids`` grows as they open
    (``steps * (steps + 1) / 2`` in all). All are terminated and closed on exit.
    """
    import psycopg

    leak = Leak(server=server, application_name=application_name)

    def run() -> None:
        try:
            for step in range(1, steps + 1):
                for _ in range(step):
                    if leak._stop.is_set():
                        return
                    conn = psycopg.connect(
                        server.dsn(user, dbname),
                        autocommit=False,
                        application_name=application_name,
                        connect_timeout=10,
                    )
                    conn.execute(
                        "SELECT id, amount FROM public.orders WHERE customer = "
                        f"'{SECRET_LITERAL}' OR id = 42"
                    )
                    leak.connections.append(conn)
                    leak.pids.append(_pid(conn))
                if step < steps and leak._stop.wait(every):
                    return
        except BaseException as exc:  # reported by wait_for / wait_done
            leak.error = exc
        finally:
            leak._done.set()

    thread = threading.Thread(target=run, name=f"leak-{application_name}", daemon=True)
    thread.start()
    try:
        yield leak
    finally:
        leak._stop.set()
        thread.join(30)
        server.terminate(leak.pids)
        for conn in leak.connections:
            _quiet_close(conn)


@dataclass
class Blocking:
    """Lock waits (see :func:`blocking`); every field a backend pid."""

    holder: int
    waiters: tuple[int, int]
    chain: tuple[int, int, int]
    #: the rows ``holder`` locks (a waiter on each), and the rows of the chain
    rows: tuple[int, int] = (1, 4)
    chain_rows: tuple[int, int] = (2, 3)


@contextmanager
def blocking(
    server: PgServer,
    *,
    application_name: str = "blocker-app",
    waiter_name: str = "waiter-app",
    chain_name: str = "chain-app",
    dbname: str = "orders",
) -> Iterator[Blocking]:
    """A holder of rows 1 and 4 (idle in transaction) with two sessions blocked
    updating them (one each, so ``pg_blocking_pids`` names the holder for both), and
    a chain: ``chain[0]`` holds row 2; ``chain[1]`` holds row 3 and waits for row 2;
    ``chain[2]`` waits for row 3. Yields once every waiter is visibly waiting on a Lock.
    Taking the first locks gives up after 10 s (``lock_timeout``) rather than hang when
    another scenario holds the rows: use ``dbname="plain"`` for a second one.
    """
    import psycopg

    opened: list[Any] = []
    threads: list[threading.Thread] = []

    def connect(name: str) -> Any:
        conn = psycopg.connect(
            server.dsn("app", dbname), autocommit=False, application_name=name, connect_timeout=10
        )
        opened.append(conn)
        # the locks taken before waiting must not hang if another scenario holds the rows
        conn.execute("SET lock_timeout = '10s'")
        conn.commit()
        return conn

    def blocked(conn: Any, row: int) -> None:
        with contextlib.suppress(Exception):  # terminated at cleanup
            conn.execute("SET lock_timeout = 0")
            conn.execute(
                f"UPDATE public.orders SET status = '{SECRET_LITERAL}' WHERE id = %s", [row]
            )

    try:
        holder = connect(application_name)
        holder.execute(
            f"UPDATE public.orders SET status = '{SECRET_LITERAL}-held' WHERE id IN (1, 4)"
        )
        waiters = [connect(waiter_name), connect(waiter_name)]
        head = connect(chain_name)
        head.execute("UPDATE public.orders SET status = 'chain' WHERE id = 2")
        middle = connect(chain_name)
        middle.execute("UPDATE public.orders SET status = 'chain' WHERE id = 3")
        tail = connect(chain_name)
        for conn, row in ((waiters[0], 1), (waiters[1], 4), (middle, 2), (tail, 3)):
            thread = threading.Thread(target=blocked, args=(conn, row), daemon=True)
            thread.start()
            threads.append(thread)
            # each waiter is in the lock queue before the next one starts
            wait_until(
                lambda c=conn: _waiting_on_lock(server, _pid(c)), f"pid {_pid(conn)} to wait"
            )
        yield Blocking(
            holder=_pid(holder),
            waiters=(_pid(waiters[0]), _pid(waiters[1])),
            chain=(_pid(head), _pid(middle), _pid(tail)),
        )
    finally:
        server.terminate([_pid(c) for c in opened if not c.closed])
        for thread in threads:
            thread.join(10)
        for conn in opened:
            _quiet_close(conn)


def _waiting_on_lock(server: PgServer, pid: int) -> bool:
    rows = server.sql("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
    return bool(rows) and rows[0][0] == "Lock"


@dataclass
class LongQuery:
    """A ``pg_sleep`` running in the background (see :func:`long_query`)."""

    pid: int
    application_name: str


@contextmanager
def long_query(
    server: PgServer,
    *,
    seconds: float = 300.0,
    application_name: str = "report-job",
    dbname: str = "orders",
) -> Iterator[LongQuery]:
    """Run ``SELECT pg_sleep(seconds), '<SECRET_LITERAL>'`` on a background thread; yields
    once it is active. Terminated on exit."""
    import psycopg

    conn = psycopg.connect(
        server.dsn("app", dbname),
        autocommit=True,
        application_name=application_name,
        connect_timeout=10,
    )
    pid = _pid(conn)

    def run() -> None:
        with contextlib.suppress(Exception):
            conn.execute(f"SELECT pg_sleep({seconds:g}), '{SECRET_LITERAL}' AS tag")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: bool(
                server.sql(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND state = 'active' "
                    "AND query LIKE '%%pg_sleep%%'",
                    [pid],
                )
            ),
            "the long query to start",
        )
        yield LongQuery(pid=pid, application_name=application_name)
    finally:
        server.terminate([pid])
        thread.join(10)
        _quiet_close(conn)


@dataclass
class Filled:
    """A server filled to its limit (see :func:`fill_server`)."""

    connections: list[Any]
    refusal: str

    @property
    def pids(self) -> list[int]:
        """The backend pids holding the slots."""
        return [_pid(c) for c in self.connections]


@contextmanager
def fill_server(
    server: PgServer, *, user: str = "app", application_name: str = "flood"
) -> Iterator[Filled]:
    """Open ``user`` connections (idle) until the server refuses one; yields what it said.

    For a non-superuser the refusal is "remaining connection slots are reserved ..."
    (the superuser-reserved slots stay free); as ``postgres`` it is "too many clients".
    """
    import psycopg

    held: list[Any] = []
    refusal = ""
    try:
        for _ in range(server.max_connections + 5):
            try:
                held.append(
                    psycopg.connect(
                        server.dsn(user),
                        autocommit=True,
                        application_name=application_name,
                        connect_timeout=10,
                    )
                )
            except psycopg.OperationalError as exc:
                refusal = str(exc)
                break
        assert refusal, "the server never refused a connection"
        yield Filled(connections=held, refusal=refusal)
    finally:
        for conn in held:
            _quiet_close(conn)
        # wait until the slots are free again for the next test
        with contextlib.suppress(Exception):
            wait_until(
                lambda: not server.backends(application_name), "the flood to end", timeout=10
            )
