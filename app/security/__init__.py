"""Security: signing keys, access tokens, Casbin RBAC (and, later, OAuth2, signing, masking, audit)."""
