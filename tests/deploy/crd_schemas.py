"""Schemas for the custom resources the manifests use, which kubernetes-validate does not ship.

kubernetes-validate knows the built-in kinds only. The operators' own CRD schemas are large and
versioned with each operator; rather than vendor them, each kind here gets a trimmed schema: the
fields of the CRD (cert-manager v1.15, CloudNativePG 1.25, Prometheus Operator v0.75) down to the
depth these manifests use, every object closed (`additionalProperties: false`), so a misspelt or
misplaced field fails as in strict validation. Fields the CRDs have but nothing here uses may be
missing: add them from the operator's CRD reference when a manifest needs them.
"""

from __future__ import annotations

from typing import Any


def closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False, "required": list(required)}


ANY_OBJECT = {"type": "object"}
STRING = {"type": "string"}
STRINGS = {"type": "array", "items": STRING}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
SECRET_KEY = closed({"name": STRING, "key": STRING}, ("name", "key"))
LABEL_SELECTOR = closed(
    {
        "matchLabels": {"type": "object", "additionalProperties": STRING},
        "matchExpressions": {"type": "array", "items": ANY_OBJECT},
    }
)
METADATA = {"type": "object", "required": ["name"]}


def kind(api_version: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return closed(
        {"apiVersion": {"const": api_version}, "kind": {"const": name}, "metadata": METADATA, "spec": spec},
        ("apiVersion", "kind", "metadata", "spec"),
    )


ISSUER_REF = closed({"name": STRING, "kind": {"enum": ["Issuer", "ClusterIssuer"]}, "group": STRING}, ("name",))
CERTIFICATE = kind(
    "cert-manager.io/v1",
    "Certificate",
    closed(
        {
            "secretName": STRING,
            "commonName": STRING,
            "dnsNames": STRINGS,
            "ipAddresses": STRINGS,
            "uris": STRINGS,
            "emailAddresses": STRINGS,
            "duration": STRING,
            "renewBefore": STRING,
            "renewBeforePercentage": INT,
            "isCA": BOOL,
            "usages": {
                "type": "array",
                "items": {
                    "enum": [
                        "signing",
                        "digital signature",
                        "content commitment",
                        "key encipherment",
                        "key agreement",
                        "data encipherment",
                        "cert sign",
                        "crl sign",
                        "encipher only",
                        "decipher only",
                        "any",
                        "server auth",
                        "client auth",
                        "code signing",
                        "email protection",
                        "s/mime",
                        "ipsec end system",
                        "ipsec tunnel",
                        "ipsec user",
                        "timestamping",
                        "ocsp signing",
                        "microsoft sgc",
                        "netscape sgc",
                    ]
                },
            },
            "privateKey": closed(
                {
                    "algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]},
                    "size": INT,
                    "encoding": {"enum": ["PKCS1", "PKCS8"]},
                    "rotationPolicy": {"enum": ["Never", "Always"]},
                }
            ),
            "issuerRef": ISSUER_REF,
            "subject": ANY_OBJECT,
            "secretTemplate": ANY_OBJECT,
            "revisionHistoryLimit": INT,
        },
        ("secretName", "issuerRef"),
    ),
)
ISSUER = kind(
    "cert-manager.io/v1",
    "Issuer",
    closed(
        {
            "selfSigned": closed({"crlDistributionPoints": STRINGS}),
            "ca": closed(
                {
                    "secretName": STRING,
                    "crlDistributionPoints": STRINGS,
                    "ocspServers": STRINGS,
                    "issuingCertificateURLs": STRINGS,
                },
                ("secretName",),
            ),
            "acme": ANY_OBJECT,
            "vault": ANY_OBJECT,
            "venafi": ANY_OBJECT,
        }
    ),
)
STORAGE = closed({"size": STRING, "storageClass": STRING, "resizeInUseVolumes": BOOL, "pvcTemplate": ANY_OBJECT})
# CloudNativePG's declarative role management (spec.managed.roles[]).
MANAGED_ROLE = closed(
    {
        "name": STRING,
        "ensure": {"enum": ["present", "absent"]},
        "comment": STRING,
        "login": BOOL,
        "superuser": BOOL,
        "createdb": BOOL,
        "createrole": BOOL,
        "inherit": BOOL,
        "replication": BOOL,
        "bypassrls": BOOL,
        "connectionLimit": INT,
        "validUntil": STRING,
        "inRoles": STRINGS,
        "passwordSecret": closed({"name": STRING}, ("name",)),
        "disablePassword": BOOL,
    },
    ("name",),
)
CNPG_CLUSTER = kind(
    "postgresql.cnpg.io/v1",
    "Cluster",
    closed(
        {
            "instances": {"type": "integer", "minimum": 1},
            "imageName": STRING,
            "imageCatalogRef": ANY_OBJECT,
            "description": STRING,
            "primaryUpdateStrategy": {"enum": ["unsupervised", "supervised"]},
            "primaryUpdateMethod": {"enum": ["switchover", "restart"]},
            "postgresql": closed(
                {
                    "parameters": {"type": "object", "additionalProperties": STRING},
                    "pg_hba": STRINGS,
                    "shared_preload_libraries": STRINGS,
                    "synchronous": ANY_OBJECT,
                }
            ),
            "bootstrap": closed(
                {
                    "initdb": closed(
                        {
                            "database": STRING,
                            "owner": STRING,
                            "secret": ANY_OBJECT,
                            "encoding": STRING,
                            "localeCollate": STRING,
                            "localeCType": STRING,
                            "postInitSQL": STRINGS,
                            "postInitApplicationSQL": STRINGS,
                        }
                    ),
                    "recovery": ANY_OBJECT,
                    "pg_basebackup": ANY_OBJECT,
                }
            ),
            "storage": STORAGE,
            "walStorage": STORAGE,
            "resources": closed({"requests": ANY_OBJECT, "limits": ANY_OBJECT}),
            "affinity": closed(
                {
                    "topologyKey": STRING,
                    "enablePodAntiAffinity": BOOL,
                    "podAntiAffinityType": {"enum": ["preferred", "required"]},
                    "nodeSelector": ANY_OBJECT,
                    "tolerations": {"type": "array"},
                }
            ),
            "monitoring": closed(
                {"enablePodMonitor": BOOL, "customQueriesConfigMap": {"type": "array"}, "disableDefaultQueries": BOOL}
            ),
            "backup": ANY_OBJECT,
            "plugins": {"type": "array"},
            "enableSuperuserAccess": BOOL,
            "superuserSecret": ANY_OBJECT,
            "minSyncReplicas": INT,
            "maxSyncReplicas": INT,
            "externalClusters": {"type": "array"},
            "managed": closed({"roles": {"type": "array", "items": MANAGED_ROLE}, "services": ANY_OBJECT}),
            "env": {"type": "array"},
        },
        ("instances", "storage"),
    ),
)
POD_MONITOR = kind(
    "monitoring.coreos.com/v1",
    "PodMonitor",
    closed(
        {
            "selector": LABEL_SELECTOR,
            "namespaceSelector": ANY_OBJECT,
            "jobLabel": STRING,
            "podTargetLabels": STRINGS,
            "sampleLimit": INT,
            "podMetricsEndpoints": {
                "type": "array",
                "items": closed(
                    {
                        "port": STRING,
                        "portNumber": INT,
                        "path": STRING,
                        "scheme": {"enum": ["http", "https"]},
                        "interval": STRING,
                        "scrapeTimeout": STRING,
                        "honorLabels": BOOL,
                        "relabelings": {"type": "array"},
                        "metricRelabelings": {"type": "array"},
                    }
                ),
            },
        },
        ("selector", "podMetricsEndpoints"),
    ),
)
RULE = {
    "oneOf": [
        closed(
            {
                "alert": STRING,
                "expr": STRING,
                "for": STRING,
                "keep_firing_for": STRING,
                "labels": {"type": "object", "additionalProperties": STRING},
                "annotations": {"type": "object", "additionalProperties": STRING},
            },
            ("alert", "expr"),
        ),
        closed(
            {"record": STRING, "expr": STRING, "labels": {"type": "object", "additionalProperties": STRING}},
            ("record", "expr"),
        ),
    ]
}
PROMETHEUS_RULE = kind(
    "monitoring.coreos.com/v1",
    "PrometheusRule",
    closed(
        {
            "groups": {
                "type": "array",
                "items": closed(
                    {"name": STRING, "interval": STRING, "limit": INT, "rules": {"type": "array", "items": RULE}},
                    ("name", "rules"),
                ),
            },
        },
        ("groups",),
    ),
)

SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("cert-manager.io/v1", "Certificate"): CERTIFICATE,
    ("cert-manager.io/v1", "Issuer"): ISSUER,
    ("postgresql.cnpg.io/v1", "Cluster"): CNPG_CLUSTER,
    ("monitoring.coreos.com/v1", "PodMonitor"): POD_MONITOR,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROMETHEUS_RULE,
}
