"""The API component: pure spec builders with fake connections, then the whole program under mocks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components import api
from components.connections import PostgresConnection, RedisConnection, SecretKeyRef
from components.errors import ConfigError
from environments import load_config
from tests.harness import MOCK_PASSWORD_PREFIX, Registered, Run, run_program
from tools.engine import AUTONAME_SUFFIX

Args = api.ApiSpec

PG_SECRET, REDIS_SECRET = "postgres-secret-abc", "redis-secret-def"
PG_PODS = {"app.kubernetes.io/name": "postgres", "app.kubernetes.io/instance": "ns"}
REDIS_PODS = {"app.kubernetes.io/name": "redis", "app.kubernetes.io/instance": "ns"}


def make_args(stack: str = "production", raw: dict[str, Any] | None = None, monitoring: str | None = "monitoring") -> Args:
    config = load_config(stack, raw or {})
    return api.ApiSpec(
        name="api",
        namespace=config.namespace.name,
        environment=config.environment,
        settings=config.api,
        database=postgres_connection("postgres", PG_SECRET, PG_PODS),
        cache=redis_connection("redis", REDIS_SECRET, REDIS_PODS),
        route=config.ingress,
        monitoring_namespace=monitoring,
    )


def postgres_connection(name: str, secret: str, pods: dict[str, str], database: str = "myapp", user: str = "app"):
    return PostgresConnection(
        instance=name, namespace="ns", host=name, port=5432, database=database, user=user,
        password=SecretKeyRef(secret, "password"), pod_labels=pods,
    )


def redis_connection(name: str, secret: str, pods: dict[str, str]):
    return RedisConnection(
        instance=name, namespace="ns", host=name, port=6379, password=SecretKeyRef(secret, "password"), pod_labels=pods
    )


def container_of(spec: dict[str, Any]) -> dict[str, Any]:
    (only,) = spec["template"]["spec"]["containers"]
    return only


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container["env"]}


# ---------------------------------------------------------------- pure builders


def test_probes_use_the_seed_timings_on_the_named_port():
    c = container_of(api.deployment_spec(make_args("production"), "cm"))
    assert c["livenessProbe"] == {
        "httpGet": {"path": "/health", "port": "http"},
        "initialDelaySeconds": 30, "periodSeconds": 10, "timeoutSeconds": 5, "successThreshold": 1, "failureThreshold": 3,
    }
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert (c["readinessProbe"]["initialDelaySeconds"], c["readinessProbe"]["periodSeconds"]) == (5, 5)
    assert c["startupProbe"]["httpGet"]["path"] == "/health"
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 120
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]  # the seed's app: metrics on 8080 too


def test_dev_probes_match_the_demo_image():
    c = container_of(api.deployment_spec(make_args("dev"), "cm"))
    assert c["image"] == "ghcr.io/stefanprodan/podinfo:6.7.1"
    assert c["ports"][0]["containerPort"] == 9898
    paths = [c[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")]
    assert paths == ["/healthz", "/healthz", "/readyz"]


def test_every_probe_setting_is_configurable():
    readiness = {"path": "/status", "port": 9000, "periodSeconds": 7, "failureThreshold": 9, "successThreshold": 2}
    raw = {"api": {"probes": {"readiness": readiness}}}
    probe = container_of(api.deployment_spec(make_args("staging", raw), "cm"))["readinessProbe"]
    assert probe["httpGet"] == {"path": "/status", "port": 9000}
    assert (probe["periodSeconds"], probe["failureThreshold"], probe["successThreshold"]) == (7, 9, 2)


def test_restricted_security_context_with_writable_tmp():
    spec = api.deployment_spec(make_args(), "cm")
    pod, c = spec["template"]["spec"], container_of(spec)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for ctx in (pod["securityContext"], c["securityContext"]):
        assert ctx["runAsUser"] > 10000 and ctx["runAsGroup"] > 10000
    assert pod["securityContext"]["fsGroup"] > 10000
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["privileged"] is False
    assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"] == {"drop": ["ALL"]}
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert next(v for v in pod["volumes"] if v["name"] == "tmp")["emptyDir"]
    assert pod["automountServiceAccountToken"] is False and pod["serviceAccountName"] == "api"


def test_requests_limits_and_pull_policy():
    c = container_of(api.deployment_spec(make_args(), "cm"))
    # Issue 23: its /tmp (64Mi) and its logs (64Mi) are reserved and bounded like the data pods'.
    assert c["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi", "ephemeral-storage": "128Mi"},
                              "limits": {"cpu": "500m", "memory": "512Mi", "ephemeral-storage": "128Mi"}}
    assert c["imagePullPolicy"] == "Always"  # a tag without a digest


def test_digest_is_used_when_configured():
    digest = "sha256:" + "a" * 64
    c = container_of(api.deployment_spec(make_args("production", {"api": {"image": {"digest": digest}}}), "cm"))
    assert c["image"] == f"registry.example.com/platform/api-fpc:1.0.0@{digest}"


def test_pre_stop_uses_the_native_sleep_within_the_grace_period():
    spec = api.deployment_spec(make_args(), "cm")
    c = container_of(spec)
    assert c["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] == 30
    quiet = container_of(api.deployment_spec(make_args("production", {"api": {"preStopSleepSeconds": 0}}), "cm"))
    assert "lifecycle" not in quiet


def test_no_replicas_when_an_hpa_owns_them():
    production = api.deployment_spec(make_args("production"), "cm")
    assert "replicas" not in production
    assert api.deployment_spec(make_args("staging"), "cm")["replicas"] == 2
    assert api.deployment_spec(make_args("dev"), "cm")["replicas"] == 1


def test_hpa_spec_follows_the_seed():
    hpa = api.hpa_spec(make_args("production"), "api")
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 10)
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]}
    assert targets == {"cpu": 50, "memory": 70}
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300


def test_rolling_update_never_drops_below_the_replica_count():
    assert api.deployment_spec(make_args(), "cm")["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}
    }


def test_topology_spread_only_with_several_replicas():
    spread = api.deployment_spec(make_args("production"), "cm")["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert all(c["labelSelector"]["matchLabels"] == api.pod_selector(make_args()) for c in spread)
    assert "topologySpreadConstraints" not in api.deployment_spec(make_args("dev"), "cm")["template"]["spec"]


def test_data_volume_mounted_only_when_enabled_and_never_surged_onto_a_rwo_claim():
    assert all(v["name"] != "data" for v in api.pod_spec(make_args("dev"), "cm")["volumes"])
    single = api.deployment_spec(make_args("dev", {"api": {"persistence": {"enabled": True}}}), "cm")
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "api-data"}} in single["template"]["spec"]["volumes"]
    assert {"name": "data", "mountPath": "/app/data"} in container_of(single)["volumeMounts"]
    assert single["strategy"] == {"type": "Recreate"}
    rwx = {"api": {"persistence": {"enabled": True, "accessMode": "ReadWriteMany"}}}
    shared = api.deployment_spec(make_args("staging", rwx), "cm")
    assert shared["strategy"]["type"] == "RollingUpdate"


def test_database_and_cache_settings_arrive_by_reference():
    env = env_of(container_of(api.deployment_spec(make_args(), "cm")))
    assert env["DB_PASSWORD"] == {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": PG_SECRET, "key": "password"}}}
    assert env["REDIS_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": REDIS_SECRET, "key": "password"}}
    for key in ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "REDIS_HOST", "REDIS_PORT", "APP_NAME", "LOG_LEVEL"):
        assert env[key]["valueFrom"] == {"configMapKeyRef": {"name": "cm", "key": key}}
    assert all("value" not in e for e in env.values())


def test_config_map_holds_the_seed_keys_and_config_ini():
    raw = {"api": {"env": {"FEATURE_X": "on"}, "configIni": {"Application": {"Theme": "dark"}, "Cache": {"Ttl": "60"}},
                   "files": {"limits.json": "{}"}}}
    args = make_args("staging", raw)
    data = api.config_map_data(args)
    assert {k: data[k] for k in ("APP_NAME", "APP_VERSION", "LOG_LEVEL", "DATABASE_HOST", "DATABASE_PORT")} == {
        "APP_NAME": "api-fpc", "APP_VERSION": "1.0.0", "LOG_LEVEL": "INFO", "DATABASE_HOST": "postgres", "DATABASE_PORT": "5432"
    }
    assert (data["DB_NAME"], data["REDIS_PORT"], data["FEATURE_X"], data["limits.json"]) == ("myapp", "6379", "on", "{}")
    ini = data["config.ini"]
    assert "[Database]\nHost=postgres\nPort=5432\nName=myapp\nUser=app\n" in ini
    assert "[Application]\nName=api-fpc\nVersion=1.0.0\nLogLevel=INFO\nTheme=dark\n" in ini and "[Cache]\nTtl=60\n" in ini
    assert "password" not in ini.lower()
    pod = api.pod_spec(args, "cm")
    config_volume = next(v for v in pod["volumes"] if v["name"] == "config")
    assert {i["key"] for i in config_volume["configMap"]["items"]} == {"config.ini", "limits.json"}
    assert {"name": "config", "mountPath": "/app/config", "readOnly": True} in pod["containers"][0]["volumeMounts"]


def test_service_is_stable_and_targets_the_named_port():
    spec = api.service_spec(make_args())
    assert spec["type"] == "ClusterIP"
    assert spec["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    with_port = api.service_spec(make_args(raw={"api": {"metricsPort": 9090}}))
    assert with_port["ports"][1] == {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}
    assert spec["selector"] == {"app.kubernetes.io/name": "api", "app.kubernetes.io/instance": "production"}


def test_pdb_allows_evicting_unhealthy_pods():
    pdb = api.pdb_spec(make_args())
    assert pdb["maxUnavailable"] == 1 and pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert pdb["selector"]["matchLabels"] == api.pod_selector(make_args())


def test_ingress_policy_admits_the_controller_and_monitoring_only():
    policy = api.ingress_policy_spec(make_args("staging"))
    assert policy is not None
    controller, monitoring = policy["ingress"]
    assert controller["from"] == [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
    }]
    assert monitoring["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    # The controller reaches the app port only, Prometheus the port metrics are served on: the
    # seed's app serves them on its app port (the Ingress denies the path), others on their own.
    assert controller["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert monitoring["ports"] == [{"protocol": "TCP", "port": 8080}]
    own_port = api.ingress_policy_spec(make_args("production", {"api": {"metricsPort": 9090}}))
    assert own_port is not None and own_port["ingress"][1]["ports"] == [{"protocol": "TCP", "port": 9090}]
    # Dev exposes nothing through a controller; without monitoring there is nobody to admit.
    dev = api.ingress_policy_spec(make_args("dev"))
    assert dev is not None
    assert [r["from"] for r in dev["ingress"]] == [monitoring["from"]]
    assert api.ingress_policy_spec(make_args("dev", monitoring=None)) is None


def test_egress_policy_reaches_postgres_and_redis_only():
    policy = api.egress_policy_spec(make_args())
    assert policy["policyTypes"] == ["Egress"]
    assert policy["egress"] == [
        {"to": [{"podSelector": {"matchLabels": PG_PODS}}], "ports": [{"protocol": "TCP", "port": 5432}]},
        {"to": [{"podSelector": {"matchLabels": REDIS_PODS}}], "ports": [{"protocol": "TCP", "port": 6379}]},
    ]


def test_role_is_least_privilege():
    rules = api.role_rules(make_args(), "cm")
    assert all(r["verbs"] == ["get"] and r["resourceNames"] for r in rules)
    assert next(r for r in rules if r["resources"] == ["secrets"])["resourceNames"] == [PG_SECRET, REDIS_SECRET]


def test_outputs_name_the_service():
    args = make_args("dev")
    assert api.in_cluster_url("api", "dev") == "http://api.dev.svc.cluster.local"
    assert api.kubectl_hints("dev", "api")["portForward"] == "kubectl -n dev port-forward service/api 8080:80"
    target = api.metrics_target(args)
    assert (target.port, target.path, target.service_labels) == ("metrics", "/metrics", api.pod_selector(args))


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"env": {"DB_HOST": "elsewhere"}}, "platform:api.env: DB_HOST: set by the platform"),
        ({"files": {"config.ini": "x"}}, "platform:api.files: ['config.ini']"),
        ({"files": {"a/b": "x"}}, "platform:api.files: ['a/b']"),
        ({"configIni": {"Application": {"Name\n[Evil]": "x"}}}, "platform:api.configIni:"),
        ({"configIni": {"Application": {"Name": "x\nUser=root"}}}, "platform:api.configIni:"),
        ({"security": {"runAsUser": 0, "runAsGroup": 1}}, "platform:api.security.runAsUser:"),
    ],
)
def test_bad_api_settings_are_rejected_with_their_key(raw: dict[str, Any], key: str):
    with pytest.raises(ConfigError) as caught:
        load_config("dev", {"api": raw})
    assert any(p.startswith(key) for p in caught.value.problems), caught.value.problems


# ---------------------------------------------------------------- the whole program


def api_objects(run: Run) -> dict[str, Any]:
    """The service's objects by kind; its acknowledgements (explicitly named ConfigMaps) apart."""
    return {r.kind: r for r in run.kubernetes() if r.parent.endswith("ApiService::api") and not r.name.endswith("-ack")}


