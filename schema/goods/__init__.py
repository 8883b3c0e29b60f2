"""The goods API: catalog, warehouses and inventory."""
