"""Products: create (with images and variants in one go), update and archive.

Updating and archiving write ``products/updated`` in the same transaction when something
changed (``app.goods.product_topics``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import DomainError, Problem
from app.goods.errors import GoodsErrorCode
from app.goods.models import MAX_IMAGES_PER_PRODUCT, Category, Product, ProductImage, ProductStatus
from app.goods.product_topics import record_product_updated
from app.goods.validation import check_handle, check_text, check_url, handle_taken, slugify
from app.goods.variants import ShopScope, VariantDraft, create_variants

__all__ = [
    "ImageDraft",
    "ProductChanges",
    "ProductDraft",
    "archive_product",
    "create_product",
    "load_product",
    "update_product",
]

MAX_OPTIONS = 3


@dataclass(frozen=True, slots=True)
class ImageDraft:
    url: str
    alt_text: str = ""


@dataclass(frozen=True, slots=True)
class ProductDraft:
    title: str
    handle: str | None = None
    description: str = ""
    status: ProductStatus = ProductStatus.DRAFT
    category_id: int | None = None
    brand: str = ""
    option_names: Sequence[str] = ()
    images: Sequence[ImageDraft] = ()
    variants: Sequence[VariantDraft] = ()


@dataclass(frozen=True, slots=True)
class ProductChanges:
    """``None`` keeps a value. ``images`` replaces the whole list when given."""

    title: str | None = None
    handle: str | None = None
    description: str | None = None
    status: ProductStatus | None = None
    category_id: int | None = None
    clear_category: bool = False
    brand: str | None = None
    images: Sequence[ImageDraft] | None = None


async def load_product(
    session: AsyncSession, shop_id: int, product_id: int, *field: str
) -> Product:
    product = await session.scalar(
        select(Product).where(Product.id == product_id, Product.shop_id == shop_id)
    )
    if product is None:
        raise DomainError.one(GoodsErrorCode.NOT_FOUND, "No such product.", *(field or ("id",)))
    return product


def _check_images(images: Sequence[ImageDraft], *field: str) -> list[Problem]:
    if len(images) > MAX_IMAGES_PER_PRODUCT:
        message = f"A product has at most {MAX_IMAGES_PER_PRODUCT} images."
        return [Problem(GoodsErrorCode.TOO_MANY_IMAGES, message, (*field, "images"))]
    problems: list[Problem] = []
    for index, image in enumerate(images):
        problems += check_url(image.url, *field, "images", str(index), "url")
        problems += check_text(
            image.alt_text, 255, *field, "images", str(index), "altText", required=False
        )
    return problems


def _check_options(names: Sequence[str]) -> list[Problem]:
    if (
        len(names) > MAX_OPTIONS
        or len(set(names)) != len(names)
        or any(not n.strip() or len(n) > 60 for n in names)
    ):
        message = f"Up to {MAX_OPTIONS} distinct, non-empty option names."
        return [Problem(GoodsErrorCode.INVALID, message, ("input", "optionNames"))]
    return []


async def _check_category(session: AsyncSession, shop_id: int, category_id: int) -> list[Problem]:
    found = await session.scalar(
        select(Category.id).where(Category.id == category_id, Category.shop_id == shop_id)
    )
    if found is None:
        return [Problem(GoodsErrorCode.NOT_FOUND, "No such category.", ("input", "categoryId"))]
    return []


async def _free_handle(session: AsyncSession, shop_id: int, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``…: a generated handle never collides."""
    taken = set(
        await session.scalars(
            select(Product.handle).where(
                Product.shop_id == shop_id, Product.handle.like(f"{base}%")
            )
        )
    )
    if base not in taken:
        return base
    suffix = 2
    while f"{base}-{suffix}" in taken:
        suffix += 1
    return f"{base}-{suffix}"


def _replace_images(product: Product, images: Sequence[ImageDraft]) -> list[ProductImage]:
    return [
        ProductImage(product_id=product.id, url=i.url, alt_text=i.alt_text, position=position)
        for position, i in enumerate(images)
    ]