def test_every_stack_registers_a_complete_api(run: Run):
    objects = api_objects(run)
    assert {"ServiceAccount", "ConfigMap", "Deployment", "Service", "NetworkPolicy"} <= set(objects)
    deployment = objects["Deployment"]
    assert deployment.metadata["name"] == "api" and deployment.metadata["namespace"] == run.outputs["namespace"]
    assert deployment.metadata["annotations"] == {"checkov.io/skip1": api.CHECKOV_EXCEPTIONS["checkov.io/skip1"]}
    assert api.CHECKOV_EXCEPTIONS["checkov.io/skip1"].startswith("CKV_K8S_35=")  # the only exception, with its reason
    assert all(r.metadata.get("namespace") == run.outputs["namespace"] for r in objects.values())
    assert "name" not in objects["ConfigMap"].metadata  # auto-named: new content rolls the pods
    assert objects["ServiceAccount"].inputs["automountServiceAccountToken"] is False
    assert "Role" not in objects  # nobody asked for Kubernetes API access


def test_replicas_hpa_and_pdb_per_stack(runs: dict[str, Run]):
    expected = {"dev": (1, 0, 0), "pr-123": (1, 0, 0), "staging": (2, 0, 1), "production": (None, 1, 1)}
    for stack, (replicas, hpas, pdbs) in expected.items():
        run = runs[stack]
        assert run.one("Deployment", "api-deployment").spec.get("replicas") == replicas, stack
        assert len([r for r in run.of_kind("HorizontalPodAutoscaler") if r.name == "api-hpa"]) == hpas, stack
        assert len([r for r in run.of_kind("PodDisruptionBudget") if r.name == "api-pdb"]) == pdbs, stack


