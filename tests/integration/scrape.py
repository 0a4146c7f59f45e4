"""What a Prometheus would scrape, from the configuration the Prometheus Operator generated.

Prometheus's Kubernetes service discovery (role ``endpoints`` or ``endpointslice``) gives each
port of each endpoint address a set of ``__meta_kubernetes_*`` labels; the job's relabel rules
then keep, drop and rewrite them. This module builds those labels from the objects of the local
cluster and applies the rules as Prometheus does (model/relabel), so a test can say which
Service, port and path each generated job really scrapes. Only the actions the operator emits
are implemented; any other fails loudly.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

Labels = dict[str, str]


def sanitize(name: str) -> str:
    """strutil.SanitizeLabelName: what a Kubernetes label key becomes in a meta label name."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _expand(template: str, match: re.Match[str]) -> str:
    """Go's regexp Expand: $1, ${1}, $name, ${name}."""

    def group(m: re.Match[str]) -> str:
        key = m.group(1) or m.group(2)
        try:
            value = match.group(int(key) if key.isdigit() else key)
        except (IndexError, re.error):
            return ""
        return value or ""

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", group, template)


def relabel(labels: Labels, rules: Iterable[Mapping[str, Any]]) -> Labels | None:
    """The labels after ``rules``, or None when a rule drops the target."""
    result = dict(labels)
    for rule in rules:
        action = rule.get("action", "replace").lower()
        # $(SHARD) is filled in by the config reloader at run time: one shard, number 0.
        regex = re.compile(str(rule.get("regex", "(.*)")).replace("$(SHARD)", "0"))
        value = rule.get("separator", ";").join(result.get(s, "") for s in rule.get("source_labels", []))
        match = regex.fullmatch(value)
        if (action == "keep" and not match) or (action == "drop" and match):
            return None
        if action == "replace" and match:
            replacement = _expand(str(rule.get("replacement", "$1")).replace("$(SHARD)", "0"), match)
            if replacement:
                result[_expand(rule["target_label"], match)] = replacement
            else:
                result.pop(rule["target_label"], None)
        elif action == "hashmod":
            digest = int.from_bytes(hashlib.md5(value.encode()).digest()[8:], "big")  # noqa: S324 - Prometheus's choice
            result[rule["target_label"]] = str(digest % int(rule["modulus"]))
        elif action == "labelmap":
            for name, label in list(result.items()):
                if found := regex.fullmatch(name):
                    result[_expand(str(rule.get("replacement", "$1")), found)] = label
        elif action in ("labeldrop", "labelkeep"):
            result = {k: v for k, v in result.items() if bool(regex.fullmatch(k)) == (action == "labelkeep")}
        elif action not in ("keep", "drop", "replace"):
            raise NotImplementedError(f"relabel action {action!r}")
    return result


def _object_labels(prefix: str, obj: Mapping[str, Any]) -> Labels:
    meta = obj.get("metadata", {})
    labels: Labels = {f"{prefix}_name": meta.get("name", "")}
    for key, value in (meta.get("labels") or {}).items():
        labels[f"{prefix}_label_{sanitize(key)}"] = value
        labels[f"{prefix}_labelpresent_{sanitize(key)}"] = "true"
    return labels


def discovered(role: str, namespace: str, cluster: Mapping[str, list[dict[str, Any]]]) -> list[Labels]:
    """The targets service discovery finds in ``namespace``: one per endpoint address and port.

    ``cluster`` holds the namespace's ``services``, ``pods``, ``endpoints`` and ``endpointslices``.
    """
    services = {s["metadata"]["name"]: s for s in cluster["services"]}
    pods = {p["metadata"]["name"]: p for p in cluster["pods"]}
    found: list[Labels] = []

    def target(address: str, port: Mapping[str, Any], service: str, pod_name: str | None, extra: Labels) -> Labels:
        labels = {
            "__address__": f"{address}:{port['port']}",
            "__meta_kubernetes_namespace": namespace,
            **extra,
        }
        if service in services:
            labels |= _object_labels("__meta_kubernetes_service", services[service])
        pod = pods.get(pod_name or "")
        if pod:
            labels |= _object_labels("__meta_kubernetes_pod", pod)
            labels["__meta_kubernetes_pod_phase"] = pod.get("status", {}).get("phase", "")
            for container in pod["spec"]["containers"]:
                for container_port in container.get("ports", []):
                    if container_port["containerPort"] == port["port"]:
                        labels["__meta_kubernetes_pod_container_name"] = container["name"]
                        labels["__meta_kubernetes_pod_container_port_name"] = container_port.get("name", "")
        return labels

    if role == "endpoints":
        for endpoints in cluster["endpoints"]:
            name = endpoints["metadata"]["name"]
            for subset in endpoints.get("subsets") or []:
                for ready, key in (("true", "addresses"), ("false", "notReadyAddresses")):
                    for address in subset.get(key) or []:
                        ref = address.get("targetRef") or {}
                        for port in subset.get("ports") or []:
                            extra = {
                                "__meta_kubernetes_endpoints_name": name,
                                "__meta_kubernetes_endpoint_port_name": port.get("name", ""),
                                "__meta_kubernetes_endpoint_port_protocol": port.get("protocol", "TCP"),
                                "__meta_kubernetes_endpoint_ready": ready,
                                "__meta_kubernetes_endpoint_address_target_kind": ref.get("kind", ""),
                                "__meta_kubernetes_endpoint_address_target_name": ref.get("name", ""),
                            }
                            found.append(target(address["ip"], port, name, ref.get("name"), extra))
    elif role == "endpointslice":
        for endpoint_slice in cluster["endpointslices"]:
            service = endpoint_slice["metadata"].get("labels", {}).get("kubernetes.io/service-name", "")
            for endpoint in endpoint_slice.get("endpoints") or []:
                ref = endpoint.get("targetRef") or {}
                ready = str((endpoint.get("conditions") or {}).get("ready", True)).lower()
                for address in endpoint.get("addresses") or []:
                    for port in endpoint_slice.get("ports") or []:
                        extra = {
                            "__meta_kubernetes_endpointslice_name": endpoint_slice["metadata"]["name"],
                            "__meta_kubernetes_endpointslice_port_name": port.get("name", ""),
                            "__meta_kubernetes_endpointslice_port_protocol": port.get("protocol", "TCP"),
                            "__meta_kubernetes_endpointslice_endpoint_conditions_ready": ready,
                            "__meta_kubernetes_endpointslice_address_target_kind": ref.get("kind", ""),
                            "__meta_kubernetes_endpointslice_address_target_name": ref.get("name", ""),
                        }
                        found.append(target(address, port, service, ref.get("name"), extra))
    else:
        raise NotImplementedError(f"service discovery role {role!r}")
    return found


def scraped(job: Mapping[str, Any], clusters: Mapping[str, Mapping[str, list[dict[str, Any]]]]) -> list[Labels]:
    """The targets a generated scrape job keeps, with their final labels (``__address__`` and
    ``__metrics_path__`` included), over the namespaces its discovery may look at."""
    targets: list[Labels] = []
    for sd in job.get("kubernetes_sd_configs", []):
        names = (sd.get("namespaces") or {}).get("names")
        for namespace in names or list(clusters):
            if namespace not in clusters:
                continue
            for labels in discovered(sd["role"], namespace, clusters[namespace]):
                labels = {"job": job["job_name"], "__metrics_path__": job.get("metrics_path", "/metrics"), **labels}
                kept = relabel(labels, job.get("relabel_configs", []))
                if kept is not None:
                    targets.append(kept)
    return targets
