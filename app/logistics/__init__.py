"""Logistics: shipping zones and rates (the ``ShippingQuoter`` trade asks), carriers, shipments
and tracking."""
