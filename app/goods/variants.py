"""Variants in bulk: create, update and delete up to a product's limit, all or nothing.

Each bulk change is a change to its product for apps: one ``products/updated`` in the same
transaction (``app.goods.product_topics``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import DomainError, Problem
from app.goods.errors import GoodsErrorCode
from app.goods.models import MAX_VARIANTS_PER_PRODUCT, Product, Variant
from app.goods.product_topics import record_product_updated
from app.money import MoneyError, parse_amount

__all__ = [
    "PriceInput",
    "ShopScope",
    "VariantChanges",
    "VariantDraft",
    "create_variants",
    "delete_variants",
    "refresh_price_range",
    "refresh_price_ranges",
    "update_variants",
]

MAX_SKU_LENGTH = 64
MAX_WEIGHT_GRAMS = 10_000_000


class ShopScope(Protocol):
    """What the catalog needs to know of a shop; identity's ``Shop`` fits it."""

    @property
    def id(self) -> int: ...
    @property
    def currency(self) -> str: ...


@dataclass(frozen=True, slots=True)
class PriceInput:
    amount: str
    currency: str


@dataclass(frozen=True, slots=True)
class VariantDraft:
    sku: str
    price: PriceInput
    option_values: Sequence[str] = ()
    compare_at_price: PriceInput | None = None
    weight_grams: int = 0


@dataclass(frozen=True, slots=True)
class VariantChanges:
    """``None`` keeps a value."""

    id: int
    sku: str | None = None
    price: PriceInput | None = None
    option_values: Sequence[str] | None = None
    compare_at_price: PriceInput | None = None
    clear_compare_at_price: bool = False
    weight_grams: int | None = None


def _price(value: PriceInput, currency: str, *field: str) -> tuple[int | None, list[Problem]]:
    if value.currency != currency:
        message = f"Prices in this shop are in {currency}."
        return None, [Problem(GoodsErrorCode.CURRENCY_MISMATCH, message, (*field, "currencyCode"))]
    try:
        minor = parse_amount(value.amount, currency)
    except MoneyError as exc:
        return None, [Problem(GoodsErrorCode.INVALID, str(exc), (*field, "amount"))]
    if minor < 0:
        return None, [
            Problem(GoodsErrorCode.INVALID, "A price cannot be negative.", (*field, "amount"))
        ]
    return minor, []


def _check_fields(
    sku: str | None,
    options: Sequence[str] | None,
    weight: int | None,
    option_names: Sequence[str],
    *field: str,
) -> list[Problem]:
    problems: list[Problem] = []
    if sku is not None and (not sku.strip() or len(sku) > MAX_SKU_LENGTH or sku != sku.strip()):
        problems.append(
            Problem(
                GoodsErrorCode.INVALID,
                "A SKU is 1 to 64 characters, no outer spaces.",
                (*field, "sku"),
            )
        )
    if options is not None and len(options) != len(option_names):
        message = f"Give one value for each option ({', '.join(option_names) or 'none'})."
        problems.append(Problem(GoodsErrorCode.INVALID, message, (*field, "optionValues")))
    if weight is not None and not 0 <= weight <= MAX_WEIGHT_GRAMS:
        problems.append(
            Problem(GoodsErrorCode.INVALID, "Weight is out of range.", (*field, "weightGrams"))
        )
    return problems


async def _skus_taken(session: AsyncSession, shop_id: int, skus: Sequence[str]) -> set[str]:
    if not skus:
        return set()
    rows = await session.scalars(
        select(Variant.sku).where(Variant.shop_id == shop_id, Variant.sku.in_(skus))
    )
    return set(rows)


def _duplicates(values: Sequence[object]) -> set[object]:
    seen: set[object] = set()
    return {v for v in values if v in seen or seen.add(v)}  # type: ignore[func-returns-value]


async def create_variants(
    session: AsyncSession,
    shop: ShopScope,
    product: Product,
    drafts: Sequence[VariantDraft],
    *,
    field: tuple[str, ...] = ("variants",),
    announce: bool = True,
) -> list[Variant]:
    """Add ``drafts`` to ``product``, all or nothing; ``announce`` writes ``products/updated``
    (not when the variants are part of creating the product)."""
    existing = (
        await session.execute(
            select(func.count(), func.coalesce(func.max(Variant.position), -1)).where(
                Variant.product_id == product.id
            )
        )
    ).one()
    count, last_position = existing
    problems: list[Problem] = []
    if count + len(drafts) > MAX_VARIANTS_PER_PRODUCT:
        problems.append(
            Problem(
                GoodsErrorCode.TOO_MANY_VARIANTS,
                f"A product has at most {MAX_VARIANTS_PER_PRODUCT} variants.",
                field,
            )
        )
    prices: list[tuple[int | None, int | None]] = []
    for index, draft in enumerate(drafts):
        path = (*field, str(index))
        problems += _check_fields(
            draft.sku, draft.option_values, draft.weight_grams, product.option_names, *path
        )
        price, price_problems = _price(draft.price, shop.currency, *path, "price")
        compare_at, compare_problems = (
            (None, [])
            if draft.compare_at_price is None
            else _price(draft.compare_at_price, shop.currency, *path, "compareAtPrice")
        )
        problems += price_problems + compare_problems
        prices.append((price, compare_at))
    skus = [d.sku for d in drafts]
    taken = await _skus_taken(session, shop.id, skus) | _duplicates(skus)
    existing_options = set(
        map(
            tuple,
            await session.scalars(
                select(Variant.option_values).where(Variant.product_id == product.id)
            ),
        )
    )
    combos = [tuple(d.option_values) for d in drafts]
    clashing = existing_options | _duplicates(combos)
    for index, draft in enumerate(drafts):
        if draft.sku in taken:
            problems.append(
                Problem(
                    GoodsErrorCode.DUPLICATE_SKU,
                    f"SKU {draft.sku!r} is in use.",
                    (*field, str(index), "sku"),
                )
            )
        if product.option_names and tuple(draft.option_values) in clashing:
            problems.append(
                Problem(
                    GoodsErrorCode.DUPLICATE_VARIANT,
                    "Another variant has these option values.",
                    (*field, str(index), "optionValues"),
                )
            )
    if problems:
        raise DomainError(problems)
    variants = [
        Variant(
            shop_id=shop.id,
            product_id=product.id,
            sku=draft.sku,
            option_values=list(draft.option_values),
            price_amount=price,
            compare_at_amount=compare_at,
            currency=shop.currency,
            weight_grams=draft.weight_grams,
            position=last_position + 1 + index,
        )
        for index, (draft, (price, compare_at)) in enumerate(zip(drafts, prices, strict=True))
    ]
    session.add_all(variants)
    await session.flush()
    await refresh_price_range(session, product)
    if announce and variants:
        record_product_updated(
            session,
            product,
            ["variants"],
            variant_change="created",
            variant_ids=[v.id for v in variants],
        )
    return variants


