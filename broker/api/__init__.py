"""The producer API (FastAPI), contract v1."""
