"""``agora documents``: register first-party frontends' GraphQL documents as trusted.

Run it from the frontend's build or deploy (``agora documents register src/**/*.graphql
--client storefront``), before the frontend that sends those ids goes live. Each file is one
document, registered under ``sha256:<hex>`` of its exact text; every file is checked against
the schema first, and nothing is stored unless all of them are valid, so a broken build
cannot register half its documents.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console

from app.config import Settings

__all__ = ["documents_cli"]

documents_cli = typer.Typer(
    help="Trusted documents (persisted queries) of first-party frontends.", no_args_is_help=True
)
console = Console(stderr=True)


def _problems(texts: dict[Path, str]) -> list[str]:
    from graphql import GraphQLError, parse, validate

    from schema import build_schema

    schema = build_schema()._schema
    problems = []
    for path, text in texts.items():
        try:
            errors = validate(schema, parse(text))
        except GraphQLError as error:
            errors = [error]
        problems += [f"{path}: {error.message}" for error in errors]
    return problems


@documents_cli.command("register")
def register(
    files: list[Path] = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    client: str = typer.Option(..., help="The frontend these documents belong to."),
) -> None:
    """Register each file's document; prints its id (already known ones are kept as they are)."""
    from app.db import Database
    from app.security.trusted_documents import register_documents

    texts = {path: path.read_text(encoding="utf-8") for path in files}
    problems = _problems(texts)
    if problems:
        for problem in problems:
            console.print(f"[red]{problem}[/red]", highlight=False)
        console.print("[red]Nothing registered.[/red]")
        raise typer.Exit(2)
    settings = Settings()

    async def store() -> list[tuple[Path, str, bool]]:
        db = Database.connect(settings)
        try:
            async with db.writer() as session, session.begin():
                done = await register_documents(session, client, texts.values())
        finally:
            await db.dispose()
        return [(p, r.document_id, r.created) for p, r in zip(texts, done, strict=True)]

    for path, document_id, created in asyncio.run(store()):
        typer.echo(f"{document_id}  {path}  {'registered' if created else 'known'}")


@documents_cli.command("list")
def list_documents(
    client: str | None = typer.Option(None, help="Only this frontend's documents."),
) -> None:
    """Every registered document's id, client and first line."""
    from sqlalchemy import select

    from app.db import Database
    from app.security.trusted_documents import DOCUMENT_ID_PREFIX, TrustedDocument

    settings = Settings()

    async def load() -> list[TrustedDocument]:
        db = Database.connect(settings)
        try:
            async with db.reader() as session:
                query = select(TrustedDocument).order_by(TrustedDocument.created_at)
                if client is not None:
                    query = query.where(TrustedDocument.client == client)
                return list(await session.scalars(query))
        finally:
            await db.dispose()

    for document in asyncio.run(load()):
        first = document.body.strip().splitlines()[0] if document.body.strip() else ""
        typer.echo(f"{DOCUMENT_ID_PREFIX}{document.id}  {document.client}  {first[:60]}")
