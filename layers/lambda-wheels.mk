# Shared by the layers built from pinned wheels (deps/, sam_local/): installs `requirements.txt` of the
# including layer's folder ($(HERE)) as prebuilt wheels for Lambda's python3.13 on arm64, whatever the build
# machine is, into $(ARTIFACTS_DIR)/python (on Lambda: /opt/python, which is on sys.path).
# Lambda's python3.13 runs on Amazon Linux 2023 (glibc 2.34), so manylinux wheels up to 2_34 fit.
# `cd $(HERE)` first so that pyenv picks the repo's .python-version (pip only unpacks wheels here).
# bin/ is dropped: console scripts carry the build machine's interpreter path and never run on Lambda;
# RECORD files would list them and the pruned files.

PYTHON ?= python3
LAMBDA_WHEEL_PLATFORMS := manylinux2014_aarch64 manylinux_2_28_aarch64 manylinux_2_34_aarch64

define INSTALL_LAMBDA_WHEELS
@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (run through sam build)" >&2; exit 2; }
rm -rf "$(ARTIFACTS_DIR)/python"
cd "$(HERE)" && $(PYTHON) -m pip install --quiet --disable-pip-version-check --no-compile \
	--no-deps --only-binary=:all: --require-hashes \
	--implementation cp --python-version 3.13 $(addprefix --platform ,$(LAMBDA_WHEEL_PLATFORMS)) \
	--target "$(ARTIFACTS_DIR)/python" -r requirements.txt
find "$(ARTIFACTS_DIR)/python" -depth -type d -name __pycache__ -exec rm -rf {} +
find "$(ARTIFACTS_DIR)/python" -path '*.dist-info/RECORD' -type f -delete
rm -rf "$(ARTIFACTS_DIR)/python/bin"
endef
