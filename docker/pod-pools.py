#!/opt/coachline/bin/python
"""Write the pools file of one GPU pod: the cluster's pools file with the pod's pool narrowed to the
engine this pod runs.

In the cluster's pools file (the chart's ConfigMap) every pool lists one engine, the pool's
Service (``http://<release>-gpu-<pool>.<namespace>.svc:8000/v1``): that is what every other role
calls when it falls back to the pool or asks it for a judgement, and Kubernetes spreads those calls
over the pool's ready pods.

A GPU pod is different. ``coachline worker gpu --pool NAME --gpu 0`` starts ``vllm serve`` in the
pod and must pin *that* engine: it waits for its own ``/health``, sends every attempt to its own GPU,
and publishes the engine's load to the snapshot under the engine's URL, so the URL must be unique per
pod (the router sums the pool's capacity over those entries). So this pod's pool lists exactly one
engine, ``http://<pod IP>:<port>/v1`` with ``gpu: 0`` (the device plugin gives the pod one GPU, which
is device 0 inside it). The other pools keep their Services.

Run by the GPU pods' init container; the result is validated with coachline's own parser, so a pools
file the worker would refuse fails here, with the same sentence.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

from coachline.errors import ConfigError
from coachline.pools import parse_pools


def pod_pools(data: dict[str, Any], *, pool: str, engine_url: str) -> dict[str, Any]:
    """``data`` (a parsed pools file) with ``pool``'s engines replaced by ``engine_url`` on GPU 0."""
    out = copy.deepcopy(data)
    pools = out.get("pools") or []
    matches = [p for p in pools if isinstance(p, dict) and p.get("name") == pool]
    if not matches:
        names = ", ".join(str(p.get("name")) for p in pools if isinstance(p, dict))
        raise ConfigError(f"there is no pool {pool!r} in the pools file (pools: {names})")
    matches[0]["engines"] = [{"base_url": engine_url, "gpu": 0}]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools-file", type=Path, required=True, help="the cluster's pools file")
    parser.add_argument("--pool", required=True, help="the pool this pod serves")
    parser.add_argument("--engine-url", required=True, help="e.g. http://10.1.2.3:8000/v1")
    parser.add_argument("--output", type=Path, required=True, help="where to write this pod's pools file")
    args = parser.parse_args(argv)
    try:
        data = yaml.safe_load(args.pools_file.read_text())
        if not isinstance(data, dict):
            raise ConfigError(f"{args.pools_file}: expected a mapping with 'pools' at the top")
        result = pod_pools(data, pool=args.pool, engine_url=args.engine_url)
        parse_pools(result, source=f"pools file for pod of pool {args.pool!r}")
    except (OSError, yaml.YAMLError, ConfigError) as e:
        print(f"coachline-pod-pools: {e}", file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(yaml.safe_dump(result, sort_keys=False))
    print(f"coachline-pod-pools: pool {args.pool} -> {args.engine_url} ({args.output})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
