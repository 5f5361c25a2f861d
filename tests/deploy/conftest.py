"""Real servers on 127.0.0.1 for the deploy tests: Postgres and Redis from Debian's packages.

Each runs in its own process group in a temporary folder and is stopped (then killed, if it must
be) when the test ends, failed or not.
"""

import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent
PG_BINS = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
RUNUSER = shutil.which("runuser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(ready: Callable[[], bool], proc: subprocess.Popen, what: str, timeout: float):
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} was not ready after {timeout:.0f}s")
        time.sleep(0.3)


def stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 20) -> None:
    """Signal a process group started with start_new_session=True; SIGKILL it if it lingers."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    try:  # children (celery pool processes, postgres backends) may outlive the leader
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def run_in_group(cmd: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run, but in a process group of its own that is killed whatever happens, so a
    timeout or an interrupted test leaves no step process behind."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kwargs,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        stop_group(proc, signal.SIGTERM, grace=5)
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


@pytest.fixture(autouse=True)
def sigterm_runs_teardown():
    """SIGTERM (a CI timeout, `kill`) raises KeyboardInterrupt here, so the fixtures' teardown
    still stops the servers and workers they started."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def log_tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    db: str
    log: Path

    def env(self) -> dict[str, str]:
        """The variables deploy/postgres/dagster.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_DB": self.db,
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
        }

    def psql(self, sql: str) -> list[list[str]]:
        """Run SQL through the real psql client over TCP with password auth."""
        out = subprocess.run(
            [str(Path(PG_BINS[-1]).with_name("psql")), "-X", "-At", "-v", "ON_ERROR_STOP=1"]
            + ["-h", self.host, "-p", str(self.port), "-U", self.user, "-d", self.db, "-c", sql],
            capture_output=True,
            text=True,
            timeout=30,
            env={"PGPASSWORD": self.password, "PATH": os.environ.get("PATH", "")},
        )
        assert out.returncode == 0, out.stderr
        return [line.split("|") for line in out.stdout.splitlines() if line]


@pytest.fixture
def postgres():
    """A fresh Postgres cluster (Debian's binaries, run as the `postgres` user) on a free port."""
    if not PG_BINS:
        pytest.skip("Postgres server binaries are absent (apt-get install postgresql)")
    if RUNUSER is None or os.geteuid() != 0:
        pytest.skip("starting Postgres here needs root and runuser (it runs as user `postgres`)")
    try:
        pg_user = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("the `postgres` system user is absent (apt-get install postgresql)")
    bindir = Path(PG_BINS[-1]).parent
    # Not under pytest's tmp_path: that is root-only (0700) and the server runs as `postgres`.
    base = Path(tempfile.mkdtemp(prefix="reer-pg-"))
    os.chown(base, pg_user.pw_uid, pg_user.pw_gid)
    password = secrets.token_urlsafe(16)
    pwfile = base / "pw"
    pwfile.write_text(password + "\n")
    os.chown(pwfile, pg_user.pw_uid, pg_user.pw_gid)
    as_pg = [RUNUSER, "-u", "postgres", "--"]
    port = free_port()
    log = base / "postgres.log"
    proc = None
    try:
        subprocess.run(
            as_pg
            + [str(bindir / "initdb"), "-D", str(base / "data"), "-U", "dagster"]
            + [f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256"]
            + ["-E", "UTF8", "--no-sync", "--no-instructions"],
            cwd=base,
            check=True,
            capture_output=True,
            timeout=120,
        )
        with log.open("wb") as out:
            proc = subprocess.Popen(
                as_pg
                + [str(bindir / "postgres"), "-D", str(base / "data"), "-p", str(port)]
                + ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={base}"]
                + ["-c", "fsync=off", "-c", "synchronous_commit=off"],
                cwd=base,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def ready() -> bool:
            probe = [str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
            return subprocess.run(probe, timeout=10).returncode == 0

        wait_until(ready, proc, "postgres", timeout=60)
        server = Postgres("127.0.0.1", port, "dagster", password, "dagster", log)
        with_db = Postgres("127.0.0.1", port, "dagster", password, "postgres", log)
        with_db.psql("CREATE DATABASE dagster")
        yield server
    except BaseException:
        print(log_tail(log), file=sys.stderr)
        raise
    finally:
        if proc is not None:
            stop_group(proc, signal.SIGINT)  # SIGINT to the postmaster: fast shutdown
        shutil.rmtree(base, ignore_errors=True)


@dataclass(frozen=True)
class Redis:
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def redis_server(tmp_path):
    """redis-server on a free 127.0.0.1 port, no RDB or AOF persistence, in a temporary folder."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is absent (apt-get install redis-server)")
    import redis

    folder = tmp_path / "redis"
    folder.mkdir()
    port = free_port()
    log = folder / "redis.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
            + ["--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"],
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)

        def ready() -> bool:
            try:
                return bool(client.ping())
            except redis.exceptions.ConnectionError:
                return False

        wait_until(ready, proc, "redis-server", timeout=30)
        client.close()
        yield Redis(port, log)
    except BaseException:
        print(log_tail(log), file=sys.stderr)
        raise
    finally:
        stop_group(proc, signal.SIGTERM)


def subprocess_env(**extra: str) -> dict[str, str]:
    """A clean environment for Dagster subprocesses: the venv first on PATH, nothing inherited
    that could point them at another instance or data root."""
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TMPDIR")}
    path = os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "/usr/bin:/bin")])
    return keep | {"PATH": path, "PYTHONUNBUFFERED": "1"} | extra
