"""Fixtures for the deployment tests: the tools (tests/deploy/install-tools.sh puts them in
tests/deploy/.tools; PATH works too) and the chart rendered with its default values and with the
two-pool values file.

Like the services in tests/conftest.py, a missing tool skips its tests on a developer's machine and
fails them on CI (``CI=true``), so a green CI means the chart and images were really checked.
"""

from __future__ import annotations

import pytest

from tests.deploy.support import ON_CI, TOOLS, TWO_POOLS_VALUES, Rendered, find_tool, render


def need(tool: str) -> str:
    path = find_tool(tool)
    if path is None:
        message = f"{tool} is not installed: run tests/deploy/install-tools.sh"
        if ON_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def helm() -> str:
    return need("helm")


@pytest.fixture(scope="session")
def kubernetes_validate() -> str:
    return need("kubernetes-validate")


@pytest.fixture(scope="session")
def hadolint() -> str:
    return need("hadolint")


@pytest.fixture(scope="session")
def shellcheck() -> str:
    return need("shellcheck")


@pytest.fixture(scope="session")
def promtool() -> str:
    return need("promtool")


@pytest.fixture(scope="session")
def crd_validator() -> tuple[str, str]:
    """node and the node_modules holding the validators generated from KEDA's and the Prometheus
    Operator's CRDs."""
    node = need("node")
    modules = TOOLS / "npm" / "node_modules" / "@kubernetes-models"
    if not (modules / "keda").is_dir() or not (modules / "prometheus-operator").is_dir():
        message = "the CRD validators are not installed: run tests/deploy/install-tools.sh"
        if ON_CI:
            pytest.fail(message)
        pytest.skip(message)
    return node, str(TOOLS / "npm" / "node_modules")


@pytest.fixture(scope="session")
def default_render(helm: str) -> Rendered:
    return render(helm)


@pytest.fixture(scope="session")
def two_pools(helm: str) -> Rendered:
    return render(helm, TWO_POOLS_VALUES)


@pytest.fixture(scope="session", params=["default", "two-pools"])
def rendered(request: pytest.FixtureRequest, helm: str) -> Rendered:
    """Each of the two renders, for checks that hold for any values."""
    return render(helm) if request.param == "default" else render(helm, TWO_POOLS_VALUES)
