"""The CloudNativePG operator and its Barman Cloud plugin: what Postgres in mode ``cloudnativepg`` needs.

* ``install``: this stack applies both from their pinned releases (CloudNativePG 1.30.1, Barman Cloud
  plugin 0.15.0): CRDs, ClusterRoles, the operator in ``cnpg-system`` with its admission webhooks, the
  plugin beside it. The plugin's TLS comes from cert-manager (an Issuer and Certificates in that
  namespace): **cert-manager must be installed**. Cluster-wide: ONE install per cluster.
* ``existing``: the cluster's owners installed them; the preview reads the three CRDs this program
  uses and stops, naming the setting, when one is missing.

The manifests are read from ``operator.manifestsPath`` (``make upstream`` puts the pinned files in
``~/.cache/platform-upstream/cnpg``: no internet needed) or else fetched from the releases' URLs.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from .contracts import raise_if, require
from .environment import Where, namespace_of
from .namespace import claim_in
from .settings.cloudnativepg import OPERATOR_VERSION, PLUGIN_VERSION, Operator

RELEASE_URL = (
    f"https://github.com/cloudnative-pg/cloudnative-pg/releases/download/v{OPERATOR_VERSION}/cnpg-{OPERATOR_VERSION}.yaml"
)
PLUGIN_URL = f"https://github.com/cloudnative-pg/plugin-barman-cloud/releases/download/v{PLUGIN_VERSION}/manifest.yaml"
RELEASE_FILE, PLUGIN_FILE = f"cnpg-{OPERATOR_VERSION}.yaml", "manifest.yaml"
# The plugin's images as its release manifest names them; the module's copy names development builds.
PLUGIN_IMAGE = f"ghcr.io/cloudnative-pg/plugin-barman-cloud:v{PLUGIN_VERSION}"
SIDECAR_IMAGE = f"ghcr.io/cloudnative-pg/plugin-barman-cloud-sidecar:v{PLUGIN_VERSION}"
# The kinds Postgres creates in mode cloudnativepg, by their CRDs.
CRDS = ("clusters.postgresql.cnpg.io", "scheduledbackups.postgresql.cnpg.io", "objectstores.barmancloud.cnpg.io")
MODE_KEY = "platform:postgres.cloudnativepg.operator.mode"


@dataclass(frozen=True, kw_only=True)
class CloudNativePGOperatorArgs:
    """Attributes:
        environment: the ``Environment`` (or ``NamespaceRef``) of the stack; the install is cluster-wide.
        settings: install or existing, and where (``PostgresConfig...cloudnativepg.operator``).
    """

    environment: Where
    settings: Operator


def plugin_objects(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plugin's manifest with the released images (the module's copy names its development builds)."""
    result = []
    for doc in documents:
        if doc.get("kind") == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                container["image"] = PLUGIN_IMAGE
        if doc.get("kind") == "Secret" and "SIDECAR_IMAGE" in (doc.get("data") or {}):
            doc["data"]["SIDECAR_IMAGE"] = base64.b64encode(SIDECAR_IMAGE.encode()).decode()
        result.append(doc)
    return result


def load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def release_objects(directory: Path) -> list[dict[str, Any]]:
    """Both releases' objects, from a directory holding the pinned files."""
    missing = [f for f in (RELEASE_FILE, PLUGIN_FILE) if not (directory / f).is_file()]
    if missing:
        raise_if([
            f"platform:postgres.cloudnativepg.operator.manifestsPath: {directory} lacks {missing}; run `make upstream` "
            "(the pinned releases land in ~/.cache/platform-upstream/cnpg)"
        ])
    return load(directory / RELEASE_FILE) + plugin_objects(load(directory / PLUGIN_FILE))


class CloudNativePGOperator(pulumi.ComponentResource):
    """The operator the Clusters need: installed (once per cluster) or expected, and checked.

    Outputs:
        namespace: where the operator runs (the instances' network policy admits it from there).
    """

    def __init__(self, name: str, args: CloudNativePGOperatorArgs, opts: pulumi.ResourceOptions | None = None):
        require(args, CloudNativePGOperatorArgs, "CloudNativePGOperator", name)
        where = namespace_of(args.environment, "CloudNativePGOperatorArgs.environment")
        if not isinstance(args.settings, Operator):
            raise_if([f"CloudNativePGOperatorArgs.settings: must be an Operator (got {type(args.settings).__name__})"])
        settings = args.settings
        path = settings.manifests_path
        objects = release_objects(Path(path)) if settings.mode == "install" and path else None
        if settings.mode == "install":  # CRDs, ClusterRoles, webhooks: one install per cluster
            claim_in("cluster", where, f"CloudNativePGOperator {name!r}", [("cloudnative-pg", "install")], "in this program")
        super().__init__("platform:index:CloudNativePGOperator", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = settings.namespace
        if settings.mode == "install":
            if objects is not None:
                k8s.yaml.v2.ConfigGroup(f"{name}-release", objs=objects, opts=child)
            else:
                operator = k8s.yaml.v2.ConfigFile(f"{name}-release", file=RELEASE_URL, opts=child)
                k8s.yaml.v2.ConfigFile(
                    f"{name}-plugin", file=PLUGIN_URL, opts=pulumi.ResourceOptions(parent=self, depends_on=[operator])
                )
        else:
            # A read: absent, the preview stops on this resource, whose name says what is missing and which key to set.
            pulumi.log.info(
                f"{MODE_KEY} is existing: reading the CRDs {', '.join(CRDS)}; if one is missing, install CloudNativePG "
                f"{OPERATOR_VERSION} and the Barman Cloud plugin {PLUGIN_VERSION} (README), or set {MODE_KEY}: install",
                resource=self,
            )
            for crd in CRDS:
                k8s.apiextensions.v1.CustomResourceDefinition.get(
                    f"{name}-requires-crd-{crd}-install-cloudnativepg-or-set-postgres.cloudnativepg.operator.mode-install",
                    crd, opts=child,
                )
        self.register_outputs({"namespace": self.namespace})
