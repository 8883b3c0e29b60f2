"""Serve an ASGI app over real HTTP on 127.0.0.1, inside the test's own event loop, so that
another process (localstripe delivering webhooks) can reach it.

The app's lifespan belongs to the caller (the ``app`` fixture already ran it), so uvicorn runs
with ``lifespan="off"``. uvicorn is asyncio-only, so this needs the asyncio backend (the
suite's ``anyio_backend``). A session-scoped async fixture may hold it open: the anyio plugin
runs all session-scoped async fixtures and the tests on one loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from starlette.types import ASGIApp

HOST = "127.0.0.1"
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


class _InLoopServer(uvicorn.Server):
    """uvicorn would swap the process's SIGINT/SIGTERM handlers while serving (so Ctrl-C
    would stop only the server, not pytest); a server living inside a test leaves them alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve_app(app: ASGIApp) -> AsyncIterator[str]:
    """Yield ``http://127.0.0.1:<port>`` while ``app`` is served there.

    The socket is bound here, before uvicorn starts, so the port cannot be taken in between.
    On exit the server stops accepting, lets in-flight requests finish (bounded) and closes.
    """
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections whose socket says TCP,
    # and without it every response waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        host=HOST,
        port=port,
        lifespan="off",
        log_level="warning",
        log_config=None,  # leave the logging setup (pytest's capture) as it is
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = _InLoopServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn:{port}")
    try:
        async with asyncio.timeout(_START_TIMEOUT):
            while not server.started:
                if task.done():
                    task.result()  # raises what stopped it
                    msg = "uvicorn stopped before it started"
                    raise RuntimeError(msg)
                await asyncio.sleep(0.01)
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        try:
            async with asyncio.timeout(_STOP_TIMEOUT):
                await asyncio.shield(task)
        except TimeoutError:
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            sock.close()