async def create_product(session: AsyncSession, shop: ShopScope, draft: ProductDraft) -> Product:
    problems = check_text(draft.title, 255, "input", "title")
    problems += check_text(draft.description, 20_000, "input", "description", required=False)
    problems += check_text(draft.brand, 120, "input", "brand", required=False)
    if draft.handle is not None:
        problems += check_handle(draft.handle, "input", "handle")
    problems += _check_images(draft.images, "input") + _check_options(draft.option_names)
    if draft.category_id is not None:
        problems += await _check_category(session, shop.id, draft.category_id)
    if (
        draft.handle is not None
        and not problems
        and await handle_taken(session, Product, shop.id, draft.handle)
    ):
        problems.append(
            Problem(GoodsErrorCode.DUPLICATE_HANDLE, "Handle in use.", ("input", "handle"))
        )
    if problems:
        raise DomainError(problems)
    handle = draft.handle or await _free_handle(session, shop.id, slugify(draft.title))
    product = Product(
        shop_id=shop.id,
        handle=handle,
        title=draft.title.strip(),
        description=draft.description,
        status=draft.status,
        category_id=draft.category_id,
        brand=draft.brand.strip(),
        option_names=[n.strip() for n in draft.option_names],
    )
    session.add(product)
    await session.flush()
    session.add_all(_replace_images(product, draft.images))
    if draft.variants:
        # Part of creating the product, not an update of it: no products/updated.
        await create_variants(
            session, shop, product, draft.variants, field=("input", "variants"), announce=False
        )
    await session.flush()
    return product


async def update_product(
    session: AsyncSession, shop_id: int, product_id: int, changes: ProductChanges
) -> Product:
    product = await load_product(session, shop_id, product_id)
    problems: list[Problem] = []
    if changes.title is not None:
        problems += check_text(changes.title, 255, "input", "title")
    if changes.description is not None:
        problems += check_text(changes.description, 20_000, "input", "description", required=False)
    if changes.brand is not None:
        problems += check_text(changes.brand, 120, "input", "brand", required=False)
    if changes.handle is not None:
        problems += check_handle(changes.handle, "input", "handle")
        if not problems and await handle_taken(
            session, Product, shop_id, changes.handle, product.id
        ):
            problems.append(
                Problem(GoodsErrorCode.DUPLICATE_HANDLE, "Handle in use.", ("input", "handle"))
            )
    if changes.images is not None:
        problems += _check_images(changes.images, "input")
    if changes.category_id is not None:
        problems += await _check_category(session, shop_id, changes.category_id)
    if problems:
        raise DomainError(problems)
    updated: list[str] = []
    for name in ("title", "handle", "description", "status", "brand"):
        value = getattr(changes, name)
        if value is not None:
            value = value.strip() if name in ("title", "brand") else value
            if getattr(product, name) != value:
                updated.append(name)
            setattr(product, name, value)
    category = product.category_id if changes.category_id is None else changes.category_id
    if changes.category_id is None and changes.clear_category:
        category = None
    if category != product.category_id:
        updated.append("category")
        product.category_id = category
    if changes.images is not None:
        updated.append("images")
        await session.execute(delete(ProductImage).where(ProductImage.product_id == product.id))
        session.add_all(_replace_images(product, changes.images))
    product.updated_at = utcnow()
    if updated:
        record_product_updated(session, product, updated, now=product.updated_at)
    await session.flush()
    return product


async def archive_product(session: AsyncSession, shop_id: int, product_id: int) -> Product:
    """Idempotent by state: archiving an archived product changes nothing."""
    product = await load_product(session, shop_id, product_id)
    if product.status != ProductStatus.ARCHIVED:
        product.status = ProductStatus.ARCHIVED
        product.updated_at = utcnow()
        record_product_updated(session, product, ["status"], now=product.updated_at)
        await session.flush()
    return product
