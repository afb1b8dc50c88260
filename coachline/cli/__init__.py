"""The ``coachline`` command: the composition root, the only module that imports every part."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from coachline.errors import ConfigError


@click.group()
def cli() -> None:
    """coachline: answer coaching requests with local GPU pools and cloud fallback."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--data-dir",
    default="var",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the embedded SQLite database lives.",
)
def up(host: str, port: int, data_dir: Path) -> None:
    """Run everything in this process: no Redis, PostgreSQL, GPU or API key needed."""
    import uvicorn

    from coachline.cli import embedded
    from coachline.settings import get_settings, reset_settings
    from coachline.telemetry.logs import configure_logging

    embedded.embedded_environment(data_dir)
    reset_settings()
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    with embedded.running(settings) as running:
        keys = ", ".join(settings.api_keys)
        click.echo(f"coachline is up on http://{host}:{port} (API keys: {keys}); Ctrl-C stops it.", err=True)
        uvicorn.run(running.api, host=host, port=port, log_level="warning", access_log=False)


@cli.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def api(host: str, port: int) -> None:
    """Run the producer API against the configured broker and database."""
    import uvicorn

    from coachline.cli.runtime import build, build_api
    from coachline.events import CompletionWaiter, RedisListener
    from coachline.settings import get_settings
    from coachline.telemetry.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    if not settings.api_keys:
        raise ConfigError(
            'COACHLINE_API_KEYS is empty: no tenant could call the API (e.g. \'{"key": "tenant"}\')'
        )
    waiter = CompletionWaiter()
    runtime = build(settings)
    listener = RedisListener(settings.event_redis_url, waiter) if settings.event_redis_url else None
    if listener:
        listener.start()
    try:
        uvicorn.run(build_api(runtime, waiter), host=host, port=port, log_level="warning", access_log=False)
    finally:
        if listener:
            listener.stop()


ROLES = ("router", "pool", "cloud", "scheduler", "gpu")


@cli.command()
@click.argument("role", type=click.Choice(ROLES))
@click.option("--pool", "pool_name", help="The pool to serve (roles 'pool' and 'gpu').")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 4096),
    help="Threads; default: a full batch for every engine of the pool, 8 for the router.",
)
@click.option("--hostname", help="Celery node name.")
@click.option("--metrics-port", type=click.IntRange(1, 65535), help="Serve the worker's /metrics here.")
@click.option(
    "--gpu",
    type=click.IntRange(min=0),
    help="Role 'gpu': the GPU (CUDA_VISIBLE_DEVICES) whose engine this worker starts and feeds.",
)
@click.option("--attach", is_flag=True, help="Role 'gpu': use the engine already serving on its port.")
@click.option(
    "--pool-impl",
    type=click.Choice(["threads", "gevent"]),
    default="threads",
    show_default=True,
    help="Role 'gpu': how the worker runs its tasks concurrently.",
)
def worker(
    role: str,
    pool_name: str | None,
    concurrency: int | None,
    hostname: str | None,
    gpu: int | None,
    attach: bool,
    pool_impl: str,
    metrics_port: int | None,
) -> None:
    """Run a Celery worker for one role, consuming that role's queue.

    `worker gpu --pool NAME --gpu N` starts (or attaches to) the engine of GPU N, waits until it is
    healthy, then feeds it a full batch; SIGTERM drains the work in flight, then stops the engine.
    """
    if role == "gpu" and pool_impl == "gevent":
        from workers.gpu import gevent_patched, reexec_with_gevent

        if not gevent_patched():
            reexec_with_gevent()  # before anything else starts: gevent patches first or not at all
    from broker.queues import CLOUD_QUEUE, FINETUNE_QUEUE, ROUTER_QUEUE, SCHEDULER_QUEUE
    from broker.worker import worker_argv
    from coachline.cli.runtime import build
    from coachline.settings import get_settings
    from coachline.telemetry import metrics
    from coachline.telemetry.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    if metrics_port is not None:
        metrics.start_metrics_server(metrics_port)
    if role != "gpu" and (gpu is not None or attach or pool_impl != "threads"):
        raise click.UsageError("--gpu, --attach and --pool-impl belong to role 'gpu'")
    if role == "gpu":
        if not pool_name or gpu is None:
            raise click.UsageError("role 'gpu' needs --pool NAME and --gpu N")
        from workers.gpu import EngineStartError, run_gpu_worker

        try:
            code = run_gpu_worker(
                settings,
                pool_name=pool_name,
                gpu=gpu,
                attach=attach,
                concurrency=concurrency,
                hostname=hostname,
                build=build,
                pool_impl=pool_impl,
            )
        except EngineStartError as e:
            click.echo(
                f"coachline: the engine of pool {pool_name!r} on GPU {gpu} did not start: {e}", err=True
            )
            sys.exit(1)
        sys.exit(code)
    if role == "pool":
        if not pool_name:
            raise click.UsageError("role 'pool' needs --pool NAME")
        try:
            pool = settings.pools.pool(pool_name)
        except KeyError:
            names = ", ".join(p.name for p in settings.pools.pools)
            raise click.UsageError(
                f"no pool {pool_name!r} in {settings.pools_file} (pools: {names})"
            ) from None
        queues, default = [pool.queue], pool.max_num_seqs * len(pool.engines)
    else:
        queues, default = {
            "router": ([ROUTER_QUEUE], 8),
            "cloud": ([CLOUD_QUEUE], 64),
            "scheduler": ([SCHEDULER_QUEUE, FINETUNE_QUEUE], 2),
        }[role]
    runtime = build(settings)
    name = hostname or f"{role}{'-' + pool_name if pool_name else ''}@%h"
    publisher = None
    if role == "pool":
        from workers.loadpub import start_publisher

        publisher = start_publisher(
            app=runtime.app,
            store=runtime.loads,
            pool=pool,
            interval_s=settings.load_publish_interval_s,
            scrape_timeout_s=settings.engine_scrape_timeout_s,
        )
    try:
        runtime.app.worker_main(
            worker_argv(
                queues=queues, concurrency=concurrency or default, hostname=name, loglevel=settings.log_level
            )
        )
    finally:
        if publisher is not None:
            publisher.stop()


