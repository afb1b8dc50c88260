"""The images, without a Docker engine: hadolint, the Dockerfiles' structure, the build context
.dockerignore lets through (built into a wheel here), the entrypoint and the GPU pods' pools
script, and what the chart expects of the images."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.deploy.support import (
    CHART,
    DOCKER,
    DOCKERFILES,
    ON_CI,
    REPO,
    DockerIgnore,
    Instruction,
    Rendered,
    arg_defaults,
    dockerfile,
    env_of,
    env_values,
    parse_cli,
    pod_spec,
    run,
    stages,
)

SCRIPTS = [
    DOCKER / "entrypoint.sh",
    CHART / "update-rules.sh",
    REPO / "tests" / "deploy" / "install-tools.sh",
]
METRICS_DIR = "/run/coachline/metrics"
ENTRYPOINT = ["/usr/bin/tini", "--", "/usr/local/bin/coachline-entrypoint"]


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_hadolint(hadolint: str, name: str) -> None:
    result = run([hadolint, str(DOCKERFILES[name])])
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck(shellcheck: str) -> None:
    result = run([shellcheck, *map(str, SCRIPTS)])
    assert result.returncode == 0, result.stdout + result.stderr


def final_stage(name: str) -> list[Instruction]:
    return stages(dockerfile(DOCKERFILES[name]))[-1]


def resolve_image(reference: str, defaults: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], reference)


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_images_are_multi_stage_pinned_and_non_root(name: str) -> None:
    instructions = dockerfile(DOCKERFILES[name])
    defaults = arg_defaults(instructions)
    all_stages = stages(instructions)
    assert len(all_stages) >= 2, "build in one stage, run in another"
    for stage in all_stages:
        image = resolve_image(stage[0].args.split()[0], defaults)
        repo, _, tag = image.rpartition(":")
        assert repo and re.fullmatch(r"v?\d+\.\d+(\.\d+)*[\w.-]*", tag), f"{image}: pin a version tag"
    final = all_stages[-1]
    users = [i for i in final if i.keyword == "USER"]
    assert users and users[-1].args == "10001:10001"
    assert final.index(users[-1]) > max(i for i, ins in enumerate(final) if ins.keyword == "RUN")
    assert any(i.keyword == "HEALTHCHECK" for i in final)
    entrypoint = next(i for i in final if i.keyword == "ENTRYPOINT")
    assert entrypoint.json_args() == ENTRYPOINT
    assert any(i.keyword == "COPY" and "tini-static /usr/bin/tini" in i.args for i in final)
    # prometheus-client's multiprocess directory: set, created for the user, and where the chart
    # mounts its in-memory emptyDir.
    assert env_values(final)["PROMETHEUS_MULTIPROC_DIR"] == METRICS_DIR
    assert any(i.keyword == "RUN" and "install -d" in i.args and METRICS_DIR in i.args for i in final)


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_project_is_installed_not_linked_and_without_pip_cache(name: str) -> None:
    installs = [
        i.args
        for i in dockerfile(DOCKERFILES[name])
        if i.keyword == "RUN" and re.search(r"pip (install|wheel)", i.args)
    ]
    assert installs
    for command in installs:
        for part in re.split(r"&&|;", command):
            if re.search(r"pip (install|wheel)", part):
                assert "--no-cache-dir" in part, part
                assert not re.search(r"\s(-e|--editable)\s", part), part


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_default_command_parses_with_the_cli(name: str) -> None:
    cmd = next(i for i in final_stage(name) if i.keyword == "CMD").json_args()
    assert cmd is not None, "CMD in exec form"
    path, params = parse_cli(cmd)
    expected = {
        "api": ["coachline", "api"],
        "worker": ["coachline", "worker"],
        "gpu": ["coachline", "worker"],
    }
    assert path == expected[name]
    exposed = {int(p) for i in final_stage(name) if i.keyword == "EXPOSE" for p in i.args.split()}
    if name == "api":
        assert params["port"] in exposed
    elif name == "worker":
        assert params["role"] == "router" and params["metrics_port"] in exposed
    else:
        assert params == {"help": True}  # the pool and GPU are the deployer's to give
        assert exposed == {8000, 9100}


def test_gpu_image_keeps_vllm_and_coachline_apart() -> None:
    instructions = dockerfile(DOCKERFILES["gpu"])
    final = stages(instructions)[-1]
    image = resolve_image(final[0].args.split()[0], arg_defaults(instructions))
    assert re.fullmatch(r"vllm/vllm-openai:v\d+\.\d+\.\d+", image)
    env = env_values(final)
    # coachline's venv stays off PATH, so `python3` and `vllm` are the image's own.
    assert "PATH" not in env
    assert any(
        i.keyword == "RUN" and "ln -s /opt/coachline/bin/coachline /usr/local/bin/coachline" in i.args
        for i in final
    )
    # The same engine command as the chart's default, which keeps vLLM out of the metrics dir.
    chart_default = yaml.safe_load((CHART / "values.yaml").read_text())["gpu"]["engineCommand"]
    assert env["COACHLINE_ENGINE_COMMAND"] == chart_default
    assert chart_default.startswith("env -u PROMETHEUS_MULTIPROC_DIR vllm serve {model} --port {port}")


def test_chart_uses_what_the_images_provide(default_render: Rendered) -> None:
    gpu_final = final_stage("gpu")
    hf_home = env_values(gpu_final)["HF_HOME"]
    installed = {i.args.split()[-1] for i in gpu_final if i.keyword == "COPY"}
    sts = default_render.of_kind("StatefulSet")[0]
    (init,) = pod_spec(sts)["initContainers"]
    assert f"/usr/local/bin/{init['args'][0]}" in installed
    (worker,) = pod_spec(sts)["containers"]
    assert {"name": "model-cache", "mountPath": hf_home} in worker["volumeMounts"]
    for workload in default_render.workloads():
        for container in pod_spec(workload)["containers"]:
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert METRICS_DIR in mounts, workload["metadata"]["name"]
            assert env_of(container)["COACHLINE_LOG_JSON"]["value"] == "true"


# -- the build context -------------------------------------------------------------------------------


def context_files() -> list[str]:
    return list(DockerIgnore((REPO / ".dockerignore").read_text()).context_files(REPO))


def test_dockerignore_sends_only_what_the_images_install() -> None:
    files = context_files()
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    wanted = {p.rstrip("*") for p in packages["include"]}
    top = {f.split("/")[0] for f in files}
    assert top == wanted | {"pyproject.toml", "README.md", "docker"}, "a package missing from the context?"
    assert {f for f in files if f.startswith("docker/")} == {"docker/entrypoint.sh", "docker/pod-pools.py"}
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    # Whatever a Dockerfile copies from the context is in it.
    for name, path in DOCKERFILES.items():
        for ins in dockerfile(path):
            if ins.keyword == "COPY" and "--from=" not in ins.args:
                sources = [a for a in ins.args.split()[:-1] if not a.startswith("--")]
                for source in sources:
                    assert source == "." or source in files, f"{name}: COPY {source} is not in the context"


@pytest.mark.slow
def test_build_context_builds_a_complete_wheel(tmp_path: Path) -> None:
    """What `COPY . /src && pip install /src` gets: the context .dockerignore lets through, built."""
    context = tmp_path / "context"
    for rel in context_files():
        (context / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, context / rel)
    wheels = tmp_path / "wheels"
    # With build isolation, as in the image: the build backend (setuptools>=68) comes from PyPI.
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-cache-dir",
            "--wheel-dir",
            str(wheels),
            str(context),
        ],
        timeout=300,
        capture_output=True,
        text=True,
    )
    if (
        built.returncode != 0
        and not ON_CI
        and "No matching distribution found for setuptools" in built.stderr
    ):
        pytest.skip("PyPI is not reachable for the build backend")
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("coachline-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "migrations/alembic.ini",
        "migrations/env.py",
        "scheduler/alerts/rules.yaml",
        "coachline/data/pools.embedded.yaml",
        "coachline/cli/__init__.py",
        "workers/gpu.py",
    ):
        assert needed in names, f"the image would lack {needed}"
    versions = {n for n in names if n.startswith("migrations/versions/") and n.endswith(".py")}
    assert versions == {
        f"migrations/versions/{p.name}" for p in (REPO / "migrations" / "versions").glob("*.py")
    }


# -- scripts the images run ------------------------------------------------------------------------


def test_entrypoint_empties_the_metrics_dir_and_execs(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "counter_12.db").write_bytes(b"stale")
    (metrics / "gauge_mostrecent_12.db").write_bytes(b"stale")
    result = subprocess.run(
        ["sh", str(DOCKER / "entrypoint.sh"), "sh", "-c", 'ls -A "$PROMETHEUS_MULTIPROC_DIR"; exit 7'],
        env={"PATH": "/usr/bin:/bin", "PROMETHEUS_MULTIPROC_DIR": str(metrics)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 7  # exec: the role's exit code is the container's
    assert result.stdout == ""
    created = tmp_path / "new" / "dir"
    done = subprocess.run(
        ["sh", str(DOCKER / "entrypoint.sh"), "true"],
        env={"PATH": "/usr/bin:/bin", "PROMETHEUS_MULTIPROC_DIR": str(created)},
        timeout=30,
    )
    assert done.returncode == 0 and created.is_dir()


def test_pod_pools_refuses_an_unknown_pool(tmp_path: Path) -> None:
    pools = tmp_path / "pools.yaml"
    pools.write_text(
        yaml.safe_dump(
            {
                "pools": [
                    {"name": "fast", "model": "m", "engines": ["http://svc:8000/v1"], "tiers": ["LOCAL_FAST"]}
                ]
            }
        )
    )
    out = tmp_path / "out.yaml"
    result = run(
        [
            sys.executable,
            str(DOCKER / "pod-pools.py"),
            f"--pools-file={pools}",
            "--pool=slow",
            "--engine-url=http://10.0.0.1:8000/v1",
            f"--output={out}",
        ]
    )
    assert result.returncode == 2
    assert "no pool 'slow'" in result.stderr and "fast" in result.stderr
    assert not out.exists()


def test_pod_pools_refuses_an_engine_url_coachline_would_refuse(tmp_path: Path) -> None:
    pools = tmp_path / "pools.yaml"
    pools.write_text(
        yaml.safe_dump(
            {
                "pools": [
                    {"name": "fast", "model": "m", "engines": ["http://svc:8000/v1"], "tiers": ["LOCAL_FAST"]}
                ]
            }
        )
    )
    result = run(
        [
            sys.executable,
            str(DOCKER / "pod-pools.py"),
            f"--pools-file={pools}",
            "--pool=fast",
            "--engine-url=10.0.0.1:8000",
            f"--output={tmp_path / 'out.yaml'}",
        ]
    )
    assert result.returncode == 2
    assert "must start with http://" in result.stderr
