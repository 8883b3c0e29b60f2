"""``make bench``: every benchmark, each printing ratios against its own baseline."""

from __future__ import annotations

import asyncio

from bench import graphql_load, listing, rbac, settlement, soak

# make bench stays short: a brief soak here, the full minute is `make soak`.
BENCH_SOAK_SECONDS = 20

if __name__ == "__main__":
    print("== product listing")
    asyncio.run(listing.main())
    print("\n== RBAC enforcement")
    rbac.main()
    print("\n== settlement")
    asyncio.run(settlement.main())
    print("\n== GraphQL load")
    graphql_load.main()
    print("\n== soak")
    soak.main(["--seconds", str(BENCH_SOAK_SECONDS)])
