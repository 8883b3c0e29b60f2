"""Every GraphQL example in the README is valid against the served schema, so the README
cannot drift from the API it documents."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import parse, validate

from schema import build_schema

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"```graphql\n(.*?)```", re.DOTALL)


def _examples() -> list[str]:
    """Each block holds operations one after another; split at each top-level keyword."""
    found = []
    for block in BLOCK.findall(README.read_text()):
        lines = [line for line in block.splitlines() if not line.lstrip().startswith("#")]
        text = "\n".join(lines)
        starts = [m.start() for m in re.finditer(r"^(query|mutation|subscription)\b", text, re.M)]
        for begin, end in zip(starts, [*starts[1:], len(text)], strict=True):
            found.append(text[begin:end].strip())
    return found


EXAMPLES = _examples()


def test_the_readme_has_examples() -> None:
    assert len(EXAMPLES) > 20


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.split("{")[1].split("(")[0].strip())
def test_a_readme_example_is_valid(example: str) -> None:
    schema = build_schema()._schema
    errors = validate(schema, parse(example))
    assert not errors, f"{example}\n{[e.message for e in errors]}"
