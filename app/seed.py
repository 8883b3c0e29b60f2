"""Demo data: the `demo` shop with a browsable catalog, stock, and one user per role.

Idempotent: a second run adds nothing. Generated passwords are written once to
``var/demo-credentials.txt`` (git-ignored) and printed on every run.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.contact import PersonalDataCipher
from app.db import Database
from app.goods.models import (
    Category,
    InventoryLevel,
    Product,
    ProductImage,
    ProductStatus,
    Variant,
    Warehouse,
)
from app.goods.variants import refresh_price_ranges
from app.identity.models import Shop
from app.identity.passwords import PasswordHashing
from app.identity.service import create_user, user_by_email
from app.security.blind_index import IndexedFieldCipher
from app.security.encryption import load_or_create_keyring
from app.security.rbac import assign_role, validate_assignment
from app.seed_shipping import seed_carriers, seed_shipping

__all__ = ["SeedReport", "ensure_user", "seed_demo", "seed_sandbox"]

# Carrier webhook secrets share the git-ignored credentials file, under this prefix.
CARRIER_PREFIX = "carrier:"

DEMO_HANDLE = "demo"
DEMO_PARTNER = "partner:1"
DEPARTMENTS = {
    "Apparel": ["T-shirts", "Hoodies", "Jackets", "Trousers", "Socks"],
    "Home": ["Kitchen", "Lighting", "Bedding", "Storage"],
    "Outdoor": ["Tents", "Backpacks", "Footwear", "Cycling"],
    "Electronics": ["Audio", "Cables", "Chargers", "Keyboards"],
    "Books": ["Fiction", "Cooking", "Travel", "Science"],
}
ADJECTIVES = [
    "Alpine",
    "Breezy",
    "Classic",
    "Dusky",
    "Everyday",
    "Field",
    "Granite",
    "Harbor",
    "Indigo",
    "Juniper",
    "Kestrel",
    "Lunar",
    "Meadow",
    "Nordic",
    "Orchard",
    "Pioneer",
    "Quartz",
    "Rustic",
    "Summit",
    "Tidal",
    "Urban",
    "Velvet",
    "Willow",
]
BRANDS = ["Agora Basics", "Northwind", "Fernhill", "Tidewater", "Larkspur", "Copperline"]
SIZES = ["XS", "S", "M", "L", "XL"]
COLORS = ["Black", "Sand", "Olive", "Navy", "Rust"]
DEMO_USERS = [
    ("shopper", "shop"),
    ("business", "shop"),
    ("owner", "partner"),
    ("partner-business", "partner"),
    ("developer", "partner"),
    ("ops", "platform"),
    ("finance", "platform"),
    ("finance-checker", "platform"),
    ("community-admin", "platform"),
]


@dataclass
class SeedReport:
    shop_handle: str
    products: int
    categories: int
    credentials: list[tuple[str, str, str]] = field(default_factory=list)
    carrier_secrets: dict[str, str] = field(default_factory=dict)

    def render(self) -> str:
        lines = [
            f"Demo shop '{self.shop_handle}': {self.products} products, "
            f"{self.categories} categories.",
            "Demo users (email / password / role in domain):",
        ]
        lines += [
            f"  {email:38} {password:24} {grant}" for email, password, grant in self.credentials
        ]
        if self.carrier_secrets:
            lines.append("Carrier webhook secrets (sign POST /webhooks/carriers/<code>):")
            lines += [f"  {code:10} {secret}" for code, secret in self.carrier_secrets.items()]
        return "\n".join(lines)


async def _resolve_domain(session: AsyncSession, domain: str) -> str:
    kind, _, ident = domain.partition(":")
    if kind == "shop" and ident and not ident.isdigit():
        shop = await session.scalar(select(Shop).where(Shop.handle == ident))
        if shop is None:
            raise ValueError(f"no shop has the handle {ident!r}")
        return f"shop:{shop.id}"
    return domain


async def _grant(
    session: AsyncSession,
    hashing: PasswordHashing,
    cipher: PersonalDataCipher,
    email: str,
    password: str,
    role: str,
    domain: str,
    name: str,
) -> bool:
    domain = await _resolve_domain(session, domain)
    validate_assignment(role, domain)
    user = await user_by_email(session, cipher, email)
    created = user is None
    if user is None:
        user = await create_user(
            session, hashing, cipher, email=email, password=password, name=name
        )
    await assign_role(session, f"user:{user.id}", role, domain)
    return created


async def ensure_user(
    settings: Settings, *, email: str, password: str, role: str, domain: str, name: str = ""
) -> bool:
    """Create the user if needed and grant the role. True when the user is new."""
    db = Database.connect(settings)
    hashing = PasswordHashing(
        time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib
    )
    try:
        async with db.writer() as session, session.begin():
            return await _grant(
                session, hashing, _personal_cipher(settings), email, password, role, domain, name
            )
    finally:
        await db.dispose()


def _personal_cipher(settings: Settings) -> IndexedFieldCipher:
    keyring = load_or_create_keyring(settings.resolved_data_keyring_path, create=settings.is_dev)
    return IndexedFieldCipher.of(keyring)


def _credentials_file(settings: Settings) -> Path:
    return settings.var_dir / "demo-credentials.txt"


def _load_passwords(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split(" ", 1) for line in path.read_text().splitlines() if " " in line)
    return dict(pairs)


async def _catalog(session: AsyncSession, shop: Shop, count: int, rng: random.Random) -> int:
    leaves: list[Category] = []
    for department, children in DEPARTMENTS.items():
        parent = Category(shop_id=shop.id, name=department, handle=department.lower())
        session.add(parent)
        await session.flush()
        for child in children:
            leaf = Category(
                shop_id=shop.id,
                name=child,
                handle=f"{department}-{child}".lower().replace(" ", "-"),
                parent_id=parent.id,
            )
            leaves.append(leaf)
        session.add_all(leaves[-len(children) :])
    await session.flush()
    warehouses = [
        Warehouse(shop_id=shop.id, code="AMS-1", name="Amsterdam", country_code="NL"),
        Warehouse(shop_id=shop.id, code="BER-1", name="Berlin", country_code="DE"),
    ]
    session.add_all(warehouses)
    base_time = datetime(2026, 1, 1, tzinfo=UTC)
    products: list[Product] = []
    for index in range(count):
        category = leaves[index % len(leaves)]
        title = f"{rng.choice(ADJECTIVES)} {category.name.rstrip('s')} {index + 1}"
        products.append(
            Product(
                shop_id=shop.id,
                handle=f"demo-product-{index + 1}",
                title=title,
                description=f"A demo {category.name.lower()} item for trying out queries.",
                status=ProductStatus.ACTIVE if index % 25 else ProductStatus.DRAFT,
                category_id=category.id,
                brand=rng.choice(BRANDS),
                option_names=["Size", "Color"] if category.name in DEPARTMENTS["Apparel"] else [],
                created_at=base_time + timedelta(minutes=index),
                updated_at=base_time + timedelta(minutes=index),
            )
        )
    session.add_all(products)
    await session.flush()
    variants: list[Variant] = []
    for product in products:
        base_price = rng.randrange(5, 300) * 100 - 1
        for position in range(rng.randint(1, 5)):
            options = [SIZES[position], rng.choice(COLORS)] if product.option_names else []
            variants.append(
                Variant(
                    shop_id=shop.id,
                    product_id=product.id,
                    sku=f"DEMO-{product.id}-{position + 1}",
                    option_values=options,
                    price_amount=base_price + position * 200,
                    compare_at_amount=base_price + 1000
                    if position == 0 and product.id % 4 == 0
                    else None,
                    currency=shop.currency,
                    weight_grams=rng.randrange(100, 3000),
                    position=position,
                )
            )
        session.add_all(
            ProductImage(
                product_id=product.id,
                url=f"https://picsum.photos/seed/agora-{product.id}-{n}/800/800",
                alt_text=product.title,
                position=n,
            )
            for n in range(rng.randint(1, 3))
        )
    session.add_all(variants)
    await session.flush()
    session.add_all(
        InventoryLevel(
            variant_id=variant.id,
            warehouse_id=warehouse.id,
            on_hand=rng.choice([0, 3, 10, 25, 100]),
        )
        for variant in variants
        for warehouse in warehouses
    )
    await refresh_price_ranges(session, Product.shop_id == shop.id)
    return len(leaves) + len(DEPARTMENTS)


SANDBOX_PRODUCTS = 12


async def seed_sandbox(session: AsyncSession, shop: Shop) -> None:
    """An app's sandbox shop: the demo catalog in small, so a partner has data to call."""
    await _catalog(session, shop, SANDBOX_PRODUCTS, random.Random(shop.id))


