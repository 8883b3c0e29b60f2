"""`agora serve --workers 2` survives a SIGTERM mid-load: no request it accepted fails.

The server runs as a real process tree (uvicorn's supervisor and two workers) on a free port
of 127.0.0.1, over a migrated and seeded database of its own (SQLite, or a fresh PostgreSQL
database when AGORA_DATABASE_URL names one), with the jobs and dispatcher loops running.

"Accepted" is made certain, not left to timing: a few requests are sent with
``Expect: 100-continue`` and their bodies held back. A worker answers ``100 Continue`` only once
the application itself asks for the body, so each of those requests is inside the app before
SIGTERM is sent. The bodies follow only after both workers have logged that they are shutting
down, and every one of those requests must still get its 200. Meanwhile a few threads keep
firing listing queries: every response any of them gets must be a 200, and a connection that
fails is only allowed once SIGTERM was sent (the listening socket closes). The whole tree must
exit 0, each worker having run the app's shutdown (loops stopped, connections closed).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio.to_thread
import httpx
import pytest

from app.config import Settings
from app.migrate import sync_policy, upgrade
from app.seed import seed_demo
from tests.support.databases import fresh_database

pytestmark = pytest.mark.anyio

AGORA = Path(sys.executable).with_name("agora")
LISTING = {
    "query": "{ products(first: 40) { nodes { title variants { sku quantityAvailable } } } }"
}
HELD = 6  # requests proven to be in flight when SIGTERM arrives
LOADERS = 4  # threads firing requests across the SIGTERM
MAX_PER_LOADER = 200
PRE_SIGNAL_ANSWERS = 3 * LOADERS
STARTUP_SECONDS = 40
EXIT_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Log:
    """The server's stderr, collected line by line by a thread."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._changed:
                self.lines.append(line.rstrip())
                self._changed.notify_all()

    def count(self, text: str) -> int:
        with self._changed:
            return sum(text in line for line in self.lines)

    def wait_for(self, text: str, times: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while sum(text in line for line in self.lines) < times:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True


def _hold(port: int, body: bytes) -> socket.socket:
    """A request whose headers are sent and whose body is not, once the app has asked for it."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=EXIT_SECONDS)
    conn.sendall(
        (
            f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\nX-Agora-Shop: demo\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
        ).encode()
    )
    interim = b""
    while b"\r\n\r\n" not in interim:
        chunk = conn.recv(1024)
        assert chunk, "the server closed a held request before asking for its body"
        interim += chunk
    assert interim.startswith(b"HTTP/1.1 100"), interim
    return conn


def _release(conn: socket.socket, body: bytes) -> tuple[int, dict[str, object]]:
    """Send the held body; the status and JSON of the answer."""
    with conn:
        conn.sendall(body)
        raw = b""
        while chunk := conn.recv(65536):
            raw += chunk
    head, _, payload = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(payload)


def _load(
    port: int, terminating: threading.Event, done: threading.Event, answered: threading.Semaphore
) -> Counter[str]:
    """Listing queries on fresh connections until told to stop, or refused after SIGTERM."""
    seen: Counter[str] = Counter()
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"X-Agora-Shop": "demo", "Connection": "close"},
        timeout=EXIT_SECONDS,
    ) as client:
        for _ in range(MAX_PER_LOADER):
            if done.is_set():
                break
            try:
                response = client.post("/graphql", json=LISTING)
            except httpx.TransportError as error:
                # Only a server that is going away may refuse or drop a connection.
                seen["dropped after SIGTERM" if terminating.is_set() else f"failed: {error!r}"] += 1
                break
            ok = response.status_code == 200 and not response.json().get("errors")
            seen["200" if ok else f"{response.status_code}: {response.text[:200]}"] += 1
            answered.release()
    return seen


def _run_server(env: dict[str, str], port: int) -> None:
    server = subprocess.Popen(  # noqa: S603 (our own command, fixed arguments)
        [str(AGORA), "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = _Log(server.stderr)
    try:
        assert log.wait_for("Application startup complete", 2, STARTUP_SECONDS), log.lines
        body = json.dumps(LISTING).encode()
        held = [_hold(port, body) for _ in range(HELD)]
        terminating, done = threading.Event(), threading.Event()
        answered = threading.Semaphore(0)
        with ThreadPoolExecutor(LOADERS) as pool:
            loads = [pool.submit(_load, port, terminating, done, answered) for _ in range(LOADERS)]
            # Mid-load: SIGTERM once the loaders have had a few answers each.
            for _ in range(PRE_SIGNAL_ANSWERS):
                assert answered.acquire(timeout=EXIT_SECONDS)
            terminating.set()
            server.send_signal(signal.SIGTERM)
            shutting = log.wait_for("Shutting down", 2, EXIT_SECONDS)
            answers = [_release(conn, body) for conn in held]
            done.set()
            load = sum((future.result() for future in loads), Counter())
        assert shutting, log.lines
        assert server.wait(timeout=EXIT_SECONDS) == 0, log.lines
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    assert [status for status, _ in answers] == [200] * HELD
    for _, payload in answers:
        assert "errors" not in payload, payload
        assert len(payload["data"]["products"]["nodes"]) == 40  # type: ignore[index]
    assert load["200"] >= PRE_SIGNAL_ANSWERS, load
    assert set(load) <= {"200", "dropped after SIGTERM"}, load
    assert log.count("Application shutdown complete") == 2, log.lines
    assert not [line for line in log.lines if "Traceback" in line or "ERROR" in line]


async def test_sigterm_mid_load_fails_no_accepted_request(tmp_path: Path) -> None:
    base = os.environ.get("AGORA_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp_path}/t.db"
    async with fresh_database(base, tmp_path) as url:
        settings = Settings(
            var_dir=tmp_path,
            database_url=url,
            password_hash_time_cost=1,
            password_hash_memory_kib=8,
        )
        await anyio.to_thread.run_sync(upgrade, url)
        await sync_policy(settings, url)
        await seed_demo(settings, products=60)
        env = {
            **os.environ,
            "AGORA_ENVIRONMENT": "dev",
            "AGORA_VAR_DIR": str(tmp_path),
            "AGORA_DATABASE_URL": url,
            "AGORA_JOBS_INTERVAL_SECONDS": "0.2",
            "AGORA_DISPATCHER_INTERVAL_SECONDS": "0.2",
            "AGORA_RATE_LIMIT_RATE": "10000",
            "AGORA_RATE_LIMIT_BURST": "10000",
            "AGORA_QUERY_COST_BUCKET_MAX": "1000000",
            "AGORA_QUERY_COST_RESTORE_RATE": "100000",
            "AGORA_SHUTDOWN_GRACE_SECONDS": "20",
            "AGORA_LOG_LEVEL": "INFO",
        }
        await anyio.to_thread.run_sync(_run_server, env, _free_port())
