"""The deployable artefacts: the template lints, `sam build` works offline, the layers hold code Lambda's
python3.13 on arm64 can load, and each function package holds its own handler and nothing else."""

from __future__ import annotations

import importlib.util
import re
import sysconfig
from pathlib import Path

import pytest
from samcli.yamlhelper import yaml_parse

from tests.build.artifacts import (
    files_under,
    installed_distributions,
    native_problems,
    pinned_requirements,
    tree_size,
    wheel_tag_problems,
)
from tests.build.conftest import ROOT, TEMPLATE, Build, sam

pytestmark = [pytest.mark.build, pytest.mark.xdist_group("sam-build")]

SOURCE = yaml_parse(TEMPLATE.read_text())
FUNCTIONS = {
    logical_id: resource["Properties"]
    for logical_id, resource in SOURCE["Resources"].items()
    if resource["Type"] == "AWS::Serverless::Function"
}
LAYERS = [
    logical_id
    for logical_id, resource in SOURCE["Resources"].items()
    if resource["Type"] == "AWS::Serverless::LayerVersion"
]
# What the python3.13 runtime already ships (boto3 and its own dependencies), left out of the layer.
RUNTIME_SDK = ("boto3", "botocore", "s3transfer", "dateutil", "six")
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # function code + all its layers


def site_packages(build: Build) -> Path:
    site = build.artifact("DepsLayer") / "python"
    assert site.is_dir(), (
        f"DepsLayer has no python/ directory: {sorted(build.artifact('DepsLayer').iterdir())}"
    )
    return site


# ---------------------------------------------------------------- template


