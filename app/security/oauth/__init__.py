"""The OAuth2 authorization server on authlib's core classes, free of any web framework.

``service.OAuthService`` is the entry point; ``app/web/oauth.py`` adapts it to Starlette. The
modules, in the order a request meets them: ``requests`` (authlib's request from plain
values), ``store`` (load a snapshot, apply effects), ``server`` with ``grants`` and
``endpoints`` (authlib, in a worker thread), ``exchange`` (the snapshot and effects),
``records`` (authlib's model mixins), ``models`` (tables), ``scopes`` (the catalogue),
``metadata`` (RFC 8414) and ``consent_session`` (the consent page's signed cookie).
"""
