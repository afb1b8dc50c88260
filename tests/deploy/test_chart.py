"""The Helm chart, rendered without a cluster: lint, Kubernetes and CRD schemas, and the contracts
between the chart and coachline itself (pools file, CLI, queues, metrics, GPU pinning)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from broker.queues import CLOUD_QUEUE, ROUTER_QUEUE, pool_queue
from coachline.pools import parse_pools
from coachline.settings import Settings
from tests.deploy.support import (
    CHART,
    DOCKER,
    NAMESPACE,
    RELEASE,
    REPO,
    TWO_POOLS_VALUES,
    Rendered,
    containers,
    env_of,
    matches,
    parse_cli,
    pod_spec,
    render,
    render_error,
    run,
)
from workers.gpu import PinnedEngine, engine_argv, select_engine
from workers.loadpub import RUNNING, WAITING

CORE_API_GROUPS = ("v1", "apps/v1", "batch/v1")
# The oldest Kubernetes the chart declares (Chart.yaml kubeVersion) and a current one.
KUBERNETES_VERSIONS = ("1.25.0", "1.33.0")
TWO_POOLS = yaml.safe_load(TWO_POOLS_VALUES.read_text())


def test_lint(helm: str) -> None:
    for values in ([], ["-f", str(TWO_POOLS_VALUES)]):
        result = run([helm, "lint", "--strict", str(CHART), *values])
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_objects_match_the_kubernetes_schemas(
    rendered: Rendered, kubernetes_validate: str, version: str, tmp_path: Path
) -> None:
    core = [o for o in rendered.objects if o["apiVersion"] in CORE_API_GROUPS]
    path = tmp_path / "core.yaml"
    path.write_text(yaml.safe_dump_all(core))
    # --strict: a misspelt or misplaced field is an error, not silently dropped by the API server.
    result = run([kubernetes_validate, "--strict", "--kubernetes-version", version, str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout + result.stderr


def test_custom_resources_match_their_crds(two_pools: Rendered, crd_validator: tuple[str, str]) -> None:
    node, modules = crd_validator
    custom = [o for o in two_pools.objects if o["apiVersion"] not in CORE_API_GROUPS]
    assert {o["kind"] for o in custom} == {
        "ScaledObject",
        "TriggerAuthentication",
        "ServiceMonitor",
        "PrometheusRule",
    }
    script = Path(__file__).parent / "validate_crds.mjs"
    result = run([node, str(script), modules], stdin=json.dumps(custom))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [f"ok {o['kind']} {o['metadata']['name']}" for o in custom]


def test_crd_validator_rejects_a_broken_object(crd_validator: tuple[str, str]) -> None:
    """The validator is not a rubber stamp: a trigger without a type is refused."""
    node, modules = crd_validator
    broken = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {"scaleTargetRef": {"name": "x"}, "minReplicaCount": "1", "triggers": [{"metadata": {}}]},
    }
    result = run(
        [node, str(Path(__file__).parent / "validate_crds.mjs"), modules], stdin=json.dumps([broken])
    )
    assert result.returncode == 1
    assert "type" in result.stdout


# -- the pools file and GPU pinning ----------------------------------------------------------------


def pools_of(rendered: Rendered) -> list[str]:
    return [p["name"] for p in rendered.pools_file()["pools"]]


def test_pools_configmap_is_a_pools_file_coachline_accepts(rendered: Rendered) -> None:
    data = rendered.pools_file()
    config = parse_pools(data, source="chart ConfigMap")
    for pool in config.pools:
        service = rendered.get("Service", f"{RELEASE}-gpu-{pool.name}")
        engine_port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "engine")
        # Other roles reach a pool through its Service: one engine URL, in this namespace.
        assert [e.base_url for e in pool.engines] == [
            f"http://{RELEASE}-gpu-{pool.name}.{NAMESPACE}.svc:{engine_port}/v1"
        ]
    if config.cloud is not None:
        # Without sim_profile null, a missing key would be sent to OpenAI as "simulated".
        assert config.cloud.sim_profile is None
        assert data["cloud"]["sim_profile"] is None


def test_two_pools_file_carries_the_values(two_pools: Rendered) -> None:
    config = parse_pools(two_pools.pools_file())
    values = {p["name"]: p for p in TWO_POOLS["pools"]}
    assert [p.name for p in config.pools] == list(values)
    for pool in config.pools:
        assert pool.model == values[pool.name]["model"]
        assert pool.max_num_seqs == values[pool.name]["maxNumSeqs"]
        assert [t.value for t in pool.tiers] == values[pool.name]["tiers"]
    assert config.tenant_policy("acme-onprem").local_only
    assert config.tenant_policy("beta").private_to_cloud


def gpu_statefulset(rendered: Rendered, pool: str) -> dict[str, Any]:
    return rendered.get("StatefulSet", f"{RELEASE}-gpu-{pool}")


def test_one_gpu_worker_set_per_pool_one_a100_per_pod(rendered: Rendered) -> None:
    statefulsets = rendered.of_kind("StatefulSet")
    assert sorted(s["metadata"]["name"] for s in statefulsets) == sorted(
        f"{RELEASE}-gpu-{p}" for p in pools_of(rendered)
    )
    for pool in pools_of(rendered):
        sts = gpu_statefulset(rendered, pool)
        spec = pod_spec(sts)
        assert spec["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
        (worker,) = spec["containers"]
        assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert worker["resources"]["requests"]["nvidia.com/gpu"] == 1
        # The pod's one GPU is device 0 inside it: the worker is always --gpu 0.
        path, params = parse_cli(worker["args"])
        assert path == ["coachline", "worker"]
        assert params["role"] == "gpu" and params["pool_name"] == pool and params["gpu"] == 0
        assert not params["attach"]
        # The model load may take the whole start-up budget before liveness applies.
        budget_s = int(env_of(worker)["COACHLINE_ENGINE_STARTUP_TIMEOUT_S"]["value"])
        startup = worker["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= budget_s
        assert startup["httpGet"]["path"] == "/health"
        # SIGTERM drains: in-flight generations finish (up to the engine timeout), then the engine stops.
        fields = Settings.model_fields
        drain_s = fields["engine_timeout_s"].default + fields["engine_stop_timeout_s"].default
        assert spec["terminationGracePeriodSeconds"] > drain_s


def test_gpu_pod_pools_file_pins_the_engine_the_pod_runs(rendered: Rendered, tmp_path: Path) -> None:
    """Run the init container's command (docker/pod-pools.py) on the rendered ConfigMap, as the pod
    would, and check that the worker's own engine selection lands on the pod's engine."""
    cluster_file = tmp_path / "pools.yaml"
    cluster_file.write_text(rendered.get("ConfigMap", f"{RELEASE}-pools")["data"]["pools.yaml"])
    for number, pool in enumerate(pools_of(rendered)):
        sts = gpu_statefulset(rendered, pool)
        (init,) = pod_spec(sts)["initContainers"]
        (worker,) = pod_spec(sts)["containers"]
        pod_ip = f"10.0.0.{number + 7}"
        args = [a.replace("$(POD_IP)", pod_ip) for a in init["args"]]
        assert args[0] == "coachline-pod-pools"
        options = dict(a.removeprefix("--").split("=", 1) for a in args[1:])
        assert options["pools-file"].startswith("/etc/coachline/")
        out = tmp_path / f"pod-{pool}.yaml"
        result = run(
            [sys.executable, str(DOCKER / "pod-pools.py"), f"--pools-file={cluster_file}"]
            + [f"--{k}={v}" for k, v in options.items() if k not in ("pools-file", "output")]
            + [f"--output={out}"]
        )
        assert result.returncode == 0, result.stderr
        # The worker reads the file the init container wrote.
        assert env_of(worker)["COACHLINE_POOLS_FILE"]["value"] == options["output"]
        assert any(m["mountPath"] == str(Path(options["output"]).parent) for m in worker["volumeMounts"]), (
            "the worker does not mount the init container's output"
        )
        pinned = select_engine(parse_pools(yaml.safe_load(out.read_text())), pool, 0)
        engine_port = next(p["containerPort"] for p in worker["ports"] if p["name"] == "engine")
        assert pinned.engine.base_url == f"http://{pod_ip}:{engine_port}/v1"
        assert pinned.port == engine_port
        # Every other pool is still reached through its Service.
        others = [p for p in parse_pools(yaml.safe_load(out.read_text())).pools if p.name != pool]
        assert all(e.base_url.startswith(f"http://{RELEASE}-gpu-") for p in others for e in p.engines)
        assert env_of(init)["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"


def test_engine_command_fills_in_and_keeps_vllm_out_of_the_metrics_dir(two_pools: Rendered) -> None:
    config = parse_pools(two_pools.pools_file())
    for pool_values in TWO_POOLS["pools"]:
        pool = config.pool(pool_values["name"])
        (worker,) = pod_spec(gpu_statefulset(two_pools, pool.name))["containers"]
        template = env_of(worker)["COACHLINE_ENGINE_COMMAND"]["value"]
        pinned = PinnedEngine(
            pool, pool.engines[0].model_copy(update={"base_url": "http://10.0.0.9:8000/v1"}), 0
        )
        argv = engine_argv(template, pinned)
        # vLLM must not inherit PROMETHEUS_MULTIPROC_DIR: its series would be served twice.
        assert argv[:5] == ["env", "-u", "PROMETHEUS_MULTIPROC_DIR", "vllm", "serve"]
        assert argv[5] == pool.model
        assert argv[argv.index("--port") + 1] == "8000"
        assert argv[argv.index("--max-num-seqs") + 1] == str(pool.max_num_seqs)
        extra = pool_values.get("engineArgs", [])
        if extra:
            assert argv[-len(extra) :] == extra


# -- the CLI, images and hardening -----------------------------------------------------------------


def test_every_coachline_command_parses_with_the_cli(rendered: Rendered) -> None:
    seen = set()
    for workload in rendered.workloads():
        for container in containers(workload):
            args = container.get("args", [])
            assert "command" not in container, "keep the image's entrypoint (tini, metrics dir reset)"
            if args and args[0] == "coachline":
                path, params = parse_cli(args)
                seen.add(" ".join(path[1:]) + (f" {params['role']}" if "role" in params else ""))
                if "metrics_port" in params and params["metrics_port"] is not None:
                    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
                    assert ports.get("metrics") == params["metrics_port"], container["name"]
    expected = {"api", "worker router", "worker scheduler", "worker gpu", "beat", "db upgrade"}
    if rendered.pools_file().get("cloud"):
        expected.add("worker cloud")
    assert seen == expected


def test_images_are_pinned_and_workloads_hardened(rendered: Rendered) -> None:
    for workload in rendered.workloads():
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        for container in containers(workload):
            name = f"{workload['metadata']['name']}/{container['name']}"
            repo, _, tag = container["image"].rpartition(":")
            assert repo and tag and tag != "latest" and "/" not in tag, name
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            # vLLM, torch and triton write caches inside the image; everything else is read-only.
            expected_ro = not (workload["kind"] == "StatefulSet" and container["name"] == "worker")
            assert security["readOnlyRootFilesystem"] is expected_ro, name
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{name} {kind}"
            if container["image"].split("/")[-1].startswith(("coachline-api", "coachline-worker")):
                mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
                assert "/tmp" in mounts, name


def test_metrics_directory_is_an_emptydir_in_memory(rendered: Rendered) -> None:
    """PROMETHEUS_MULTIPROC_DIR of the images (/run/coachline/metrics) is a tmpfs in every role."""
    for workload in rendered.workloads():
        volumes = {v["name"]: v for v in pod_spec(workload).get("volumes", [])}
        for container in pod_spec(workload)["containers"]:
            mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/run/coachline/metrics")
            assert volumes[mount["name"]]["emptyDir"]["medium"] == "Memory"


def test_probes(rendered: Rendered) -> None:
    api = rendered.get("Deployment", f"{RELEASE}-api")
    (container,) = pod_spec(api)["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    # Not /healthz: a database outage must not restart every API pod.
    assert container["livenessProbe"]["httpGet"]["path"] == "/metrics"
    for deployment in rendered.of_kind("Deployment"):
        if deployment["metadata"]["name"] == f"{RELEASE}-api":
            continue
        (container,) = pod_spec(deployment)["containers"]
        probe = container["livenessProbe"]["httpGet"]
        assert probe == {"path": "/metrics", "port": "metrics"}, deployment["metadata"]["name"]
    for pool in pools_of(rendered):
        (worker,) = pod_spec(gpu_statefulset(rendered, pool))["containers"]
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert worker[kind]["httpGet"] == {"path": "/health", "port": "engine"}


def test_beat_is_one_replica_replaced_with_recreate(helm: str, rendered: Rendered) -> None:
    for beat in (
        rendered.get("Deployment", f"{RELEASE}-beat"),
        render(helm, sets=["beat.replicas=3"]).get("Deployment", f"{RELEASE}-beat"),
    ):
        assert beat["spec"]["replicas"] == 1
        assert beat["spec"]["strategy"] == {"type": "Recreate"}
        (container,) = pod_spec(beat)["containers"]
        path, params = parse_cli(container["args"])
        assert path == ["coachline", "beat"]
        schedule_dir = str(Path(params["schedule_file"]).parent)
        assert any(m["mountPath"] == schedule_dir for m in container["volumeMounts"])


def test_migrations_are_a_pre_install_and_pre_upgrade_hook(rendered: Rendered) -> None:
    (job,) = rendered.of_kind("Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    (container,) = pod_spec(job)["containers"]
    assert parse_cli(container["args"])[0] == ["coachline", "db", "upgrade"]
    # Hooks run before the release's objects exist: the Job may use none of them.
    assert pod_spec(job)["serviceAccountName"] == "default"
    secret_name = env_of(container)["COACHLINE_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"]
    created = {s["metadata"]["name"]: s for s in rendered.of_kind("Secret")}
    if secret_name in created:
        hook = created[secret_name]["metadata"].get("annotations", {})
        assert hook.get("helm.sh/hook") == annotations["helm.sh/hook"], "the Job's Secret must be a hook too"
        assert int(hook["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])
        assert "database-url" in created[secret_name]["stringData"]


def test_secret_references_resolve(rendered: Rendered) -> None:
    created = {s["metadata"]["name"]: s for s in rendered.of_kind("Secret")}
    chart_secret = f"{RELEASE}-secrets"
    for workload in rendered.workloads():
        for container in containers(workload):
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                if ref["name"] in created:
                    keys = created[ref["name"]]["stringData"]
                    assert ref.get("optional") or ref["key"] in keys, f"{entry['name']}: no key {ref['key']}"
                else:
                    # Not created by the chart (secrets.create false): the Secret the values name.
                    assert ref["name"] == chart_secret and chart_secret not in created, ref


def test_services_select_pods_and_their_ports(rendered: Rendered) -> None:
    pods = [
        (w["spec"]["template"]["metadata"]["labels"], containers(w, init=False)) for w in rendered.workloads()
    ]
    for service in rendered.of_kind("Service"):
        selected = [cs for labels, cs in pods if matches(service["spec"]["selector"], labels)]
        assert selected, f"Service {service['metadata']['name']} selects no pod"
        for port in service["spec"]["ports"]:
            for group in selected:
                names = {p["name"] for c in group for p in c.get("ports", [])}
                assert port["targetPort"] in names, (service["metadata"]["name"], port)


def test_gpu_statefulsets_are_governed_by_their_service(rendered: Rendered) -> None:
    for sts in rendered.of_kind("StatefulSet"):
        service = rendered.get("Service", sts["spec"]["serviceName"])
        assert matches(service["spec"]["selector"], sts["spec"]["template"]["metadata"]["labels"])
        assert sts["spec"]["podManagementPolicy"] == "Parallel"


def test_pod_annotations_roll_pods_when_the_pools_file_changes(
    helm: str, default_render: Rendered, tmp_path: Path
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"pools": [pool(maxNumSeqs=128)]}))
    changed = render(helm, values)
    for name in (f"{RELEASE}-api", f"{RELEASE}-router"):
        before = default_render.get("Deployment", name)["spec"]["template"]["metadata"]["annotations"]
        after = changed.get("Deployment", name)["spec"]["template"]["metadata"]["annotations"]
        assert before["checksum/pools"] != after["checksum/pools"]


# -- autoscaling and monitoring --------------------------------------------------------------------


def test_keda_off_renders_fixed_replicas(default_render: Rendered) -> None:
    assert not default_render.of_kind("ScaledObject")
    for deployment in default_render.of_kind("Deployment"):
        assert "replicas" in deployment["spec"], deployment["metadata"]["name"]
    for sts in default_render.of_kind("StatefulSet"):
        assert sts["spec"]["replicas"] >= 1


def trigger(scaled: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [t for t in scaled["spec"]["triggers"] if t["type"] == kind]
    return found


def test_keda_scales_router_cloud_and_pools_on_their_queues(two_pools: Rendered) -> None:
    scaled = {s["metadata"]["name"]: s for s in two_pools.of_kind("ScaledObject")}
    expected = {f"{RELEASE}-router": ROUTER_QUEUE, f"{RELEASE}-cloud": CLOUD_QUEUE}
    expected |= {f"{RELEASE}-gpu-{p}": pool_queue(p) for p in pools_of(two_pools)}
    assert set(scaled) == set(expected)
    redis_address = TWO_POOLS["keda"]["redis"]["address"]
    for name, queue in expected.items():
        target = scaled[name]["spec"]["scaleTargetRef"]
        workload = two_pools.get(target["kind"], target["name"])
        # KEDA owns the replica count: the chart must not reset it on every upgrade.
        assert "replicas" not in workload["spec"], name
        redis = trigger(scaled[name], "redis")["metadata"]
        # kombu's Redis transport keeps queue Q as the list Q.
        assert redis["listName"] == queue
        assert redis["address"] == redis_address
        assert all(isinstance(v, str) for v in redis.values()), "trigger metadata values are strings"
        assert trigger(scaled[name], "redis")["authenticationRef"]["name"] == f"{RELEASE}-redis"


def test_gpu_pools_scale_on_the_engines_load(two_pools: Rendered) -> None:
    engines_monitor = two_pools.get("ServiceMonitor", f"{RELEASE}-engines")
    (endpoint,) = engines_monitor["spec"]["endpoints"]
    relabelled = {r["targetLabel"] for r in endpoint.get("relabelings", [])}
    for values in TWO_POOLS["pools"]:
        scaled = two_pools.get("ScaledObject", f"{RELEASE}-gpu-{values['name']}")
        prometheus = trigger(scaled, "prometheus")["metadata"]
        query = prometheus["query"]
        # The metric names the workers themselves read from vLLM.
        assert WAITING in query and RUNNING in query
        selectors = re.findall(r"\{([^}]*)\}", query)
        for selector in selectors:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', selector))
            assert labels == {"namespace": NAMESPACE, "coachline_pool": values["name"]}
        assert "coachline_pool" in relabelled, "the query's label comes from the engines' ServiceMonitor"
        expected = values.get("autoscaling", {}).get("targetLoadPerReplica") or values["maxNumSeqs"] * 3 // 4
        assert prometheus["threshold"] == str(expected)
        assert scaled["spec"]["minReplicaCount"] == values["autoscaling"]["minReplicas"]
        assert scaled["spec"]["maxReplicaCount"] == values["autoscaling"]["maxReplicas"]
        behavior = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 300


def test_service_monitors_find_services_with_their_port(two_pools: Rendered) -> None:
    services = two_pools.of_kind("Service")
    monitors = {m["metadata"]["name"]: m for m in two_pools.of_kind("ServiceMonitor")}
    covered = set()
    for name, monitor in monitors.items():
        selected = [
            s
            for s in services
            if matches(monitor["spec"]["selector"]["matchLabels"], s["metadata"].get("labels", {}))
        ]
        assert selected, f"ServiceMonitor {name} selects no Service"
        assert monitor["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]
        for endpoint in monitor["spec"]["endpoints"]:
            with_port = [s for s in selected if endpoint["port"] in {p["name"] for p in s["spec"]["ports"]}]
            assert with_port, f"{name}: no selected Service has port {endpoint['port']}"
            covered |= {s["metadata"]["name"] for s in with_port}
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    # Every role is scraped: API, router, cloud, scheduler, beat and every pool's workers and engines.
    assert covered == {s["metadata"]["name"] for s in services}
    engine_services = {
        s["metadata"]["name"]
        for s in services
        if matches(monitors[f"{RELEASE}-engines"]["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
    }
    assert engine_services == {f"{RELEASE}-gpu-{p}" for p in pools_of(two_pools)}


def test_prometheus_rule_is_the_exported_rules_file(two_pools: Rendered, default_render: Rendered) -> None:
    (rule,) = two_pools.of_kind("PrometheusRule")
    exported = yaml.safe_load((CHART / "files" / "prometheus-rules.yaml").read_text())
    assert rule["spec"] == exported
    assert not default_render.of_kind("PrometheusRule")


# -- values the chart refuses ----------------------------------------------------------------------


def pool(**overrides: object) -> dict[str, object]:
    return {"name": "fast", "model": "m", "maxNumSeqs": 8, "tiers": ["LOCAL_FAST"], **overrides}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"pools": [pool(name="Fast_Pool")]}, "pools.0.name: Does not match pattern"),
        ({"pools": [pool(tiers=["CLOUD_ENHANCED"])]}, "pools.0.tiers.0"),
        ({"pools": []}, "pools: Array must have at least 1 items"),
        ({"pools": [pool(maxNumseqs=8)]}, "Additional property maxNumseqs is not allowed"),
        ({"image": {"tag": "latest"}}, "image.tag"),
        ({"keda": {"enabled": True}}, "keda.redis.address"),
        ({"secrets": {"create": True}}, "secrets.values.databaseUrl"),
        ({"gpu": {"modelCache": {"type": "hostPath"}}}, "modelCache"),
        ({"fullnameOverride": "a-release-name-long-enough-to-break-statefulset-pods"}, "52 characters"),
    ],
)
def test_refuses_values_that_cannot_work(
    helm: str, tmp_path: Path, values: dict[str, object], message: str
) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    assert message in render_error(helm, path)


def test_refuses_a_pool_listed_twice(helm: str, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"pools": [pool(), pool()]}))
    assert "listed twice" in render_error(helm, values)


def test_no_cloud_means_no_cloud_worker_and_no_key(helm: str) -> None:
    rendered = render(helm, sets=["cloud.enabled=false"])
    assert "cloud" not in rendered.pools_file()
    assert f"{RELEASE}-cloud" not in {d["metadata"]["name"] for d in rendered.of_kind("Deployment")}
    for workload in rendered.workloads():
        for container in containers(workload):
            assert "OPENAI_API_KEY" not in env_of(container)


def test_only_roles_that_call_the_cloud_get_its_key(two_pools: Rendered) -> None:
    holders = {
        w["metadata"]["name"]
        for w in two_pools.workloads()
        for c in containers(w)
        if "OPENAI_API_KEY" in env_of(c)
    }
    # Cloud generations, local->cloud fallback on the GPU workers, the scheduler's cloud judge.
    assert holders == {f"{RELEASE}-cloud", f"{RELEASE}-scheduler"} | {
        f"{RELEASE}-gpu-{p}" for p in pools_of(two_pools)
    }


def test_readme_documents_the_chart() -> None:
    readme = (REPO / "README.md").read_text()
    assert "## Deployment" in readme
    for path in (
        "helm/coachline/ci/two-pools-values.yaml",
        "tests/deploy/install-tools.sh",
        "update-rules.sh",
    ):
        assert path in readme


def test_model_cache_as_emptydir(helm: str, kubernetes_validate: str, tmp_path: Path) -> None:
    rendered = render(helm, TWO_POOLS_VALUES, sets=["gpu.modelCache.type=emptyDir"])
    for values in TWO_POOLS["pools"]:
        sts = gpu_statefulset(rendered, values["name"])
        assert "volumeClaimTemplates" not in sts["spec"]
        volumes = {v["name"]: v for v in pod_spec(sts)["volumes"]}
        expected = values.get("modelCacheSize", "100Gi")
        assert volumes["model-cache"]["emptyDir"] == {"sizeLimit": expected}
    path = tmp_path / "core.yaml"
    path.write_text(yaml.safe_dump_all([o for o in rendered.objects if o["apiVersion"] in CORE_API_GROUPS]))
    result = run(
        [kubernetes_validate, "--strict", "--kubernetes-version", KUBERNETES_VERSIONS[-1], str(path)]
    )
    assert result.returncode == 0, result.stdout + result.stderr
