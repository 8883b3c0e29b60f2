"""``make bench``: every benchmark, each printing ratios against its own baseline."""

from __future__ import annotations

import asyncio

from bench import listing, rbac, settlement

if __name__ == "__main__":
    print("== product listing")
    asyncio.run(listing.main())
    print("\n== RBAC enforcement")
    rbac.main()
    print("\n== settlement")
    asyncio.run(settlement.main())
