"""Security: signing keys, access tokens and Casbin RBAC (OAuth2, signing, masking, audit next)."""
