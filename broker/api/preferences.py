"""A user's privacy preference: the router applies the strictest of it and everything else."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, StrictBool, ValidationError

from broker.api.body import read_json_body
from broker.api.errors import ApiError, from_validation
from coachline.db.models import UserPreference
from coachline.db.session import get_sessionmaker
from coachline.db.types import utcnow
from coachline.domain import PrivacyLevel
from coachline.settings import Settings

UserId = Annotated[str, Path(min_length=1, max_length=200)]


class PreferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    privacy_level: PrivacyLevel | None = None
    local_only: StrictBool = False


class PreferenceOut(BaseModel):
    user_id: str
    privacy_level: PrivacyLevel | None
    local_only: bool


def preferences_router(settings: Settings, tenant_of: Callable[..., str]) -> APIRouter:
    router = APIRouter()
    sessions = get_sessionmaker(settings.database_url)

    @router.put("/v1/users/{user_id}/preferences", response_model=PreferenceOut)
    async def put_preference(
        user_id: UserId, request: Request, tenant: Annotated[str, Depends(tenant_of)]
    ) -> PreferenceOut:
        try:
            body = PreferenceIn.model_validate(await read_json_body(request, settings.max_body_bytes))
        except ValidationError as e:
            raise from_validation(e) from e

        def _store() -> None:
            with sessions() as session, session.begin():
                pref = session.get(UserPreference, (tenant, user_id))
                if pref is None:
                    pref = UserPreference(tenant=tenant, user_id=user_id)
                    session.add(pref)
                pref.privacy_level = body.privacy_level.value if body.privacy_level else None
                pref.local_only = body.local_only
                pref.updated_at = utcnow()

        await run_in_threadpool(_store)
        return PreferenceOut(user_id=user_id, privacy_level=body.privacy_level, local_only=body.local_only)

    @router.get("/v1/users/{user_id}/preferences", response_model=PreferenceOut)
    async def get_preference(user_id: UserId, tenant: Annotated[str, Depends(tenant_of)]) -> PreferenceOut:
        def _load() -> UserPreference | None:
            with sessions() as session:
                return session.get(UserPreference, (tenant, user_id))

        pref = await run_in_threadpool(_load)
        if pref is None:
            raise ApiError(404, "not_found", f"no preference stored for user {user_id!r}")
        level = PrivacyLevel(pref.privacy_level) if pref.privacy_level else None
        return PreferenceOut(user_id=user_id, privacy_level=level, local_only=pref.local_only)

    return router
