"""Telemetry every role shares: Prometheus metrics and structlog logs."""