def secret_of(run: Run, owner: str) -> Registered:
    """The store's own generated Secret (auto-named; a store's binding Secrets have explicit names)."""
    (secret,) = [r for r in run.of_kind("Secret") if f":{owner}::" in r.parent and "name" not in r.metadata]
    return secret


def test_pods_get_database_and_cache_from_the_generated_secrets(run: Run):
    """secretKeyRef to the service's own Postgres binding and the Redis Secret, and no password value anywhere
    in the API's inputs; the Postgres superuser's Secret is referenced by nothing of the service."""
    # The mock names auto-named objects "<logical name>-<suffix>"; one Secret per data component.
    pg_super, redis_secret = (f"{secret_of(run, owner).name}-{AUTONAME_SUFFIX}" for owner in ("Postgres", "Redis"))
    deployment = run.one("Deployment", "api-deployment")
    env = env_of(deployment.spec["template"]["spec"]["containers"][0])
    for variable, key in (("DB_USER", "username"), ("DB_PASSWORD", "password"), ("DATABASE_URL", "uri")):
        assert env[variable]["valueFrom"]["secretKeyRef"] == {"name": "postgres-api-g1", "key": key}
    assert pg_super not in json.dumps(deployment.inputs)
    if run.of_kind("Secret", ) and not [r for r in run.of_kind("Secret") if r.name.startswith("redis-api")]:
        assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == redis_secret  # a shared password
    config_map = api_objects(run)["ConfigMap"]
    assert "DB_USER" not in config_map.inputs["data"]
    for key in ("DB_HOST", "DB_PORT", "DB_NAME", "REDIS_HOST", "REDIS_PORT"):
        assert env[key]["valueFrom"]["configMapKeyRef"] == {"name": f"{config_map.name}-{AUTONAME_SUFFIX}", "key": key}
        assert config_map.inputs["data"][key]
    for obj in api_objects(run).values():
        assert MOCK_PASSWORD_PREFIX not in json.dumps(obj.inputs), obj.name


