"""Alerts: rules as data (``rules.yaml``), their evaluation over rollups, notifications, export."""
