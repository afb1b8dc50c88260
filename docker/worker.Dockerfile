# syntax=docker/dockerfile:1
# The CPU roles: `coachline worker router|cloud|scheduler` and `coachline beat`; the command picks
# the role (the default is the router). Build from the repository root:
#   docker build -f docker/worker.Dockerfile -t coachline-worker:0.1.0 .
#   docker run ... coachline-worker:0.1.0 coachline worker cloud --metrics-port 9100
#   docker run ... coachline-worker:0.1.0 coachline beat --metrics-port 9100 \
#     --schedule-file /var/lib/coachline/beat/celerybeat-schedule
# Base images are pinned to a version tag; pin them to a digest as well where the registry allows.
ARG PYTHON_IMAGE=python:3.12.8-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/coachline
WORKDIR /src
# .dockerignore is an allowlist: this copies pyproject.toml, README.md and the packages only.
COPY . /src
RUN /opt/coachline/bin/pip install --no-cache-dir /src \
 && /opt/coachline/bin/coachline --help >/dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="coachline-worker" \
      org.opencontainers.image.description="coachline CPU workers (router, cloud, scheduler) and beat"
RUN groupadd --system --gid 10001 coachline \
 && useradd --system --uid 10001 --gid coachline --home-dir /home/coachline --create-home \
      --shell /usr/sbin/nologin coachline \
 && install -d -o coachline -g coachline -m 0775 \
      /run/coachline/metrics /var/lib/coachline /var/lib/coachline/beat /var/lib/coachline/finetune
COPY --from=build /usr/bin/tini-static /usr/bin/tini
COPY --from=build /opt/coachline /opt/coachline
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/coachline-entrypoint
# PROMETHEUS_MULTIPROC_DIR: mount a tmpfs here (the chart mounts an emptyDir with medium Memory).
ENV PATH=/opt/coachline/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PROMETHEUS_MULTIPROC_DIR=/run/coachline/metrics \
    COACHLINE_LOG_JSON=true \
    COACHLINE_FINETUNE_DATASET_DIR=/var/lib/coachline/finetune
WORKDIR /var/lib/coachline
USER 10001:10001
EXPOSE 9100
# Every role serves /metrics on --metrics-port from a thread of the worker process: an answer
# means the process is alive and not wedged on the GIL (the default command passes 9100).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9100/metrics', timeout=4)"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/coachline-entrypoint"]
CMD ["coachline", "worker", "router", "--metrics-port", "9100"]
