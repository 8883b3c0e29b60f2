"""The ``agora`` command: serve, migrate, seed, user management and schema export."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console

from app.config import Settings

__all__ = ["main"]

cli = typer.Typer(help="Agora: GraphQL BFF and ISV marketplace server.", no_args_is_help=True)
user_cli = typer.Typer(help="Manage users.", no_args_is_help=True)
schema_cli = typer.Typer(help="The GraphQL schema.", no_args_is_help=True)
client_cli = typer.Typer(help="Register API clients (ISV apps).", no_args_is_help=True)
cli.add_typer(user_cli, name="user")
cli.add_typer(client_cli, name="client")
cli.add_typer(schema_cli, name="schema")
console = Console(stderr=True)


@cli.command()
def serve(
    host: str | None = typer.Option(None, help="Defaults to AGORA_HOST (127.0.0.1)."),
    port: int | None = typer.Option(None, help="Defaults to AGORA_PORT (8000)."),
    workers: int = typer.Option(1, min=1, help="Processes; keep 1 on SQLite."),
) -> None:
    """Serve the API (GraphiQL at /graphql in dev)."""
    import uvicorn

    settings = Settings()
    console.print(f"Agora on http://{host or settings.host}:{port or settings.port}/graphql")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        proxy_headers=False,
        log_level=settings.log_level.lower(),
    )


@cli.command()
def migrate(revision: str = typer.Argument("head")) -> None:
    """Upgrade the database to REVISION and load the baseline RBAC policy."""
    from app import migrate as migrations

    settings = Settings()
    migrations.upgrade(settings.resolved_database_url, revision)
    added = asyncio.run(migrations.sync_policy(settings))
    console.print(f"Database at {revision}; {added} policy rules added.")


@cli.command()
def seed(
    if_empty: bool = typer.Option(False, "--if-empty", help="Do nothing when a shop exists."),
    products: int = typer.Option(500, min=1, help="How many demo products."),
) -> None:
    """Load the demo shop (handle `demo`) and one user per role. Safe to repeat."""
    from app.seed import seed_demo

    report = asyncio.run(seed_demo(Settings(), products=products, only_if_empty=if_empty))
    if report is None:
        console.print("Demo data present; nothing to do.")
        return
    typer.echo(report.render())


@user_cli.command("create")
def user_create(
    email: str = typer.Option(...),
    role: str = typer.Option(
        ..., help="shopper, business, owner, developer, ops, finance or community_admin."
    ),
    domain: str = typer.Option("platform", help="platform, shop:<handle or id> or partner:<id>."),
    name: str = typer.Option(""),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
) -> None:
    """Create a staff user (or grant a role to an existing one)."""
    from app.errors import DomainError
    from app.seed import ensure_user

    try:
        created = asyncio.run(
            ensure_user(
                Settings(), email=email, password=password, role=role, domain=domain, name=name
            )
        )
    except (DomainError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"{'Created' if created else 'Updated'} {email}: {role} in {domain}.")


@client_cli.command("create")
def client_create(
    name: str = typer.Option(...),
    scope: list[str] = typer.Option([], help="Repeat for each scope, e.g. --scope goods:read."),
    redirect_uri: list[str] = typer.Option([], help="Exact redirect URIs for the code flow."),
) -> None:
    """Register a client and print its credentials once (they are not stored readably)."""
    from app.db import Database
    from app.security.clients import IssuedCredentials, register_client
    from app.security.encryption import load_or_create_keyring

    settings = Settings()

    async def create() -> IssuedCredentials:
        db = Database.connect(settings)
        cipher = load_or_create_keyring(settings.resolved_data_keyring_path, create=settings.is_dev)
        try:
            async with db.writer() as session, session.begin():
                grants = ["client_credentials"]
                if redirect_uri:
                    grants += ["authorization_code", "refresh_token"]
                return await register_client(
                    session,
                    cipher,
                    name=name,
                    scopes=scope,
                    redirect_uris=redirect_uri,
                    grant_types=grants,
                )
        finally:
            await db.dispose()

    issued = asyncio.run(create())
    typer.echo(f"client_id       {issued.client_id}")
    typer.echo(f"client_secret   {issued.client_secret}")
    typer.echo(f"signing_secret  {issued.signing_secret}")


@schema_cli.command("export")
def schema_export(output: Path = typer.Option(Path("schema.graphql"))) -> None:
    """Write the GraphQL SDL (what `make schema` commits)."""
    from schema import build_schema

    output.write_text(str(build_schema()) + "\n")
    console.print(f"Wrote {output}.")


def main() -> None:
    cli()
