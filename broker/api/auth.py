"""Tenant authentication: an API key names the tenant. Shared by every API router."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.
import hmac
from collections.abc import Callable, Mapping
from typing import Annotated

from fastapi import Header

from broker.api.errors import ApiError


def tenant_dependency(api_keys: Mapping[str, str]) -> Callable[..., str]:
    """A FastAPI dependency that returns the tenant of the request's API key, or answers 401."""
    keys = dict(api_keys)

    def tenant_of(
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> str:
        key = x_api_key
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not value:
                raise ApiError(401, "unauthorized", "Authorization must be 'Bearer <api key>'")
            key = value.strip()
        if not key:
            raise ApiError(
                401,
                "unauthorized",
                "an API key is required (Authorization: Bearer <key>)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        for known, tenant in keys.items():
            if hmac.compare_digest(known.encode(), key.encode()):
                return tenant
        raise ApiError(401, "unauthorized", "unknown API key", headers={"WWW-Authenticate": "Bearer"})

    return tenant_of
