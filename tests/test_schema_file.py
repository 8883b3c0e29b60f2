"""The committed ``schema.graphql`` is the schema the server serves.

When they differ, the failure lists the breaking changes (removed fields, changed types…) that
regenerating the file would commit, so that a breaking change is always a visible decision.
"""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema as parse_sdl
from graphql import find_breaking_changes

from schema import build_schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_schema_graphql_is_up_to_date() -> None:
    served = str(build_schema()) + "\n"
    committed = SCHEMA_FILE.read_text()
    if committed != served:
        breaking = find_breaking_changes(parse_sdl(committed), parse_sdl(served))
        listed = "\n".join(f"  {c.type.name}: {c.description}" for c in breaking) or "  none"
        raise AssertionError(
            f"schema.graphql is stale: run `make schema` and review the diff.\nBreaking changes:\n{listed}"
        )
