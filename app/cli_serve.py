"""``agora serve`` and ``agora keys generate``: serving, alone or as several processes.

``serve`` checks production settings before it starts any process (``app.production``), so a
bad deployment fails at once with every problem listed and exit status 2, rather than as a
crash loop of workers. With ``--workers N`` uvicorn's supervisor runs N processes on one
socket. SIGTERM (or Ctrl-C) is graceful: each worker stops accepting, lets its in-flight
requests finish (at most ``AGORA_SHUTDOWN_GRACE_SECONDS``), then runs the app's shutdown, which
lets the background loops finish their current round and closes connections; the supervisor
exits 0 once every worker has.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from app.config import Settings

__all__ = ["keys_generate", "refuse_unready_production", "serve"]

console = Console(stderr=True)


def serve(
    host: str | None = typer.Option(None, help="Defaults to AGORA_HOST (127.0.0.1)."),
    port: int | None = typer.Option(None, help="Defaults to AGORA_PORT (8000)."),
    workers: int | None = typer.Option(
        None,
        min=1,
        help="Processes (default AGORA_WORKERS, 1). Several need PostgreSQL in prod.",
    ),
) -> None:
    """Serve the API (GraphiQL at /graphql in dev, /sandbox/graphiql always)."""
    import uvicorn

    settings = Settings()
    processes = workers or settings.workers
    refuse_unready_production(settings, processes)
    if processes > 1 and settings.resolved_database_url.startswith("sqlite"):
        console.print(
            f"[yellow]dev: {processes} workers on one SQLite file; fine for trying, "
            "production refuses it.[/yellow]"
        )
    # Every worker reads its settings anew: tell them how many they are (a process's share
    # of a rate limit when Redis is unreachable is the limit divided by AGORA_WORKERS).
    os.environ["AGORA_WORKERS"] = str(processes)
    if processes > 1:
        # Workers write metrics to shared files, so /metrics shows all of them; set before any
        # worker imports prometheus-client (app.observability.exposition).
        from app.observability.exposition import MULTIPROC_ENV, prepare_multiprocess

        prepare_multiprocess(Path(os.environ.get(MULTIPROC_ENV) or settings.var_dir / "metrics"))
    bind_host, bind_port = host or settings.host, port or settings.port
    console.print(f"Agora on http://{bind_host}:{bind_port}/graphql ({processes} workers)")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=bind_host,
        port=bind_port,
        workers=processes,
        proxy_headers=False,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )


def keys_generate(
    directory: Path = typer.Option(
        ..., "--dir", help="Where the production keys go (e.g. a secrets volume)."
    ),
) -> None:
    """Make production key files (none is overwritten) and print the AGORA_* paths to set."""
    from app.production import provision_keys

    for variable, path in provision_keys(directory).items():
        typer.echo(f"{variable}={path.resolve()}")


def refuse_unready_production(settings: Settings, processes: int) -> None:
    """Exit 2, listing every problem, when prod settings must not run (``app.production``):
    ``serve`` and ``worker`` both start nothing on dev keys or weak secrets."""
    from app.production import production_problems

    problems = production_problems(settings, workers=processes)
    if problems:
        console.print("Refusing to start in prod:", style="red", soft_wrap=True)
        for problem in problems:
            console.print(f"- {problem}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2)
