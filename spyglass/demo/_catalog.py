"""What the demo shop is made of: its services and the products it sells."""

from __future__ import annotations

__all__ = ["PRODUCTS", "SERVICES"]

# The processes that serve HTTP (the load generator, ``loadgen``, comes on top).
SERVICES = ("frontend", "checkout", "payment", "inventory", "orders-db")

PRODUCTS = [
    ("SKU-100", "brass spyglass", 4900),
    ("SKU-101", "ship's compass", 2900),
    ("SKU-102", "nautical chart", 1500),
    ("SKU-103", "sextant", 12900),
    ("SKU-104", "ship in a bottle", 3900),
    ("SKU-105", "foghorn", 2200),
    ("SKU-106", "lighthouse lamp", 8900),
    ("SKU-107", "captain's log", 1900),
]