def test_deployment_waits_for_the_data_layer(run: Run):
    deployment = run.one("Deployment", "api-deployment")
    waited = {run.by_urn(urn).kind for urn in deployment.depends_on}
    assert {"StatefulSet"} <= waited, deployment.depends_on
    statefulsets = {r.urn for r in run.of_kind("StatefulSet")}
    assert len(statefulsets & set(deployment.depends_on)) == 2


def test_outputs_give_urls_and_hints(runs: dict[str, Run]):
    for run in runs.values():
        ns = run.outputs["namespace"]
        assert run.outputs["apiUrl"] == f"http://api.{ns}.svc.cluster.local"
        assert run.outputs["kubectl"]["portForward"] == f"kubectl -n {ns} port-forward service/api 8080:80"
        assert run.outputs["kubectl"]["logs"].startswith(f"kubectl -n {ns} logs deployment/api")
        assert run.outputs["kubectl"]["rolloutStatus"] == f"kubectl -n {ns} rollout status deployment/api"
    assert runs["production"].outputs["publicUrl"] == "https://api.example.com/"
    assert runs["staging"].outputs["publicUrl"] == "https://api.staging.example.com/"
    assert runs["dev"].outputs["publicUrl"] is None


def test_rejected_api_config_registers_nothing():
    run = run_program("dev", {"api": {"env": {"DB_HOST": "elsewhere"}}})
    assert isinstance(run.error, ConfigError) and "platform:api.env: DB_HOST" in str(run.error)
    assert run.resources == []


