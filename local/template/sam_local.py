"""The template `sam local start-api` builds and runs: template.yaml plus the SamLocalAuth layer.

SAM CLI runs no HTTP API JWT authorizer, so under it (`AWS_SAM_LOCAL=true`) the functions verify bearer
tokens themselves (`orders.http.api` → `sam_local_auth`, layers/sam_local: PyJWT + cryptography, ~15 MB). That
code and those packages must never ship in a deployment, where the authorizer's claims are the only
source. So template.yaml does not mention them at all, and `make services` writes this derived template
(`.aws-sam/sam-local/template.json`, git-ignored) for `sam build --template-file ...`:
- the SamLocalAuthLayer resource (built by layers/sam_local/Makefile),
- `Globals.Function.Layers` + `!Ref SamLocalAuthLayer` (every function gets it),
- every relative CodeUri/ContentUri made absolute (the file lives elsewhere).
Everything else is template.yaml's, read each time (no second list).

(A parameter and `!If [Cond, !Ref SamLocalAuthLayer, !Ref AWS::NoValue]` in Layers would keep one file,
but SAM CLI's local resolver skips a layer given by `Fn::If`: the functions would run without it.
tests/integration/test_sam_local.py checks both facts with SAM CLI's own function provider.)
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

LAYER_ID = "SamLocalAuthLayer"
LAYER_DIR = "layers/sam_local/"
TEMPLATE_FILE = Path(".aws-sam") / "sam-local" / "template.json"
_CODE_PROPERTIES = ("CodeUri", "ContentUri")


def sam_local_template(template: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    derived = copy.deepcopy(template)
    resources = derived["Resources"]
    resources[LAYER_ID] = {
        "Type": "AWS::Serverless::LayerVersion",
        "Properties": {
            "LayerName": "orders-sam-local-auth",
            "Description": "sam local start-api only: bearer token verification (PyJWT, cryptography)",
            "ContentUri": LAYER_DIR,
            "CompatibleRuntimes": ["python3.13"],
            "CompatibleArchitectures": ["arm64"],
        },
        "Metadata": {"BuildMethod": "makefile", "BuildArchitecture": "arm64"},
    }
    for resource in resources.values():
        properties = resource.get("Properties") or {}
        for name in _CODE_PROPERTIES:
            uri = properties.get(name)
            if isinstance(uri, str) and "://" not in uri and not Path(uri).is_absolute():
                properties[name] = str((base_dir / uri).resolve()) + "/"
    function_globals = derived.setdefault("Globals", {}).setdefault("Function", {})
    function_globals["Layers"] = [*function_globals.get("Layers", []), {"Ref": LAYER_ID}]
    description = derived.get("Description") or ""
    derived["Description"] = f"{description.strip()} [sam local start-api: with the {LAYER_ID}]".strip()
    return derived


def write_sam_local_template(template: dict[str, Any], base_dir: Path, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(sam_local_template(template, base_dir), indent=2) + "\n")
    temporary.replace(path)
    return path
