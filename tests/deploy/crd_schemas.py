"""The operators' own schemas for the custom resources the manifests use, which kubernetes-validate
does not ship: each CRD's `openAPIV3Schema`, vendored unchanged from the operator's release
(tests/deploy/crds/*.json; each file names its source, a tagged release's CRD). Regenerate with
`python -m tests.deploy.crd_schemas` after fetching the operators' repositories at newer tags.

Validation is made strict as kubectl's `--validate=strict` (and kubernetes-validate --strict for the
built-in kinds) is: an object schema that lists its properties and neither preserves unknown
fields nor allows additional ones gets `additionalProperties: false`, so a misspelt or misplaced
field fails instead of being pruned by the API server.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

CRDS = Path(__file__).with_name("crds")

# Where each vendored schema comes from: (repository, release tag, path of the CRD in it).
SOURCES = (
    ("cert-manager/cert-manager", "v1.21.1", "deploy/crds/cert-manager.io_certificates.yaml"),
    ("cert-manager/cert-manager", "v1.21.1", "deploy/crds/cert-manager.io_issuers.yaml"),
    ("cloudnative-pg/cloudnative-pg", "v1.30.0", "config/crd/bases/postgresql.cnpg.io_clusters.yaml"),
    (
        "prometheus-operator/prometheus-operator",
        "v0.93.0",
        "example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml",
    ),
    (
        "prometheus-operator/prometheus-operator",
        "v0.93.0",
        "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
    ),
)


def strict(schema: Any) -> Any:
    """A copy of an OpenAPI v3 schema in which every closed-able object is closed."""
    schema = copy.deepcopy(schema)
    _close(schema)
    return schema


def _close(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _close(item)
        return
    if not isinstance(node, dict):
        return
    for value in node.values():
        _close(value)
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        node["additionalProperties"] = False


def _load() -> dict[tuple[str, str], dict[str, Any]]:
    schemas = {}
    for path in sorted(CRDS.glob("*.json")):
        doc = json.loads(path.read_text())
        schema = strict(doc["openAPIV3Schema"])
        # the object's envelope as the API server checks it
        schema["properties"]["apiVersion"] = {"const": doc["apiVersion"]}
        schema["properties"]["kind"] = {"const": doc["kind"]}
        schema["properties"]["metadata"] = {"type": "object", "required": ["name"]}
        schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
        schemas[(doc["apiVersion"], doc["kind"])] = schema
    return schemas


SCHEMAS = _load()


def vendor(mirrors: Path) -> None:
    """Write tests/deploy/crds/ from the operators' repositories cloned under `mirrors`
    (<owner>+<name>/repo, as a git directory): each served version's schema of each CRD."""
    import subprocess

    import yaml

    for repo, tag, path in SOURCES:
        git = mirrors / repo.replace("/", "+") / "repo"
        text = subprocess.run(["git", "-C", str(git), "show", f"{tag}:{path}"], capture_output=True, check=True).stdout
        crd = next(d for d in yaml.safe_load_all(text) if d and d.get("kind") == "CustomResourceDefinition")
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in (v for v in crd["spec"]["versions"] if v.get("served")):
            doc = {
                "source": f"https://github.com/{repo}/blob/{tag}/{path}",
                "apiVersion": f"{group}/{version['name']}",
                "kind": kind,
                "openAPIV3Schema": version["schema"]["openAPIV3Schema"],
            }
            out = CRDS / f"{group}_{version['name']}_{kind.lower()}.json"
            out.write_text(json.dumps(doc, separators=(",", ":"), sort_keys=True) + "\n")


if __name__ == "__main__":
    import sys

    vendor(Path(sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror"))
