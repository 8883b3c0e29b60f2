"""Making shops, staff and catalogs straight through the domain services, so each test starts
from exactly the world it describes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette

from app.goods.categories import create_category
from app.goods.inventory import AdjustmentReason, adjust_inventory, create_warehouse
from app.goods.models import ProductStatus
from app.goods.products import ProductDraft, create_product
from app.goods.variants import PriceInput, VariantDraft
from app.identity.models import Shop
from app.identity.service import create_user
from app.security.blind_index import IndexedFieldCipher
from app.security.rbac import assign_role, shop_domain
from schema.node import encode_id


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class World:
    """A shop of its own for one test, with handles for acting in it."""

    app: Starlette
    shop: Shop
    # The partner a role-matrix request acts for; partner roles are granted in its domain.
    partner_id: int | None = None

    @property
    def services(self) -> Any:
        return self.app.state.services

    @property
    def handle(self) -> str:
        return self.shop.handle

    async def user(
        self,
        role: str | None = None,
        domain: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> tuple[int, str]:
        """A user holding ``role`` (in this shop unless ``domain`` says otherwise): (id, token)."""
        async with self.services.db.writer() as session, session.begin():
            user = await create_user(
                session,
                self.services.passwords,
                IndexedFieldCipher.of(self.services.cipher),
                email=email or f"{unique('u')}@example.com",
                password="correct horse battery",
                phone=phone,
            )
            if role is not None:
                await assign_role(
                    session, f"user:{user.id}", role, domain or shop_domain(self.shop.id)
                )
        return user.id, self.services.tokens.issue(f"user:{user.id}")

    async def category(self, name: str, parent: int | None = None) -> int:
        async with self.services.db.writer() as session, session.begin():
            row = await create_category(
                session, self.shop.id, name=name, handle=unique("c"), parent_id=parent
            )
        return row.id

    async def warehouse(self, code: str | None = None) -> int:
        async with self.services.db.writer() as session, session.begin():
            row = await create_warehouse(
                session, self.shop.id, code=code or unique("W"), name="Main"
            )
        return row.id

    async def product(
        self,
        title: str = "Thing",
        *,
        prices: tuple[str, ...] = ("10.00",),
        status: ProductStatus = ProductStatus.ACTIVE,
        category: int | None = None,
        images: int = 0,
    ) -> int:
        from app.goods.products import ImageDraft

        draft = ProductDraft(
            title=title,
            handle=unique("p"),
            status=status,
            category_id=category,
            option_names=("Size",) if len(prices) > 1 else (),
            images=tuple(ImageDraft(f"https://img.example/{i}.jpg") for i in range(images)),
            variants=tuple(
                VariantDraft(
                    sku=unique("SKU"),
                    price=PriceInput(price, self.shop.currency),
                    option_values=(f"S{i}",) if len(prices) > 1 else (),
                )
                for i, price in enumerate(prices)
            ),
        )
        async with self.services.db.writer() as session, session.begin():
            row = await create_product(session, self.shop, draft)
        return row.id

    async def stock(self, variant_id: int, warehouse_id: int, units: int) -> None:
        async with self.services.db.writer() as session, session.begin():
            await adjust_inventory(
                session,
                self.shop.id,
                variant_id=variant_id,
                warehouse_id=warehouse_id,
                delta=units,
                reason=AdjustmentReason.RECEIVED,
                actor="test",
            )


async def make_world(app: Starlette, currency: str = "EUR") -> World:
    async with app.state.services.db.writer() as session, session.begin():
        shop = Shop(handle=unique("shop"), name="Test Shop", currency=currency)
        session.add(shop)
        await session.flush()
    return World(app, shop)


def gid(type_name: str, pk: int) -> str:
    return str(encode_id(type_name, pk))
