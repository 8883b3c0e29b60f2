"""Metrics, per-request accounting and optional tracing.

Like the shared kernel, this package knows no domain: the domains, the GraphQL adapter and the
HTTP shell report *into* it (``metrics``, ``requests``), and only the composition root decides
how it is exposed (``exposition``, ``tracing``).
"""
