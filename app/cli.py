"""The ``agora`` command: serve, migrate, seed, user management and schema export."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console

from app.cli_billing import billing_cli
from app.cli_documents import documents_cli
from app.cli_serve import keys_generate, serve
from app.cli_settle import settle_cli
from app.cli_worker import worker
from app.config import Settings

__all__ = ["main"]

cli = typer.Typer(help="Agora: GraphQL BFF and ISV marketplace server.", no_args_is_help=True)
user_cli = typer.Typer(help="Manage users.", no_args_is_help=True)
schema_cli = typer.Typer(help="The GraphQL schema.", no_args_is_help=True)
client_cli = typer.Typer(help="Register API clients (ISV apps).", no_args_is_help=True)
keys_cli = typer.Typer(help="Generate (for prod) and rotate keys.", no_args_is_help=True)
jobs_cli = typer.Typer(
    help="Background jobs (agora serve also runs them in a loop).", no_args_is_help=True
)
cli.add_typer(user_cli, name="user")
cli.add_typer(client_cli, name="client")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(jobs_cli, name="jobs")
cli.add_typer(billing_cli, name="billing")
cli.add_typer(settle_cli, name="settle", help="Create a month's settlement runs.")
cli.add_typer(schema_cli, name="schema")
cli.command()(worker)
cli.command()(serve)
keys_cli.command("generate")(keys_generate)
cli.add_typer(documents_cli, name="documents")
console = Console(stderr=True)


@cli.command()
def migrate(revision: str = typer.Argument("heads")) -> None:
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


@cli.command()
def sign(
    key: str = typer.Option(..., help="The signing key: your client_id."),
    secret: str = typer.Option(
        ..., prompt=True, hide_input=True, help="The signing secret (prompted when omitted)."
    ),
    method: str = typer.Option("POST"),
    url: str = typer.Option("/graphql", help="Path and query, or a full URL."),
    data: str = typer.Option("", help="The body, or @file to send a file's bytes."),
    timestamp: int | None = typer.Option(None, help="Unix seconds; defaults to now."),
    nonce: str | None = typer.Option(None, help="Defaults to 128 random bits."),
    curl: bool = typer.Option(False, "--curl", help="Print a ready curl command instead."),
    show_canonical: bool = typer.Option(False, help="Also print the canonical string."),
) -> None:
    """Sign an open-API request (X-Agora-* headers), as partners' code must."""
    import shlex
    from urllib.parse import urlsplit

    from app.security import signing

    body = Path(data[1:]).read_bytes() if data.startswith("@") else data.encode()
    target = urlsplit(url)
    try:
        headers = signing.sign_request(
            key=key,
            secret=secret,
            method=method,
            path=target.path or "/",
            query=target.query,
            body=body,
            timestamp=timestamp,
            nonce=nonce,
        )
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if show_canonical:
        canonical = signing.canonical_string(
            key=key,
            timestamp=int(headers[signing.HEADER_TIMESTAMP]),
            nonce=headers[signing.HEADER_NONCE],
            method=method,
            path=target.path or "/",
            query=target.query,
            body=body,
        )
        console.print(canonical, markup=False, highlight=False)
    if not curl:
        for name, value in headers.items():
            typer.echo(f"{name}: {value}")
        return
    full = url if target.scheme else Settings().public_url.rstrip("/") + url
    words = ["curl", "-sS", "-X", method.upper(), full]
    for name, value in headers.items():
        words += ["-H", f"{name}: {value}"]
    if body:
        words += ["-H", "content-type: application/json", "--data-binary", data]
    typer.echo(shlex.join(words))


@keys_cli.command("rotate")
def keys_rotate() -> None:
    """Make a new JWT signing key; the previous one stays in the JWKS and keeps verifying.

    Restart the servers to sign with the new key. Tokens signed with the previous key verify
    until they expire; the next rotation drops it, so wait at least one access-token lifetime
    (AGORA_ACCESS_TOKEN_TTL_SECONDS) between rotations.
    """
    from app.security.keys import rotate_signing_keys

    path = Settings().resolved_jwt_private_key_path
    if not path.exists():
        console.print(f"[red]{path} does not exist; there is nothing to rotate.[/red]")
        raise typer.Exit(2)
    keys = rotate_signing_keys(path)
    previous = ", ".join(k.kid or "" for k in keys.previous)
    console.print(f"Signing key {keys.current.kid}; still verifying {previous}.")


@keys_cli.command("rotate-data")
def keys_rotate_data(
    resume: bool = typer.Option(
        False, "--resume", help="Add no key; finish re-encrypting under the active one."
    ),
    batch_size: int = typer.Option(500, min=1, max=10_000, help="Rows per transaction."),
) -> None:
    """Add a new active data key (old keys kept), then re-encrypt every encrypted column.

    Restart the servers afterwards (they read the keyring at start), then run again with
    --resume to re-encrypt rows they wrote under the old key meanwhile.
    """
    from rich.progress import Progress

    from app import rekey
    from app.db import Database
    from app.security.encryption import FieldCipher

    settings = Settings()
    path = settings.resolved_data_keyring_path
    if not path.exists():
        console.print(f"[red]{path} does not exist; there is nothing to rotate.[/red]")
        raise typer.Exit(2)
    cipher = FieldCipher.from_json(path.read_text()) if resume else rekey.add_data_key(path)
    console.print(f"Active data key: {cipher.active_kid} ({len(cipher.keys)} keys in {path}).")

    async def run() -> int:
        db = Database.connect(settings)
        try:
            total = await rekey.count_encrypted_rows(db)
            with Progress(console=console) as progress:
                task = progress.add_task("Re-encrypting", total=total)
                return await rekey.reencrypt(
                    db,
                    cipher,
                    batch_size=batch_size,
                    advance=lambda rows: progress.advance(task, rows),
                )
        finally:
            await db.dispose()

    console.print(f"{asyncio.run(run())} rows checked; every value is under {cipher.active_kid}.")


@jobs_cli.command("run-once")
def jobs_run_once() -> None:
    """One round of every background job: expire unpaid card orders (releasing their stock)
    and retry refunds whose outcome was unknown. Safe beside running servers."""
    from datetime import UTC, datetime

    from app.compose_domains import trade_services
    from app.db import Database
    from app.jobs import run_jobs_once
    from app.security.encryption import load_or_create_keyring

    settings = Settings()

    async def run() -> str:
        db = Database.connect(settings)
        try:
            cipher = load_or_create_keyring(
                settings.resolved_data_keyring_path, create=settings.is_dev
            )
            trade = trade_services(settings, db, cipher, lambda: datetime.now(UTC))
            report = await run_jobs_once(trade)
        finally:
            await db.dispose()
        return (
            f"{report.expired_orders} unpaid orders expired; "
            f"{report.refunds_retried} refunds retried."
        )

    console.print(asyncio.run(run()))


@schema_cli.command("export")
def schema_export(output: Path = typer.Option(Path("schema.graphql"))) -> None:
    """Write the GraphQL SDL (what `make schema` commits)."""
    from schema import build_schema

    output.write_text(str(build_schema()) + "\n")
    console.print(f"Wrote {output}.")


def main() -> None:
    cli()
