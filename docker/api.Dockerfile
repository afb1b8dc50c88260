# syntax=docker/dockerfile:1
# The producer API (`coachline api`). Build from the repository root:
#   docker build -f docker/api.Dockerfile -t coachline-api:0.1.0 .
# Base images are pinned to a version tag; pin them to a digest as well where the registry allows
# (python:3.12.8-slim-bookworm@sha256:...), and let the dependency bot move both.
ARG PYTHON_IMAGE=python:3.12.8-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
# tini-static is copied into the runtime stage: no apt layer there.
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
LABEL org.opencontainers.image.title="coachline-api" \
      org.opencontainers.image.description="coachline producer API (coachline api)"
RUN groupadd --system --gid 10001 coachline \
 && useradd --system --uid 10001 --gid coachline --home-dir /home/coachline --create-home \
      --shell /usr/sbin/nologin coachline \
 && install -d -o coachline -g coachline -m 0775 /run/coachline/metrics /var/lib/coachline
COPY --from=build /usr/bin/tini-static /usr/bin/tini
COPY --from=build /opt/coachline /opt/coachline
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/coachline-entrypoint
# PROMETHEUS_MULTIPROC_DIR: mount a tmpfs here (the chart mounts an emptyDir with medium Memory).
ENV PATH=/opt/coachline/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PROMETHEUS_MULTIPROC_DIR=/run/coachline/metrics \
    COACHLINE_LOG_JSON=true
WORKDIR /var/lib/coachline
USER 10001:10001
EXPOSE 8000
# /healthz checks the database and the broker (503 when one is down).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/coachline-entrypoint"]
CMD ["coachline", "api", "--host", "0.0.0.0", "--port", "8000"]