async def seed_demo(
    settings: Settings, *, products: int = 500, only_if_empty: bool = False
) -> SeedReport | None:
    db = Database.connect(settings)
    hashing = PasswordHashing(
        time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib
    )
    path = _credentials_file(settings)
    passwords = _load_passwords(path)
    cipher = _personal_cipher(settings)
    try:
        async with db.writer() as session, session.begin():
            if only_if_empty and await session.scalar(select(func.count()).select_from(Shop)):
                return None
            shop = await session.scalar(select(Shop).where(Shop.handle == DEMO_HANDLE))
            if shop is None:
                shop = Shop(handle=DEMO_HANDLE, name="Agora Demo Store", currency="EUR")
                session.add(shop)
                await session.flush()
                await _catalog(session, shop, products, random.Random(42))
            created = await seed_carriers(session, cipher)
            passwords.update(
                {f"{CARRIER_PREFIX}{code}": secret for code, secret in created.items()}
            )
            await seed_shipping(session, shop)
            report = SeedReport(
                shop_handle=shop.handle,
                products=await session.scalar(
                    select(func.count()).select_from(Product).where(Product.shop_id == shop.id)
                )
                or 0,
                categories=await session.scalar(
                    select(func.count()).select_from(Category).where(Category.shop_id == shop.id)
                )
                or 0,
            )
            for name, kind in DEMO_USERS:
                email = f"{name}@demo.agora.test"
                role = name.replace("-checker", "").replace("partner-", "").replace("-", "_")
                domain = {
                    "shop": f"shop:{shop.id}",
                    "partner": DEMO_PARTNER,
                    "platform": "platform",
                }[kind]
                password = passwords.setdefault(email, secrets.token_urlsafe(12))
                await _grant(
                    session,
                    hashing,
                    cipher,
                    email,
                    password,
                    role,
                    domain,
                    name.replace("-", " ").title(),
                )
                report.credentials.append((email, password, f"{role} in {domain}"))
            report.carrier_secrets = {
                key.removeprefix(CARRIER_PREFIX): value
                for key, value in passwords.items()
                if key.startswith(CARRIER_PREFIX)
            }
    finally:
        await db.dispose()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{email} {password}\n" for email, password in passwords.items()))
    path.chmod(0o600)
    return report
