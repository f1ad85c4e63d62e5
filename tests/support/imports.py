"""What a Python file imports, read with ast (so function-local and TYPE_CHECKING imports count too): the
architecture tests' one reading of imports (tests/unit/test_architecture.py for the domain layer,
tests/unit/test_local_architecture.py for the local stack)."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    """`<root>/local/aws/iam.py` -> "local.aws.iam"; a package's `__init__.py` is the package itself."""
    relative = path.relative_to(root).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def imported_modules(path: Path, module: str, packages: Iterable[str] = ()) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in the file, wherever it is. `module` is the file's own
    name (relative imports are read against it). `from P import name` with P one of `packages` imports the
    module P.name (`from orders import wiring` is orders.wiring); otherwise it is an import of P."""
    package = module.rpartition(".")[0] if path.name != "__init__.py" else module
    unpacked = set(packages)
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target in unpacked:
                found.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names)
            else:
                found.append((node.lineno, target))
    return found
