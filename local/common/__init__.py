"""Plumbing every room may use, and which uses none: the terminal log (log.py: `say`, `function_log`) and
listening sockets bound before a server starts (net.py)."""
