"""The fine-tune cooldown, in the database: at most one trigger per model per cooldown window.

One ``finetune_cooldowns`` row per model. A trigger first makes sure the row exists (an insert that
does nothing on conflict), then claims it with one conditional UPDATE:

    UPDATE finetune_cooldowns SET last_triggered_at = :now
    WHERE model = :model AND (last_triggered_at IS NULL OR last_triggered_at <= :now - cooldown)

On PostgreSQL two concurrent claims serialise on the row lock, and the second re-checks the
condition against the first's committed row, so it updates nothing; SQLite serialises writers. The
claim and the job it allows are written in one transaction: a job that fails to be stored gives the
slot back. Evaluations for an older ``now`` (a late message) see the newer trigger and back off.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from coachline.db.lifecycle import FineTuneCooldown
from scheduler.aggregation import dialect_insert


@dataclass(frozen=True)
class Claim:
    granted: bool
    # When the model may trigger again (the slot's owner's, when not granted).
    until: dt.datetime | None


def claim_trigger(
    session: Session, *, model: str, now: dt.datetime, cooldown_s: float, force: bool = False
) -> Claim:
    """Take the model's trigger slot for ``now``; ``force`` takes it whatever the cooldown says."""
    cooldown = dt.timedelta(seconds=cooldown_s)
    insert = dialect_insert(session)
    session.execute(
        insert(FineTuneCooldown)
        .values(model=model, last_triggered_at=None, last_job_id=None, updated_at=now)
        .on_conflict_do_nothing(index_elements=["model"])
    )
    free = or_(
        FineTuneCooldown.last_triggered_at.is_(None), FineTuneCooldown.last_triggered_at <= now - cooldown
    )
    if force:
        # Never move the slot back in time: a forced trigger for an older `now` keeps the newer one.
        free = or_(FineTuneCooldown.last_triggered_at.is_(None), FineTuneCooldown.last_triggered_at < now)
    granted = session.execute(
        update(FineTuneCooldown)
        .where(FineTuneCooldown.model == model, free)
        .values(last_triggered_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]  # an UPDATE returns a CursorResult
    row = session.get(FineTuneCooldown, model, populate_existing=True)
    last = row.last_triggered_at if row is not None else None
    if granted or force:
        return Claim(True, now + cooldown)
    return Claim(False, None if last is None else last + cooldown)


def record_job(session: Session, *, model: str, job_id: str) -> None:
    session.execute(
        update(FineTuneCooldown)
        .where(FineTuneCooldown.model == model)
        .values(last_job_id=job_id)
        .execution_options(synchronize_session=False)
    )
