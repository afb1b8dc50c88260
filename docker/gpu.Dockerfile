# syntax=docker/dockerfile:1
# The GPU pool worker on vLLM's image: `coachline worker gpu --pool NAME --gpu N` starts
# `vllm serve` for its GPU, waits until it is healthy, then feeds it a full batch. Build from the
# repository root:
#   docker build -f docker/gpu.Dockerfile -t coachline-gpu:0.1.0 .
#   docker run --gpus device=3 -v $PWD/pools.yaml:/etc/coachline/pools.yaml:ro \
#     -e COACHLINE_POOLS_FILE=/etc/coachline/pools.yaml ... coachline-gpu:0.1.0 \
#     coachline worker gpu --pool fast --gpu 0 --metrics-port 9100
# (with --gpus device=3 the container sees that one GPU as device 0).
#
# vLLM is pinned to a release tag: the worker reads its /metrics names (vllm:num_requests_*,
# vllm:kv_cache_usage_perc since 0.10). Pin it to a digest as well where the registry allows. The
# image's Python is 3.12 on Ubuntu 22.04; coachline needs 3.11+.
ARG PYTHON_IMAGE=python:3.12.8-slim-bookworm
ARG VLLM_IMAGE=vllm/vllm-openai:v0.11.0

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# .dockerignore is an allowlist: this copies pyproject.toml, README.md and the packages only.
COPY . /src
# Only coachline's own wheel (pure Python) is built here; its dependencies are resolved in the
# final stage, against the final image's Python and glibc.
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels /src

FROM ${VLLM_IMAGE}
LABEL org.opencontainers.image.title="coachline-gpu" \
      org.opencontainers.image.description="coachline GPU pool worker (coachline worker gpu) with vLLM"
# vLLM lives in the image's system Python with pins of its own (torch, openai, pydantic, ...).
# coachline gets its own virtualenv so neither can break the other's dependencies: the worker runs
# `vllm` from the system PATH (/usr/local/bin/vllm) and is itself reached through a symlink; the
# venv is not put on PATH, so `python3` stays vLLM's.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python3 -m venv /opt/coachline \
 && /opt/coachline/bin/pip install --no-cache-dir /wheels/coachline-*.whl \
 && ln -s /opt/coachline/bin/coachline /usr/local/bin/coachline \
 && coachline --help >/dev/null
RUN groupadd --system --gid 10001 coachline \
 && useradd --system --uid 10001 --gid coachline --home-dir /home/coachline --create-home \
      --shell /usr/sbin/nologin coachline \
 && install -d -o coachline -g coachline -m 0775 \
      /run/coachline/metrics /run/coachline/pools /var/cache/huggingface
COPY --from=build /usr/bin/tini-static /usr/bin/tini
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/coachline-entrypoint
COPY --chmod=0755 docker/pod-pools.py /usr/local/bin/coachline-pod-pools
# COACHLINE_ENGINE_COMMAND: the engine must not inherit PROMETHEUS_MULTIPROC_DIR, or vLLM would
# write its series into the worker's directory and both /metrics endpoints would serve them (KEDA
# would count vllm:num_requests_waiting twice). HF_HOME is where models are cached: mount a volume.
ENV PYTHONUNBUFFERED=1 \
    PROMETHEUS_MULTIPROC_DIR=/run/coachline/metrics \
    COACHLINE_LOG_JSON=true \
    COACHLINE_ENGINE_COMMAND="env -u PROMETHEUS_MULTIPROC_DIR vllm serve {model} --port {port} --max-num-seqs {max_num_seqs}" \
    HOME=/home/coachline \
    HF_HOME=/var/cache/huggingface \
    VLLM_NO_USAGE_STATS=1 \
    DO_NOT_TRACK=1
WORKDIR /home/coachline
USER 10001:10001
# 8000: the vLLM server (its port comes from the engine URL in the pools file); 9100: the worker's
# /metrics with --metrics-port 9100.
EXPOSE 8000 9100
# Loading a model takes minutes (COACHLINE_ENGINE_STARTUP_TIMEOUT_S is 900 s by default).
HEALTHCHECK --interval=30s --timeout=5s --start-period=900s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8000/health"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/coachline-entrypoint"]
# The pool and the GPU have no sensible default: pass the command (see above; the chart does).
CMD ["coachline", "worker", "gpu", "--help"]
