"""Checks shared by the catalog services: handles, URLs and lengths."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Problem
from app.goods.errors import GoodsErrorCode
from app.goods.models import Category, Product

__all__ = ["check_handle", "check_text", "check_url", "handle_taken", "slugify"]

_HANDLE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_HANDLE_LENGTH = 100


def slugify(text: str) -> str:
    """``"Café Crème 2"`` → ``"cafe-creme-2"``; used when no handle is given."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:MAX_HANDLE_LENGTH].rstrip("-") or "item"


def check_handle(handle: str, *field: str) -> list[Problem]:
    if not _HANDLE.match(handle) or len(handle) > MAX_HANDLE_LENGTH:
        return [
            Problem(
                GoodsErrorCode.INVALID,
                "Use lower-case letters, digits and single hyphens (at most 100).",
                field,
            )
        ]
    return []


def check_text(value: str, limit: int, *field: str, required: bool = True) -> list[Problem]:
    if required and not value.strip():
        return [Problem(GoodsErrorCode.REQUIRED, "This field is required.", field)]
    if len(value) > limit:
        return [Problem(GoodsErrorCode.INVALID, f"Use at most {limit} characters.", field)]
    return []


def check_url(url: str, *field: str) -> list[Problem]:
    if not re.match(r"^https?://[^\s]+$", url) or len(url) > 2048:
        return [Problem(GoodsErrorCode.INVALID, "Give an http(s) URL.", field)]
    return []


async def handle_taken(
    session: AsyncSession,
    model: type[Category] | type[Product],
    shop_id: int,
    handle: str,
    except_id: int | None = None,
) -> bool:
    """Whether another row of ``model`` in the shop already uses ``handle``."""
    query = select(model.id).where(model.shop_id == shop_id, model.handle == handle)
    if except_id is not None:
        query = query.where(model.id != except_id)
    return await session.scalar(query) is not None
