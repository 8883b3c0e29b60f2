"""Identity: users, shops (tenants), role memberships, passwords and login sessions."""
