"""The HTTP shell: pure ASGI middleware and the small non-GraphQL routes."""
