"""The scheduler's API routers (feedback, status, alerts, gates, fine-tune jobs, external metrics).

They live here, not in ``broker/api``, because they call the scheduler's plain functions; the
composition root (``coachline.cli.runtime.build_api``) mounts them on the producer API.
"""