def test_template_passes_sam_validate_lint() -> None:
    result = sam("validate", "--lint", "--template-file", str(TEMPLATE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid SAM Template" in result.stdout + result.stderr


def test_sam_validate_lint_rejects_a_broken_template(tmp_path: Path) -> None:
    """The lint gate is real: a dangling reference in a copy of the template fails it."""
    broken = tmp_path / "template.yaml"
    text = TEMPLATE.read_text()
    assert "\nOutputs:\n" in text
    broken.write_text(
        text.replace("\nOutputs:\n", "\nOutputs:\n  Dangling:\n    Value: !GetAtt NoSuchResource.Arn\n", 1)
    )
    result = sam("validate", "--lint", "--template-file", str(broken), cwd=tmp_path)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "NoSuchResource" in result.stdout + result.stderr


# ---------------------------------------------------------------- build


def test_sam_build_succeeds(sam_build: Build, record_property: pytest.RecordProperty) -> None:
    record_property("build-report", f"sam build: {sam_build.seconds:.1f} s")
    for logical_id in [*FUNCTIONS, *LAYERS]:
        artifact = sam_build.artifact(logical_id)
        assert artifact.is_dir() and artifact.is_relative_to(sam_build.dir.resolve()), logical_id
        assert any(artifact.iterdir()), f"{logical_id}: empty artifact {artifact}"


# ---------------------------------------------------------------- third-party layer


def test_deps_layer_native_code_is_aarch64_for_cp313(sam_build: Build) -> None:
    problems, natives = native_problems(site_packages(sam_build))
    assert not problems, "\n".join(problems)
    # pydantic-core is compiled: finding none would mean this check looked at nothing
    assert any(path.name.startswith("_pydantic_core.") for path in natives), natives


def test_deps_layer_wheels_are_tagged_for_lambda(sam_build: Build) -> None:
    site = site_packages(sam_build)
    assert list(site.glob("*.dist-info/WHEEL")), "no dist-info/WHEEL files in the layer"
    problems = wheel_tag_problems(site)
    assert not problems, "\n".join(problems)


def test_deps_layer_leaves_out_the_runtime_sdk(sam_build: Build) -> None:
    site = site_packages(sam_build)
    present = sorted(path.name for path in site.iterdir() if path.name.split("-")[0].lower() in RUNTIME_SDK)
    assert not present, f"the Lambda runtime provides these, the layer must not: {present}"


def test_deps_layer_is_exactly_the_exported_lock(sam_build: Build) -> None:
    wanted = pinned_requirements((ROOT / "layers/deps/requirements.txt").read_text())
    assert wanted, "layers/deps/requirements.txt pins nothing"
    assert not set(wanted) & set(RUNTIME_SDK)
    assert installed_distributions(site_packages(sam_build)) == wanted


def unused_at_run_time() -> list[str]:
    makefile = (ROOT / "layers/deps/Makefile").read_text()
    listed = re.search(r"^UNUSED_AT_RUN_TIME := ((?:.*\\\n)*.*)$", makefile, re.MULTILINE)
    assert listed, "UNUSED_AT_RUN_TIME is not in layers/deps/Makefile"
    return listed.group(1).replace("\\", " ").split()


def test_deps_layer_leaves_out_what_nothing_runs(sam_build: Build) -> None:
    site, installed = site_packages(sam_build), Path(sysconfig.get_paths()["purelib"])
    pruned = unused_at_run_time()
    assert len(pruned) >= 5, pruned
    assert not [path for path in pruned if not (installed / path).exists()], (
        "not in the locked packages (any more)"
    )
    assert not [path for path in pruned if (site / path).exists()], "left in the built layer"
    hot = (ROOT / "layers/deps/hot_modules.txt").read_text().split()
    assert not [line for line in hot for path in pruned if line == path or line.startswith(path + "/")]
    # Powertools' Swagger UI assets are pruned: no function may serve them.
    code = [*ROOT.glob("functions/*/*.py"), *ROOT.glob("layers/orders/python/orders/*.py")]
    assert code and not [path for path in code if "enable_swagger" in path.read_text()]


def unchecked_hash_pyc_for(source: Path) -> bool:
    """A CPython 3.13 .pyc next to `source` whose validity does not depend on timestamps (PEP 552)."""
    cached = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
    if not cached.is_file():
        return False
    header = cached.read_bytes()[:16]
    return header[:4] == importlib.util.MAGIC_NUMBER and int.from_bytes(header[4:8], "little") == 0b01


def test_deps_layer_has_bytecode_for_hot_modules_only_and_keeps_metadata(sam_build: Build) -> None:
    site = site_packages(sam_build)
    hot = [
        line for line in (ROOT / "layers/deps/hot_modules.txt").read_text().split() if (site / line).is_file()
    ]
    assert len(hot) > 100, "too few of the listed hot modules are in the layer"
    assert all(unchecked_hash_pyc_for(site / line) for line in hot), "hot modules without 3.13 bytecode"
    compiled = {p.relative_to(site).as_posix() for p in site.rglob("*.pyc")}
    expected = {
        (Path(line).parent / "__pycache__" / f"{Path(line).stem}.cpython-313.pyc").as_posix() for line in hot
    }
    assert compiled == expected, "bytecode beyond the hot modules (it only adds size)"
    assert not list(site.glob("*.dist-info/RECORD")), "RECORD files left in the layer"
    missing = [d.name for d in site.glob("*.dist-info") if not (d / "METADATA").is_file()]
    assert not missing, f"dist-info without METADATA: {missing}"


# ---------------------------------------------------------------- domain layer and functions


def test_orders_layer_holds_exactly_the_domain_package(sam_build: Build) -> None:
    source = files_under(ROOT / "layers/orders/python/orders")
    expected = {
        f"python/orders/{rel}": content
        for rel, content in source.items()
        if not any(part.startswith(".") for part in rel.split("/"))
    }
    assert "python/orders/__init__.py" in expected
    built = files_under(sam_build.artifact("OrdersLayer"))
    assert sorted(built) == sorted(expected)
    assert built == expected, "built domain layer differs from layers/orders/python/orders"
    layer = sam_build.artifact("OrdersLayer")
    assert all(unchecked_hash_pyc_for(layer / name) for name in built if name.endswith(".py"))


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_package_holds_only_its_own_code(sam_build: Build, logical_id: str) -> None:
    properties = FUNCTIONS[logical_id]
    source = files_under(ROOT / properties["CodeUri"])
    built = files_under(sam_build.artifact(logical_id))

    handler_module = properties.get("Handler", "app.lambda_handler").rsplit(".", 1)[0]
    assert f"{handler_module.replace('.', '/')}.py" in built, f"handler module missing: {sorted(built)}"
    unexpected = sorted(set(built) - set(source))
    assert not unexpected, f"files that are not this function's own: {unexpected}"
    assert sorted(built) == sorted(source)
    assert built == source, "built package differs from its source folder"
    non_code = [rel for rel in source if not rel.endswith(".py") and rel != "requirements.txt"]
    assert not non_code, f"non-code files in the function folder: {non_code}"


def test_each_function_has_its_own_package(sam_build: Build) -> None:
    """No function package carries a copy of another function's file (under any name)."""
    packages = {logical_id: files_under(sam_build.artifact(logical_id)) for logical_id in FUNCTIONS}
    assert len({sam_build.artifact(logical_id) for logical_id in FUNCTIONS}) == len(FUNCTIONS)
    copies = [
        f"{logical_id}/{rel} == {other}/{other_rel}"
        for logical_id, files in packages.items()
        for rel, content in files.items()
        if content.strip()
        for other, other_files in packages.items()
        if other > logical_id  # each pair once
        for other_rel, other_content in other_files.items()
        if other_content == content
    ]
    assert not copies, f"function packages share files: {copies}"


# ---------------------------------------------------------------- sizes


def test_layer_sizes_fit_lambda(sam_build: Build, record_property: pytest.RecordProperty) -> None:
    layers = {logical_id: tree_size(sam_build.artifact(logical_id)) for logical_id in LAYERS}
    functions = {logical_id: tree_size(sam_build.artifact(logical_id)) for logical_id in FUNCTIONS}
    for logical_id, size in {**layers, **functions}.items():
        record_property("build-report", f"{logical_id:<28} {size / 1024:>10,.1f} KiB unzipped")
    total = sum(layers.values()) + max(functions.values())
    record_property("build-report", f"{'largest function + layers':<28} {total / 1024:>10,.1f} KiB")
    assert layers["DepsLayer"] > 1024 * 1024, "the deps layer is suspiciously small"
    assert total < LAMBDA_UNZIPPED_LIMIT


def test_no_token_verification_ships_in_a_deployment(sam_build: Build) -> None:
    """Deployed functions trust API Gateway's authorizer claims: no JWT library, no crypto, no token check
    in any layer or function that `sam build` of template.yaml makes (they live in layers/sam_local, which
    only the sam-local template, `make services`, adds)."""
    local_only = (
        "jwt",
        "cryptography",
        "sam_local_auth",
        "rsa",
        "cffi",
        "orders/jwt_verifier.py",
        "orders/sam_local.py",
    )
    found = [
        f"{logical_id}: {name}"
        for logical_id in [*FUNCTIONS, *LAYERS]
        for name in files_under(sam_build.artifact(logical_id))
        if any(name.removeprefix("python/").startswith(prefix) for prefix in local_only)
    ]
    assert not found, found
    assert "SamLocalAuthLayer" not in LAYERS