@cli.command()
@click.option("--schedule-file", default=None, help="Where beat keeps its schedule state.")
@click.option("--metrics-port", type=click.IntRange(1, 65535), help="Serve beat's /metrics on this port.")
def beat(schedule_file: str | None, metrics_port: int | None) -> None:
    """Run the beat scheduler (one replica)."""
    from coachline.cli.runtime import build
    from coachline.settings import get_settings
    from coachline.telemetry import metrics
    from coachline.telemetry.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    if metrics_port is not None:
        metrics.start_metrics_server(metrics_port)
    runtime = build(settings)
    argv = ["beat", f"--loglevel={settings.log_level}"]
    if schedule_file:
        argv.append(f"--schedule={schedule_file}")
    runtime.app.start(argv)


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the Alembic migrations to COACHLINE_DATABASE_URL."""
    import migrations
    from coachline.settings import get_settings

    migrations.upgrade(get_settings().database_url, revision)
    click.echo(f"database at {revision}", err=True)


@cli.command()
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="The coachline API.")
@click.option(
    "--api-key", default=lambda: os.environ.get("COACHLINE_DEMO_API_KEY", "dev-key"), show_default="dev-key"
)
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Requests as JSONL (default: the bundled sample).",
)
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option("--timeout-s", default=120.0, show_default=True, type=click.FloatRange(min=1))
def demo(url: str, api_key: str, path: Path | None, concurrency: int, timeout_s: float) -> None:
    """Send sample requests through the HTTP API and print the tier/pool mix, latency and cost."""
    from coachline.cli.demo import run_demo
    from coachline.settings import SAMPLE_REQUESTS_FILE

    code = run_demo(
        url=url,
        api_key=api_key,
        path=path or SAMPLE_REQUESTS_FILE,
        concurrency=concurrency,
        timeout_s=timeout_s,
    )
    sys.exit(code)


def _register_optional() -> None:
    from coachline.cli import lifecycle, monitoring
    from coachline.cli.router_cmd import router_group
    from workers.sim.cli import sim

    cli.add_command(sim, "sim")
    cli.add_command(router_group, "router")
    monitoring.register(cli)
    lifecycle.register(cli)


_register_optional()


def main() -> None:
    try:
        cli.main(standalone_mode=True)
    except ConfigError as e:
        click.echo(f"coachline: {e}", err=True)
        sys.exit(2)
