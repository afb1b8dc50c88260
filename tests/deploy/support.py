"""Helpers for the deployment tests: the chart's rendered objects, the Dockerfiles as instructions,
.dockerignore matching and the coachline CLI's own parser."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "coachline"
TWO_POOLS_VALUES = CHART / "ci" / "two-pools-values.yaml"
DOCKER = REPO / "docker"
DOCKERFILES = {
    "api": DOCKER / "api.Dockerfile",
    "worker": DOCKER / "worker.Dockerfile",
    "gpu": DOCKER / "gpu.Dockerfile",
}
TOOLS = Path(os.environ.get("COACHLINE_DEPLOY_TOOLS", Path(__file__).parent / ".tools"))
NAMESPACE = "coachline"
RELEASE = "coachline"
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def find_tool(name: str) -> str | None:
    """``name`` from tests/deploy/.tools/bin (install-tools.sh), else from PATH."""
    local = TOOLS / "bin" / name
    if local.exists() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which(name)


def run(
    argv: Sequence[str], *, stdin: str | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), input=stdin, capture_output=True, text=True, cwd=cwd, timeout=120)


# -- the chart -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """The objects of one `helm template`, with lookups the tests share."""

    text: str
    objects: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        names = [o["metadata"]["name"] for o in self.of_kind(kind)]
        assert found, f"no {kind} {name} in the rendered chart (have: {names})"
        return found[0]

    def workloads(self) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] in ("Deployment", "StatefulSet", "Job")]

    def pools_file(self) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load(self.get("ConfigMap", f"{RELEASE}-pools")["data"]["pools.yaml"])
        return data


def render(helm: str, *values: Path, sets: Sequence[str] = ()) -> Rendered:
    argv = [helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for path in values:
        argv += ["-f", str(path)]
    for item in sets:
        argv += ["--set", item]
    result = run(argv)
    assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return Rendered(result.stdout, objects)


def render_error(helm: str, *values: Path, sets: Sequence[str] = ()) -> str:
    """The error of a `helm template` expected to fail."""
    argv = [helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for path in values:
        argv += ["-f", str(path)]
    for item in sets:
        argv += ["--set", item]
    result = run(argv)
    assert result.returncode != 0, f"helm template succeeded with {sets}; it should have refused them"
    return result.stderr


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def containers(workload: dict[str, Any], *, init: bool = True) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    found: list[dict[str, Any]] = list(spec.get("containers", []))
    if init:
        found += spec.get("initContainers", [])
    return found


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Environment entries by name (duplicates are an error: Kubernetes keeps the last one silently)."""
    names = [e["name"] for e in container.get("env", [])]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"container {container['name']} sets {duplicates} twice"
    return {e["name"]: e for e in container.get("env", [])}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# -- the coachline command -----------------------------------------------------------------------


def parse_cli(argv: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    """Parse ``coachline ...`` with the real CLI's parser, without running it: the command path and
    its parameters. Raises click's UsageError/BadParameter for what the CLI would refuse."""
    from coachline.cli import cli

    args = list(argv)
    assert args and args[0] == "coachline", f"not a coachline command: {args}"
    args = args[1:]
    command: click.Command = cli
    path = ["coachline"]
    while isinstance(command, click.Group):
        assert args, f"{' '.join(path)} needs a subcommand"
        sub = command.get_command(click.Context(command), args[0])
        assert sub is not None, f"{' '.join(path)} has no command {args[0]!r}"
        path.append(args[0])
        command, args = sub, args[1:]
    try:
        ctx = command.make_context(" ".join(path), args)
    except click.exceptions.Exit as e:  # --help
        assert e.exit_code == 0
        return path, {"help": True}
    return path, dict(ctx.params)


# -- Dockerfiles -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int

    def json_args(self) -> list[str] | None:
        try:
            value = json.loads(self.args)
        except ValueError:
            return None
        return value if isinstance(value, list) else None


def dockerfile(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile: continuation lines joined, comments and blanks dropped."""
    out: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.rstrip()
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if pending and line.lstrip().startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
    return out


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def arg_defaults(instructions: list[Instruction]) -> dict[str, str]:
    defaults = {}
    for ins in instructions:
        if ins.keyword == "ARG" and "=" in ins.args:
            name, _, value = ins.args.partition("=")
            defaults[name.strip()] = value.strip().strip('"')
    return defaults


def env_values(stage: list[Instruction]) -> dict[str, str]:
    """ENV key=value pairs of a stage (shell-quoted values)."""
    values: dict[str, str] = {}
    for ins in stage:
        if ins.keyword == "ENV":
            for part in shlex.split(ins.args):
                key, _, value = part.partition("=")
                values[key] = value
    return values


# -- .dockerignore ---------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"  # any number of directories, none included
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(f"^{out}$")


class DockerIgnore:
    """Docker's .dockerignore rules (the last matching pattern wins; `!` re-includes; a pattern that
    matches a directory matches what is under it), enough to tell what a `COPY . /src` sends."""

    def __init__(self, text: str) -> None:
        self.rules: list[tuple[bool, str, re.Pattern[str]]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
            self.rules.append((negated, pattern, _pattern_regex(pattern)))

    def excluded(self, path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for negated, _, regex in self.rules:
            if any(regex.match(p) for p in prefixes):
                excluded = not negated
        return excluded

    def _may_reinclude_under(self, directory: str) -> bool:
        return any(negated and pattern.startswith(directory + "/") for negated, pattern, _ in self.rules)

    def context_files(self, root: Path) -> Iterator[str]:
        """The files of ``root`` the build context would hold."""
        for current, dirs, files in os.walk(root):
            rel_dir = Path(current).relative_to(root).as_posix()
            rel_dir = "" if rel_dir == "." else rel_dir + "/"
            dirs[:] = sorted(
                d
                for d in dirs
                if not (self.excluded(rel_dir + d) and not self._may_reinclude_under(rel_dir + d))
            )
            for name in sorted(files):
                if not self.excluded(rel_dir + name):
                    yield rel_dir + name
