"""Checks on what `sam build` produced: native code for Lambda's arm64 python3.13, wheel tags, file trees.

Kept free of pytest so the checks themselves can be tested on synthetic input (test_artifact_checks.py):
a check that cannot fail proves nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags, parse_tag

ELF_MAGIC = b"\x7fELF"
EM_AARCH64 = 183
ELFCLASS64 = 2
ELFDATA2LSB = 1

# Lambda python3.13 runs on Amazon Linux 2023: glibc 2.34, aarch64 for `Architectures: [arm64]`.
LAMBDA_GLIBC = (2, 34)
LAMBDA_PLATFORMS = [f"manylinux_2_{minor}_aarch64" for minor in range(LAMBDA_GLIBC[1], 16, -1)] + [
    "manylinux2014_aarch64"
]
LAMBDA_TAGS: frozenset[Tag] = frozenset(
    [
        *cpython_tags((3, 13), abis=["cp313"], platforms=LAMBDA_PLATFORMS),
        *compatible_tags((3, 13), interpreter="cp313", platforms=LAMBDA_PLATFORMS),
    ]
)

# A Python extension module that Lambda's python3.13 (aarch64, GIL build) can load.
EXTENSION_SUFFIX = re.compile(r"\.(cpython-313-aarch64-linux-gnu|abi3)\.so$")

SKIPPED_PARTS = {"__pycache__"}


def elf_machine(head: bytes) -> int | None:
    """e_machine of a 64-bit little-endian ELF header, or None when `head` is not such a header."""
    if len(head) < 20 or head[:4] != ELF_MAGIC:
        return None
    if head[4] != ELFCLASS64 or head[5] != ELFDATA2LSB:
        return -1  # ELF, but not the 64-bit little-endian kind aarch64 Linux uses
    return int.from_bytes(head[18:20], "little")


def native_problems(root: Path) -> tuple[list[str], list[Path]]:
    """Every ELF file under root must be AArch64; every extension module cp313 or abi3 for aarch64.

    Returns (problems, native files found)."""
    problems: list[str] = []
    natives: list[Path] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(root)
        with path.open("rb") as handle:
            machine = elf_machine(handle.read(20))
        if machine is None:
            if path.name.endswith(".so"):
                problems.append(f"{rel}: named .so but not an ELF file")
            continue
        natives.append(path)
        if machine != EM_AARCH64:
            problems.append(f"{rel}: ELF e_machine {machine}, want {EM_AARCH64} (AArch64)")
        # Shared libraries that auditwheel vendors (pkg.libs/libfoo-1234.so.1) are not modules.
        vendored = any(part.endswith(".libs") for part in rel.parts[:-1])
        if not vendored and not EXTENSION_SUFFIX.search(path.name):
            problems.append(f"{rel}: not a cpython-313-aarch64 or abi3 extension module name")
    return problems, natives


def wheel_tag_problems(site: Path, target: frozenset[Tag] = LAMBDA_TAGS) -> list[str]:
    """Each installed distribution's WHEEL file must name at least one tag Lambda's python3.13 accepts."""
    problems = []
    wheel_files = sorted(site.glob("*.dist-info/WHEEL"))
    for wheel in wheel_files:
        tags = set()
        for line in wheel.read_text().splitlines():
            if line.startswith("Tag:"):
                tags |= parse_tag(line.split(":", 1)[1].strip())
        if not tags & target:
            listed = ", ".join(sorted(str(tag) for tag in tags)) or "none"
            problems.append(f"{wheel.parent.name}: no tag fits cp313/manylinux aarch64 (has {listed})")
    return problems


def files_under(root: Path) -> dict[str, bytes]:
    """Relative POSIX path -> content of each file under root, bytecode left out."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
        and not SKIPPED_PARTS & set(path.relative_to(root).parts)
        and path.suffix not in {".pyc", ".pyo"}
    }


def tree_size(root: Path) -> int:
    """Unzipped size in bytes (what counts against Lambda's 250 MB limit)."""
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# Marker environment of Lambda's python3.13 on arm64, for requirements that carry markers.
LAMBDA_MARKER_ENV = {
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "python_version": "3.13",
    "python_full_version": "3.13.0",
}


def pinned_requirements(requirements: str) -> dict[str, str]:
    """name -> version of the `name==version` lines of an exported requirements file that apply on
    Lambda (hashes and comments ignored, markers evaluated for python3.13 on arm64 Linux)."""
    pins = {}
    for raw_line in requirements.splitlines():
        line = raw_line.strip().removesuffix("\\").strip()
        if not line or line.startswith(("#", "-")):
            continue
        requirement = Requirement(line)
        if requirement.marker and not requirement.marker.evaluate(LAMBDA_MARKER_ENV):
            continue
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"not pinned: {line}"
        pins[canonical_name(requirement.name)] = specifier.version
    return pins


def installed_distributions(site: Path) -> dict[str, str]:
    """name -> version of each `*.dist-info` under a --target install."""
    found = {}
    for dist_info in site.glob("*.dist-info"):
        name, _, version = dist_info.name.removesuffix(".dist-info").rpartition("-")
        found[canonical_name(name)] = version
    return found
