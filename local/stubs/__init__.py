"""The other services the order service calls, stubbed: the user and inventory services of DESIGN.md's
upstream contract (upstream.py), seeded from seed.json, with injectable faults. Uses no other room."""