def test_kubernetes_api_access_adds_a_named_get_only_role():
    run = run_program("dev", {"api": {"kubernetesApiAccess": True, "kubernetesApiEndpoints": ["172.18.0.2/32"]}})
    assert run.error is None, run.error
    role = run.one("Role", "api-role")
    assert all(rule["verbs"] == ["get"] and rule["resourceNames"] for rule in role.inputs["rules"])
    binding = run.one("RoleBinding", "api-role-binding")
    assert binding.inputs["subjects"] == [{"kind": "ServiceAccount", "name": "api", "namespace": "dev"}]
    assert run.one("Deployment", "api-deployment").spec["template"]["spec"]["automountServiceAccountToken"] is True


def test_kubernetes_api_access_reaches_the_api_server_or_is_refused():
    """Issue 23: a token and a Role, but the egress policy dropped every call to the API server."""
    with pytest.raises(ConfigError, match=r"platform:api.kubernetesApiEndpoints: api.kubernetesApiAccess needs"):
        load_config("dev", {"api": {"kubernetesApiAccess": True}})
    raw = {"api": {"kubernetesApiAccess": True, "kubernetesApiEndpoints": ["172.18.0.2/32"], "kubernetesApiPort": 6443}}
    run = run_program("dev", raw)
    assert run.error is None, run.error
    rules = run.one("NetworkPolicy", "api-allow-egress").spec["egress"]
    assert {"to": [{"ipBlock": {"cidr": "172.18.0.2/32"}}], "ports": [{"protocol": "TCP", "port": 6443}]} in rules
    # Without access, the API server stays out of reach.
    plain = run_program("dev").one("NetworkPolicy", "api-allow-egress").spec["egress"]
    assert not [rule for rule in plain if any("ipBlock" in peer for peer in rule["to"])]


# ---------------------------------------------------------------- instances and extra stores


def test_instance_name_names_every_object_and_selector():
    from dataclasses import replace

    worker = replace(make_args(), name="worker")
    spec = api.deployment_spec(worker, "cm")
    assert spec["selector"]["matchLabels"] == {"app.kubernetes.io/name": "worker", "app.kubernetes.io/instance": "production"}
    pod = spec["template"]["spec"]
    assert (pod["serviceAccountName"], pod["containers"][0]["name"]) == ("worker", "worker")
    assert api.metrics_target(worker).name == "worker" and api.metrics_target(worker).kind == "api"
    assert api.kubectl_hints("ns", "worker")["logs"].startswith("kubectl -n ns logs deployment/worker ")


