"""Trade: carts, checkout, orders, payments and refunds."""
