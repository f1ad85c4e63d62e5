"""The artefact checks reject what they are meant to reject (fast: synthetic files, no sam build)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.build.artifacts import (
    EM_AARCH64,
    elf_machine,
    installed_distributions,
    native_problems,
    pinned_requirements,
    wheel_tag_problems,
)

pytestmark = pytest.mark.build

EM_X86_64 = 62


def elf_header(machine: int, elf_class: int = 2, data: int = 1) -> bytes:
    ident = b"\x7fELF" + bytes([elf_class, data, 1]) + bytes(9)
    order = "little" if data == 1 else "big"
    return ident + (3).to_bytes(2, order) + machine.to_bytes(2, order) + bytes(44)


def test_elf_machine_reads_the_header() -> None:
    assert elf_machine(elf_header(EM_AARCH64)) == EM_AARCH64
    assert elf_machine(elf_header(EM_X86_64)) == EM_X86_64
    assert elf_machine(elf_header(EM_AARCH64, elf_class=1)) == -1  # 32-bit
    assert elf_machine(elf_header(EM_AARCH64, data=2)) == -1  # big-endian
    assert elf_machine(b"#!/usr/bin/env python\n" + bytes(20)) is None
    assert elf_machine(b"\x7fEL") is None


@pytest.mark.parametrize(
    ("name", "machine", "problem"),
    [
        ("_speedups.cpython-313-aarch64-linux-gnu.so", EM_AARCH64, None),
        ("_rust.abi3.so", EM_AARCH64, None),
        ("pkg.libs/libz-0123abcd.so.1.3", EM_AARCH64, None),
        ("_speedups.cpython-313-x86_64-linux-gnu.so", EM_X86_64, "e_machine 62"),
        ("_speedups.cpython-313-aarch64-linux-gnu.so", EM_X86_64, "e_machine 62"),
        ("_speedups.cpython-312-aarch64-linux-gnu.so", EM_AARCH64, "extension module name"),
        ("_speedups.cpython-313t-aarch64-linux-gnu.so", EM_AARCH64, "extension module name"),
        ("_speedups.so", EM_AARCH64, "extension module name"),
        ("tool", EM_X86_64, "e_machine 62"),
    ],
)
def test_native_problems(tmp_path: Path, name: str, machine: int, problem: str | None) -> None:
    path = tmp_path / "pkg" / name
    path.parent.mkdir(parents=True)
    path.write_bytes(elf_header(machine))
    (tmp_path / "pkg" / "__init__.py").write_text("")
    problems, natives = native_problems(tmp_path)
    assert natives == [path]
    if problem is None:
        assert problems == []
    else:
        assert len(problems) >= 1 and problem in " ".join(problems), problems


def test_a_so_that_is_not_elf_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "_mod.cpython-313-aarch64-linux-gnu.so").write_bytes(b"MZ" + bytes(40))
    problems, _ = native_problems(tmp_path)
    assert problems and "not an ELF" in problems[0]


@pytest.mark.parametrize(
    ("tags", "fits"),
    [
        (["py3-none-any"], True),
        (["py2-none-any", "py3-none-any"], True),
        (["cp313-cp313-manylinux_2_17_aarch64", "cp313-cp313-manylinux2014_aarch64"], True),
        (["cp313-cp313-manylinux_2_34_aarch64"], True),
        (["cp39-abi3-manylinux_2_28_aarch64"], True),
        (["cp313-cp313-manylinux_2_17_x86_64"], False),
        (["cp312-cp312-manylinux_2_17_aarch64"], False),
        (["cp313-cp313-manylinux_2_39_aarch64"], False),  # newer glibc than Lambda's
        (["cp313-cp313-musllinux_1_2_aarch64"], False),
        (["cp313-cp313-linux_aarch64"], False),  # a local, non-portable build
        (["cp313-cp313t-manylinux_2_17_aarch64"], False),
    ],
)
def test_wheel_tag_problems(tmp_path: Path, tags: list[str], fits: bool) -> None:
    dist_info = tmp_path / "pkg-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "WHEEL").write_text(
        "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n" + "".join(f"Tag: {tag}\n" for tag in tags)
    )
    assert (wheel_tag_problems(tmp_path) == []) is fits


def test_pinned_requirements_follow_lambda_markers() -> None:
    text = (
        "# comment\n"
        "Typing_Extensions==4.16.0 \\\n"
        "    --hash=sha256:00\n"
        "    # via pydantic\n"
        'colorama==0.4.6 ; sys_platform == "win32" \\\n'
        "    --hash=sha256:11\n"
        'arm-only==1.0 ; platform_machine == "aarch64"\n'
        'old-only==2.0 ; python_full_version < "3.11"\n'
    )
    assert pinned_requirements(text) == {"typing-extensions": "4.16.0", "arm-only": "1.0"}


def test_installed_distributions(tmp_path: Path) -> None:
    (tmp_path / "typing_extensions-4.16.0.dist-info").mkdir()
    (tmp_path / "python_dateutil-2.9.0.post0.dist-info").mkdir()
    (tmp_path / "dateutil").mkdir()
    assert installed_distributions(tmp_path) == {
        "typing-extensions": "4.16.0",
        "python-dateutil": "2.9.0.post0",
    }