async def _product_variants(session: AsyncSession, product_id: int) -> dict[int, Variant]:
    rows = await session.scalars(select(Variant).where(Variant.product_id == product_id))
    return {v.id: v for v in rows}


def _state(variant: Variant) -> tuple[object, ...]:
    return (
        variant.sku,
        variant.price_amount,
        variant.compare_at_amount,
        tuple(variant.option_values),
        variant.weight_grams,
    )


async def update_variants(
    session: AsyncSession,
    shop: ShopScope,
    product: Product,
    changes: Sequence[VariantChanges],
    *,
    field: tuple[str, ...] = ("variants",),
) -> list[Variant]:
    variants = await _product_variants(session, product.id)
    before = {pk: _state(v) for pk, v in variants.items()}
    problems: list[Problem] = []
    for index, change in enumerate(changes):
        path = (*field, str(index))
        variant = variants.get(change.id)
        if variant is None:
            problems.append(
                Problem(GoodsErrorCode.NOT_FOUND, "No such variant of this product.", (*path, "id"))
            )
            continue
        problems += _check_fields(
            change.sku, change.option_values, change.weight_grams, product.option_names, *path
        )
        if change.price is not None:
            price, price_problems = _price(change.price, shop.currency, *path, "price")
            problems += price_problems
            if price is not None:
                variant.price_amount = price
        if change.compare_at_price is not None:
            compare_at, compare_problems = _price(
                change.compare_at_price, shop.currency, *path, "compareAtPrice"
            )
            problems += compare_problems
            variant.compare_at_amount = compare_at
        elif change.clear_compare_at_price:
            variant.compare_at_amount = None
        if change.option_values is not None:
            variant.option_values = list(change.option_values)
        if change.weight_grams is not None:
            variant.weight_grams = change.weight_grams
    new_skus = {
        c.id: c.sku
        for c in changes
        if c.sku is not None and c.id in variants and variants[c.id].sku != c.sku
    }
    taken = await _skus_taken(session, shop.id, list(new_skus.values())) | _duplicates(
        list(new_skus.values())
    )
    for index, change in enumerate(changes):
        if change.id in new_skus and new_skus[change.id] in taken:
            problems.append(
                Problem(
                    GoodsErrorCode.DUPLICATE_SKU,
                    f"SKU {change.sku!r} is in use.",
                    (*field, str(index), "sku"),
                )
            )
        elif change.id in new_skus:
            variants[change.id].sku = new_skus[change.id]
    if product.option_names and _duplicates([tuple(v.option_values) for v in variants.values()]):
        problems.append(
            Problem(
                GoodsErrorCode.DUPLICATE_VARIANT,
                "Two variants would have the same option values.",
                field,
            )
        )
    if problems:
        raise DomainError(problems)
    changed = [pk for pk, v in variants.items() if _state(v) != before[pk]]
    await session.flush()
    await refresh_price_range(session, product)
    if changed:
        record_product_updated(
            session, product, ["variants"], variant_change="updated", variant_ids=sorted(changed)
        )
    return [variants[c.id] for c in changes]


async def delete_variants(
    session: AsyncSession, product: Product, variant_ids: Sequence[int]
) -> list[int]:
    variants = await _product_variants(session, product.id)
    missing = [i for i, vid in enumerate(variant_ids) if vid not in variants]
    if missing:
        raise DomainError(
            [
                Problem(
                    GoodsErrorCode.NOT_FOUND,
                    "No such variant of this product.",
                    ("variantIds", str(i)),
                )
                for i in missing
            ]
        )
    await session.execute(delete(Variant).where(Variant.id.in_(variant_ids)))
    await refresh_price_range(session, product)
    if variant_ids:
        record_product_updated(
            session,
            product,
            ["variants"],
            variant_change="deleted",
            variant_ids=sorted(set(variant_ids)),
        )
    return list(variant_ids)


async def refresh_price_ranges(session: AsyncSession, which: ColumnElement[bool]) -> None:
    """Recompute the denormalised price range of the products ``which`` selects, in SQL."""
    of_product = Variant.product_id == Product.id
    await session.execute(
        update(Product)
        .where(which)
        .values(
            price_min=select(func.min(Variant.price_amount)).where(of_product).scalar_subquery(),
            price_max=select(func.max(Variant.price_amount)).where(of_product).scalar_subquery(),
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )


async def refresh_price_range(session: AsyncSession, product: Product) -> None:
    await refresh_price_ranges(session, Product.id == product.id)
    await session.refresh(product, ["price_min", "price_max", "updated_at"])
