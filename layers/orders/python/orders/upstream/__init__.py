"""Clients for the user and inventory services: the only code that talks HTTP to other services."""
