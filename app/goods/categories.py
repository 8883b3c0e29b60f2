"""The category tree: create, rename, move (never under its own descendant)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, Problem
from app.goods.errors import GoodsErrorCode
from app.goods.models import Category
from app.goods.validation import check_handle, check_text, handle_taken, slugify

__all__ = ["CategoryChanges", "create_category", "update_category"]

MAX_DEPTH = 10


@dataclass(frozen=True, slots=True)
class CategoryChanges:
    """``None`` keeps a value; ``detach=True`` makes the category a root."""

    name: str | None = None
    handle: str | None = None
    parent_id: int | None = None
    detach: bool = False


async def _load(session: AsyncSession, shop_id: int, category_id: int, *field: str) -> Category:
    category = await session.scalar(
        select(Category).where(Category.id == category_id, Category.shop_id == shop_id)
    )
    if category is None:
        raise DomainError.one(GoodsErrorCode.NOT_FOUND, "No such category.", *field)
    return category


async def _ancestors(session: AsyncSession, shop_id: int, category_id: int) -> list[int]:
    """The chain from ``category_id`` up to its root, itself included."""
    chain: list[int] = []
    current: int | None = category_id
    while current is not None and len(chain) <= MAX_DEPTH + 1:
        chain.append(current)
        current = await session.scalar(
            select(Category.parent_id).where(Category.id == current, Category.shop_id == shop_id)
        )
    return chain


async def create_category(
    session: AsyncSession, shop_id: int, *, name: str, handle: str | None, parent_id: int | None
) -> Category:
    handle = handle if handle is not None else slugify(name)
    problems = check_text(name, 200, "name") + check_handle(handle, "handle")
    if problems:
        raise DomainError(problems)
    if parent_id is not None:
        await _load(session, shop_id, parent_id, "parentId")
        if len(await _ancestors(session, shop_id, parent_id)) >= MAX_DEPTH:
            raise DomainError.one(
                GoodsErrorCode.INVALID, f"Categories nest at most {MAX_DEPTH} deep.", "parentId"
            )
    if await handle_taken(session, Category, shop_id, handle):
        raise DomainError.one(GoodsErrorCode.DUPLICATE_HANDLE, "Handle in use.", "handle")
    category = Category(shop_id=shop_id, name=name.strip(), handle=handle, parent_id=parent_id)
    session.add(category)
    await session.flush()
    return category


async def update_category(
    session: AsyncSession, shop_id: int, category_id: int, changes: CategoryChanges
) -> Category:
    category = await _load(session, shop_id, category_id, "id")
    problems: list[Problem] = []
    if changes.name is not None:
        problems += check_text(changes.name, 200, "input", "name")
    if changes.handle is not None:
        problems += check_handle(changes.handle, "input", "handle")
    if problems:
        raise DomainError(problems)
    if changes.handle is not None and await handle_taken(
        session, Category, shop_id, changes.handle, category.id
    ):
        raise DomainError.one(GoodsErrorCode.DUPLICATE_HANDLE, "Handle in use.", "input", "handle")
    if changes.parent_id is not None:
        await _load(session, shop_id, changes.parent_id, "input", "parentId")
        if category.id in await _ancestors(session, shop_id, changes.parent_id):
            raise DomainError.one(
                GoodsErrorCode.CATEGORY_CYCLE,
                "A category cannot move under itself or its descendants.",
                "input",
                "parentId",
            )
        category.parent_id = changes.parent_id
    elif changes.detach:
        category.parent_id = None
    if changes.name is not None:
        category.name = changes.name.strip()
    if changes.handle is not None:
        category.handle = changes.handle
    await session.flush()
    return category