def test_extra_databases_and_caches_get_variables_secrets_egress_and_rbac():
    from dataclasses import replace

    analytics_pods = {"app.kubernetes.io/name": "analytics-db", "app.kubernetes.io/instance": "ns"}
    analytics = postgres_connection("analytics-db", "analytics-secret", analytics_pods, database="events", user="reader")
    sessions = redis_connection("sessions", "sessions-secret", {"x": "sessions"})
    args = replace(make_args(), extra_databases=[analytics], extra_caches=[sessions])
    data = api.config_map_data(args)
    assert {k: data[k] for k in ("ANALYTICS_DB_HOST", "ANALYTICS_DB_PORT", "ANALYTICS_DB_NAME", "ANALYTICS_DB_USER")} == {
        "ANALYTICS_DB_HOST": "analytics-db", "ANALYTICS_DB_PORT": "5432", "ANALYTICS_DB_NAME": "events",
        "ANALYTICS_DB_USER": "reader",
    }
    assert (data["SESSIONS_HOST"], data["DB_HOST"]) == ("sessions", "postgres")  # the seed's variables: the first stores
    env = env_of(container_of(api.deployment_spec(args, "cm")))
    assert env["ANALYTICS_DB_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "analytics-secret", "key": "password"}}
    assert env["SESSIONS_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "sessions-secret", "key": "password"}}
    egress = api.egress_policy_spec(args)["egress"]
    assert [rule["to"][0]["podSelector"]["matchLabels"] for rule in egress] == [PG_PODS, REDIS_PODS, analytics_pods,
                                                                                 {"x": "sessions"}]
    secrets = api.role_rules(args, "cm")[1]["resourceNames"]
    assert secrets == [PG_SECRET, REDIS_SECRET, "analytics-secret", "sessions-secret"]


@pytest.mark.parametrize("bad", ["Api", "2nd-api", "api_v2", "api-", "a" * 41, "api\n"])
def test_an_instance_name_that_cannot_name_kubernetes_objects_is_refused(bad: str):
    from components.contracts import require

    with pytest.raises(ConfigError, match="1 to 40 lowercase letters"):
        require(api.ApiServiceArgs(environment=None, settings=None), api.ApiServiceArgs, "ApiService", bad)  # type: ignore[arg-type]
    require(api.ApiServiceArgs(environment=None, settings=None), api.ApiServiceArgs, "ApiService", "a" * 40)  # type: ignore[arg-type]


# ---------------------------------------------------------------- what mutation testing found unchecked (issue 25)


def test_hpa_metrics_and_scale_down_are_spelled_as_the_api_wants():
    """The API server matches these enums exactly ("resource" is no metric type)."""
    hpa = api.hpa_spec(make_args("production"), "api")
    assert [(m["type"], m["resource"]["target"]["type"]) for m in hpa["metrics"]] == [("Resource", "Utilization")] * 2
    assert hpa["behavior"]["scaleDown"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 60}]


def test_the_role_binding_binds_the_instance_role_to_its_account():
    run = run_program("dev", {"api": {"kubernetesApiAccess": True, "kubernetesApiEndpoints": ["172.18.0.2/32"]}})
    assert run.error is None, run.error
    binding = run.one("RoleBinding", "api-role-binding")
    assert binding.metadata["name"] == "api" == run.one("Role", "api-role").metadata["name"]
    assert binding.inputs["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "api"}


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_the_app_data_claim_is_sized_by_config_and_outlives_its_object(stack: str):
    run = run_program(stack, {"api": {"persistence": {"enabled": True, "accessMode": "ReadWriteMany", "size": "3Gi"}}})
    assert run.error is None, run.error
    claim = run.one("PersistentVolumeClaim", "api-data")
    assert claim.metadata["name"] == "api-data"
    assert claim.spec == {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "3Gi"}}}
    assert claim.retain_on_delete  # its own option: the ApiService component itself is not retained


def test_the_api_objects_carry_the_image_version(runs: dict[str, Run]):
    deployment = runs["staging"].one("Deployment", "api-deployment")
    tag = load_config("staging", {}).api.image.tag
    assert deployment.metadata["labels"]["app.kubernetes.io/version"] == tag
    assert deployment.spec["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == tag
