"""Agora: the runtime shell and the commerce domains."""
