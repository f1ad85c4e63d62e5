"""The soak: mixed traffic against a freshly started local stack, then a reconciliation (`make soak`)."""
