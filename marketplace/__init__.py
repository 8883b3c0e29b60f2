"""The ISV marketplace domain: partners, tiers, apps, listings, installs, billing and payouts."""
