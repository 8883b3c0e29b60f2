"""The one shape of a refusal that a caller can act on, shared by every domain.

Each domain names its own codes in an enum (``app/goods/errors.py`` and so on); the GraphQL
layer turns a ``DomainError`` into that domain's ``UserError`` list in the mutation payload.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["DomainError", "Problem"]


@dataclass(frozen=True, slots=True)
class Problem:
    code: enum.StrEnum
    message: str
    field: tuple[str, ...] = ()


class DomainError(Exception):
    """One or more problems with a request; nothing was written."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = tuple(problems)

    @classmethod
    def one(cls, code: enum.StrEnum, message: str, *field: str) -> DomainError:
        return cls([Problem(code, message, tuple(field))])
