"""Who is calling: a user (``user:<id>``) or, later, an app (``app:<client_id>``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    token_id: str
    scope: frozenset[str] = frozenset()
    # The shop an app's install token was granted for; None for users and shop-less apps.
    shop_id: int | None = None

    @property
    def user_id(self) -> int | None:
        kind, _, ident = self.subject.partition(":")
        return int(ident) if kind == "user" and ident.isdigit() else None
