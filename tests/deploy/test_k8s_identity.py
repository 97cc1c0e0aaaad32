"""The identity provider of the production overlay (deploy/k8s/components/identity): Keycloak, its
realm, and the services' issuer settings agree with what the services verify (anpr.runtime.claims,
anpr.runtime.identity). Rendered and validated offline with the other manifests
(test_k8s_manifests.py validates every rendered object's schema and every pod's posture)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from anpr.runtime.auth import Role
from anpr.runtime.claims import ClaimMap
from tests.deploy.test_k8s_manifests import (
    K8S_DIR,
    KEYCLOAK_PORT,
    OVERLAYS_DIR,
    _render,
    config_env,
    deployments,
    env_of,
    objects,
    server,
    service_deployments,
)

REALM_FILE = K8S_DIR / "components" / "identity" / "anpr-realm.json"


@pytest.fixture
def production():
    return _render(OVERLAYS_DIR / "production")


@pytest.fixture(scope="module")
def realm() -> dict:
    return json.loads(REALM_FILE.read_text())


def keycloak(production) -> dict:
    return server(deployments(production)["keycloak"])


def test_the_realm_defines_the_suites_roles_and_claims(realm):
    assert {r["name"] for r in realm["roles"]["realm"]} == {str(r) for r in Role}
    (scope,) = realm["clientScopes"]
    mappers = {m["name"]: m for m in scope["protocolMappers"]}
    defaults = ClaimMap()
    for field in ("force", "unit", "national", "covert"):
        config = mappers[field]["config"]
        assert config["claim.name"] == getattr(defaults, field) and config["access.token.claim"] == "true", field
    assert mappers["roles"]["config"]["claim.name"] == defaults.roles
    assert mappers["roles"]["config"]["multivalued"] == "true"
    for flag in ("national", "covert"):
        assert mappers[flag]["config"]["jsonType.label"] == "boolean"
    profile = json.loads(
        realm["components"]["org.keycloak.userprofile.UserProfileProvider"][0]["config"]["kc.user.profile.config"][0]
    )
    attributes = {a["name"]: a for a in profile["attributes"]}
    for field in ("force", "unit", "national", "covert"):  # people cannot give themselves a force or clearance
        assert attributes[field]["permissions"]["edit"] == ["admin"], field


def test_each_client_gets_one_role_and_the_audience(realm, production):
    audience = {
        config_env(production, server(d))["ANPR_OIDC_AUDIENCE"] for d in service_deployments(production).values()
    }
    (scope,) = realm["clientScopes"]
    mapper = next(m for m in scope["protocolMappers"] if m["protocolMapper"] == "oidc-audience-mapper")
    assert audience == {mapper["config"]["included.custom.audience"]}
    roles = {m["client"]: set(m["roles"]) for m in realm["scopeMappings"]}
    for client in realm["clients"]:
        cid = client["clientId"]
        assert client["fullScopeAllowed"] is False, f"{cid}: every realm role would be in its tokens"
        assert client["defaultClientScopes"] == [scope["name"]], cid
        assert client["implicitFlowEnabled"] is False and client["directAccessGrantsEnabled"] is False, cid
        assert len(roles[cid]) == 1 or roles[cid] == {"tfc", "tfc_supervisor"}, f"{cid}: {roles[cid]}"
        if client["publicClient"]:
            assert client["attributes"]["pkce.code.challenge.method"] == "S256", cid
            assert "service" not in roles[cid], cid
    services = next(c for c in realm["clients"] if c["clientId"] == "anpr-services")
    assert services["serviceAccountsEnabled"] and roles["anpr-services"] == {"service"}
    (account,) = [u for u in realm["users"] if u.get("serviceAccountClientId") == "anpr-services"]
    assert account["realmRoles"] == ["service"]


def test_the_services_verify_tokens_of_this_keycloak(production, realm):
    kc = keycloak(production)
    env = env_of(kc)
    issuer = env["KC_HOSTNAME"]["value"].rstrip("/") + "/realms/" + realm["realm"]
    service = objects(production, "Service")["keycloak"]
    assert [p["port"] for p in service["spec"]["ports"]] == [KEYCLOAK_PORT]
    for name, deployment in service_deployments(production).items():
        container = server(deployment)
        settings = {**config_env(production, container), **{k: v.get("value") for k, v in env_of(container).items()}}
        assert settings["ANPR_OIDC_ISSUER"] == issuer, f"{name}: tokens' iss would not match"
        for key in ("ANPR_OIDC_JWKS_URL", "ANPR_OIDC_TOKEN_URL"):
            url = urlsplit(settings[key])
            assert (url.scheme, url.hostname, url.port) == ("https", "keycloak", KEYCLOAK_PORT), f"{name}: {key}"
            assert url.path.startswith(f"/realms/{realm['realm']}/protocol/openid-connect/"), f"{name}: {key}"
        assert settings["ANPR_TLS_CA_FILE"], f"{name}: Keycloak's certificate cannot be verified"
    client_secret = env["ANPR_SERVICES_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"]
    services = next(c for c in realm["clients"] if c["clientId"] == "anpr-services")
    assert services["secret"] == "${ANPR_SERVICES_CLIENT_SECRET}"
    callers = [server(d) for n, d in service_deployments(production).items() if n in {"ingest", "matcher", "notify"}]
    assert all(env_of(c)["ANPR_SERVICE_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"] == client_secret for c in callers)


def test_keycloak_is_pinned_serves_tls_of_the_cluster_ca_and_keeps_its_secrets_in_secrets(production):
    kc = keycloak(production)
    repo, _, tag = kc["image"].rpartition(":")
    assert repo == "quay.io/keycloak/keycloak" and tag[:1].isdigit(), kc["image"]
    env = env_of(kc)
    assert "valueFrom" in env["KC_BOOTSTRAP_ADMIN_PASSWORD"] and "value" not in env["KC_BOOTSTRAP_ADMIN_PASSWORD"]
    for key in ("KC_DB_URL", "KC_DB_USERNAME", "KC_DB_PASSWORD"):
        assert env[key]["valueFrom"]["secretKeyRef"]["name"] == "keycloak-database", key
    assert env["KC_HTTP_ENABLED"]["value"] == "false"
    volumes = {v["name"]: v for v in deployments(production)["keycloak"]["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in kc["volumeMounts"]}
    cert_dir = env["KC_HTTPS_CERTIFICATE_FILE"]["value"].rpartition("/")[0]
    secret = volumes[mounts[cert_dir]]["secret"]["secretName"]
    (certificate,) = [c for c in objects(production, "Certificate").values() if c["spec"]["secretName"] == secret]
    assert "keycloak" in certificate["spec"]["dnsNames"]
    assert "ca" in objects(production, "Issuer")[certificate["spec"]["issuerRef"]["name"]]["spec"]
    realm_mount = volumes[mounts["/opt/keycloak/data/import"]]
    assert realm_mount["configMap"]["name"].startswith("keycloak-realm")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert kc[probe]["httpGet"]["scheme"] == "HTTPS", probe
