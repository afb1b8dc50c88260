"""Authentication: an API key names a tenant; an operator key names an operator (SRE endpoints)."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.
import hmac
from collections.abc import Callable, Mapping
from typing import Annotated

from fastapi import Header

from broker.api.errors import ApiError

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _presented_key(authorization: str | None, x_api_key: str | None, *, missing: str) -> str:
    """The key of ``Authorization: Bearer <key>`` (or ``X-API-Key``); 401 when there is none."""
    key = x_api_key
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise ApiError(401, "unauthorized", "Authorization must be 'Bearer <api key>'")
        key = value.strip()
    if not key:
        raise ApiError(401, "unauthorized", missing, headers=_CHALLENGE)
    return key


def _lookup(keys: Mapping[str, str], key: str) -> str | None:
    for known, name in keys.items():
        if hmac.compare_digest(known.encode(), key.encode()):
            return name
    return None


def tenant_dependency(api_keys: Mapping[str, str]) -> Callable[..., str]:
    """A FastAPI dependency that returns the tenant of the request's API key, or answers 401."""
    keys = dict(api_keys)

    def tenant_of(
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> str:
        key = _presented_key(
            authorization, x_api_key, missing="an API key is required (Authorization: Bearer <key>)"
        )
        tenant = _lookup(keys, key)
        if tenant is None:
            raise ApiError(401, "unauthorized", "unknown API key", headers=_CHALLENGE)
        return tenant

    return tenant_of


def operator_dependency(
    operator_keys: Mapping[str, str], tenant_keys: Mapping[str, str]
) -> Callable[..., str]:
    """The operator name of the request's key; 401 without a known key, 403 for a tenant's key."""
    operators, tenants = dict(operator_keys), dict(tenant_keys)

    def operator_of(
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> str:
        key = _presented_key(authorization, x_api_key, missing="an operator key is required")
        operator = _lookup(operators, key)
        if operator is not None:
            return operator
        if _lookup(tenants, key) is not None:
            raise ApiError(403, "forbidden", "this endpoint needs an operator key (COACHLINE_OPERATOR_KEYS)")
        raise ApiError(401, "unauthorized", "unknown API key", headers=_CHALLENGE)

    return operator_of
