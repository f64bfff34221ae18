"""Start and stop real PostgreSQL, Milvus and Ray servers on loopback, for tests and benchmarks
(test helpers, not part of the library), and :func:`free_port` for every test that starts a server.

Each server is a context manager: it starts in ``__enter__`` on 127.0.0.1 and a free port, and
``__exit__`` always stops it (also when the body raised), killing only the processes it started.

- PostgreSQL: the Debian ``postgresql`` package; ``initdb`` in a fresh folder (as the
  ``postgres`` user when run as root), ``postgres -h 127.0.0.1 -p PORT``.
- Milvus: the standalone server shipped in the PyPI package ``milvus`` (2.3.x). It pins an
  old pymilvus, so it lives in its own virtual environment (``$SHOPSEARCH_MILVUS_SERVER`` names
  its ``milvus-server`` script; default ``.ci-cache/milvus-venv/bin/milvus-server``). Every
  component advertises 127.0.0.1; clients talk to it with the project's current pymilvus.
- Ray: ``ray start --head --block`` on 127.0.0.1 with N CPUs (one actor per CPU), with
  ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` so that Ray keeps to loopback.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
MILVUS_SERVER_ENV = "SHOPSEARCH_MILVUS_SERVER"
MILVUS_VERSION = "2.3.5"
REPO_ROOT = Path(__file__).resolve().parents[1]


class ServiceError(RuntimeError):
    """A test service could not be found or did not start."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None, what: str, log: Path,
               fatal_log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceError(f"{what} exited with code {proc.returncode} while starting; log: {log}\n{_tail(log)}")
        if fatal_log is not None and "panic:" in _tail(fatal_log, 400):
            raise ServiceError(f"{what} crashed while starting; log: {fatal_log}\n{_tail(fatal_log)}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
            return
        time.sleep(0.2)
    raise ServiceError(f"{what} did not listen on {LOOPBACK}:{port} within {timeout:.0f}s; log: {log}\n{_tail(log)}")


def _tail(path: Path, n: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def _session_members(sid: int) -> list[int]:
    """Processes in session ``sid`` (a server started with ``start_new_session`` and everything it
    spawned, including children that moved to process groups of their own)."""
    pids = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat, encoding="utf-8", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # fields after the command: state ppid pgrp session ...
            pids.append(int(stat.split("/")[2]))
    return pids


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM the session ``proc`` leads (it was started with ``start_new_session``), then
    SIGKILL whatever of that session is left: only processes this server started."""
    sid = proc.pid
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
    deadline = time.monotonic() + 5
    while (members := _session_members(sid)) and time.monotonic() < deadline:
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        time.sleep(0.3)
    for pid in _session_members(sid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def postgres_bindir() -> Path | None:
    """Folder of Debian's PostgreSQL server binaries (``initdb``, ``postgres``), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    """A throwaway PostgreSQL cluster in ``root``; ``dsn`` once started."""

    def __init__(self, root: Path | None = None, port: int | None = None) -> None:
        # As root, the cluster lives in its own temporary folder owned by ``postgres`` (a test's
        # temporary folder is usually not reachable for that user).
        self._own_root = root is None or os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="shopsearch-pg-")) if self._own_root else Path(root)  # type: ignore[arg-type]
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.dsn = f"host={LOOPBACK} port={self.port} user=postgres dbname=postgres"

    def _as_owner(self, cmd: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return cmd
        return ["runuser", "-u", "postgres", "--", *cmd]  # initdb refuses to run as root

    def __enter__(self) -> PostgresServer:
        bindir = postgres_bindir()
        if bindir is None:
            raise ServiceError("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.root.mkdir(parents=True, exist_ok=True)
        data, log = self.root / "data", self.root / "postgres.log"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        done = subprocess.run(self._as_owner([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U",
                                              "postgres", "-E", "UTF8", "--no-sync", "--no-instructions"]),
                              capture_output=True)
        if done.returncode:
            self.stop()
            raise ServiceError(f"initdb failed ({done.returncode}): {done.stdout.decode()} {done.stderr.decode()}")
        with open(log, "wb") as fh:
            if os.geteuid() == 0:
                shutil.chown(log, "postgres")
            self.proc = subprocess.Popen(
                self._as_owner([str(bindir / "postgres"), "-D", str(data), "-h", LOOPBACK, "-p", str(self.port),
                                "-k", str(self.root), "-c", "fsync=off", "-c", "max_connections=200"]),
                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_port(self.port, 60, self.proc, "postgres", log)
            self._wait_ready(log)
        except BaseException:
            self.stop()
            raise
        logger.info("PostgreSQL on %s:%d (%s)", LOOPBACK, self.port, self.root)
        return self

    def _wait_ready(self, log: Path) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.dsn, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise ServiceError(f"postgres does not accept connections; log: {log}\n{_tail(log)}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)
            self.proc = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def milvus_server_script() -> Path | None:
    """The ``milvus-server`` script of the Milvus server's own virtual environment, or None."""
    env = os.environ.get(MILVUS_SERVER_ENV)
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT / ".ci-cache" / "milvus-venv" / "bin" / "milvus-server")
    for c in candidates:
        if c.is_file():
            return c
    found = shutil.which("milvus-server")
    return Path(found) if found else None


_MILVUS_COMPONENTS = ("proxy", "rootCoord", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode")


class MilvusServer:
    """A throwaway Milvus standalone server with its data in ``root``; ``uri`` once started.

    The server binaries are unpacked once into ``bin_cache`` (default: beside the server's
    virtual environment) and linked into each data folder, so a start takes seconds.
    """

    def __init__(self, root: Path, port: int | None = None, script: Path | None = None,
                 timeout: float = 180.0) -> None:
        self.root = Path(root)
        self.port = port or free_port()
        self.script = script or milvus_server_script()
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.uri = f"http://{LOOPBACK}:{self.port}"

    def _bin_cache(self) -> Path:
        assert self.script is not None
        venv_python = self.script.parent / "python"
        cache = self.script.parent.parent / "milvus-bin"
        if not (cache / "bin" / "milvus").is_file() or not (cache / "bin" / "milvus.lzma.md5").is_file():
            logger.info("unpacking the Milvus server binaries into %s", cache)
            subprocess.run([str(venv_python), "-c", "import sys, milvus; milvus._initialize_data_files(sys.argv[1])",
                            str(cache)], check=True)
        return cache / "bin"

    def __enter__(self) -> MilvusServer:
        if self.script is None:
            raise ServiceError(f"the Milvus server is not installed: set ${MILVUS_SERVER_ENV} to the milvus-server "
                               f"script of a virtual environment with `pip install milvus=={MILVUS_VERSION} "
                               "'marshmallow<3.20'` (.ci/milvus-venv.sh makes one)")
        self.root.mkdir(parents=True, exist_ok=True)
        bin_dir = self.root / "bin"
        if not bin_dir.exists():
            bin_dir.symlink_to(self._bin_cache(), target_is_directory=True)
        log = self.root / "milvus-server.log"
        # The embedded etcd listens on fixed ports (2379/2380) unless given its own config;
        # Milvus reads ``etcd.config.path`` from the environment as ETCD_CONFIG_PATH.
        client, peer = free_port(), free_port()
        etcd_conf = self.root / "etcd.yaml"
        etcd_conf.write_text(
            f"name: default\nlisten-client-urls: http://{LOOPBACK}:{client}\n"
            f"advertise-client-urls: http://{LOOPBACK}:{client}\nlisten-peer-urls: http://{LOOPBACK}:{peer}\n"
            f"initial-advertise-peer-urls: http://{LOOPBACK}:{peer}\n"
            f"initial-cluster: default=http://{LOOPBACK}:{peer}\n", encoding="utf-8")
        env = dict(os.environ, ETCD_CONFIG_PATH=str(etcd_conf))
        cmd = [str(self.script), "--data", str(self.root), "--proxy-port", str(self.port), "--etcd-port", str(client)]
        for comp in _MILVUS_COMPONENTS:
            cmd += ["--extra-config", f"{comp}.ip={LOOPBACK}"]
        with open(log, "wb") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                                         cwd=self.root, env=env)
        try:
            _wait_port(self.port, self.timeout, self.proc, "milvus", log, self.root / "logs" / "milvus-stderr.log")
            self._wait_ready(log)
        except BaseException:
            self.stop()
            raise
        logger.info("Milvus on %s (%s)", self.uri, self.root)
        return self

    def _wait_ready(self, log: Path) -> None:
        from pymilvus import MilvusClient  # type: ignore[import-untyped]

        deadline = time.monotonic() + self.timeout
        while True:
            try:
                client = MilvusClient(uri=self.uri, timeout=5)
                client.list_collections()
                client.close()
                return
            except Exception as exc:  # pymilvus raises several types while the server starts
                if time.monotonic() > deadline:
                    raise ServiceError(f"milvus is not ready: {exc}; log: {log}\n{_tail(log)}") from None
                time.sleep(0.5)

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc, timeout=10)
            self.proc = None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


class RayCluster:
    """A local Ray head on 127.0.0.1 with ``num_cpus`` CPUs; ``address`` once started.

    Started with ``ray start --head --block`` in its own session, so stopping kills exactly the
    processes this cluster started (never other Ray clusters on the machine).
    """

    def __init__(self, root: Path, num_cpus: int = 2, port: int | None = None, timeout: float = 120.0) -> None:
        self.root = Path(root)
        self.num_cpus = num_cpus
        self.port = port or free_port()
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.address = f"{LOOPBACK}:{self.port}"

    def __enter__(self) -> RayCluster:
        ray_bin = Path(sys.executable).parent / "ray"
        if not ray_bin.is_file():
            found = shutil.which("ray")
            if not found:
                raise ServiceError("ray is not installed: pip install 'shopsearch[scale]'")
            ray_bin = Path(found)
        self.root.mkdir(parents=True, exist_ok=True)
        log = self.root / "ray-head.log"
        env = dict(os.environ, **RAY_ENV)
        cmd = [str(ray_bin), "start", "--head", "--block", f"--node-ip-address={LOOPBACK}", f"--port={self.port}",
               f"--num-cpus={self.num_cpus}", "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats",
               f"--temp-dir={self.root / 'tmp'}", f"--node-manager-port={free_port()}",
               f"--object-manager-port={free_port()}", f"--ray-client-server-port={free_port()}",
               f"--min-worker-port={free_port()}", "--max-worker-port=0",
               "--object-store-memory=300000000"]
        # --max-worker-port=0 with a min port: Ray then picks worker ports freely
        cmd = [c for c in cmd if not c.startswith(("--min-worker-port", "--max-worker-port"))]
        with open(log, "wb") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        try:
            _wait_port(self.port, self.timeout, self.proc, "ray head", log)
            self._wait_ready(log)
        except BaseException:
            self.stop()
            raise
        logger.info("Ray head on %s (%d CPUs)", self.address, self.num_cpus)
        return self

    def _wait_ready(self, log: Path) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServiceError(f"ray head exited with {self.proc.returncode}; log: {log}\n{_tail(log)}")
            if "Ray runtime started" in _tail(log, 200) or "--block" in _tail(log, 200):
                return
            time.sleep(0.3)
        raise ServiceError(f"ray head not ready within {self.timeout:.0f}s; log: {log}\n{_tail(log)}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc, timeout=10)
            self.proc = None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
