"""Goods: the catalog (categories, products, variants, images), warehouses and inventory."""
