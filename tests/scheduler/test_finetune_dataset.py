"""The training set: which conversations, in which shape, and what each kind of trainer may see."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from coachline.db.lifecycle import FineTuneJob
from coachline.db.models import RoutingDecision
from coachline.db.session import session_scope
from coachline.errors import ConfigError
from coachline.settings import Settings
from router.scoring import redact_messages
from scheduler.finetune.dataset import Audience, Candidate, build_dataset, load_candidates, to_example
from scheduler.finetune.service import run_training
from scheduler.finetune.trainers import (
    CommandTrainer,
    RecordingTrainer,
    TrainingInput,
    TrainingOutcome,
    WebhookTrainer,
    trainer_from_settings,
)
from tests.scheduler.conftest import T0, monitor_settings
from tests.scheduler.traffic import FAST_MODEL, STANDARD_MODEL, Try, store_request

EMAIL = "jane.roe@example.org"
SENSITIVE = "I was diagnosed with bipolar disorder; how do I tell my manager?"


def _candidate(**overrides: Any) -> Candidate:
    base: dict[str, Any] = {
        "request_id": "r1",
        "messages": [
            {"role": "system", "content": "You are a coach."},
            {"role": "user", "content": f"Send the plan to {EMAIL} please."},
        ],
        "response": f"Sure, I will write to {EMAIL}.",
        "rating": 1,
        "correction": None,
        "privacy_level": "private",
        "cloud_allowed": True,
    }
    return Candidate(**{**base, **overrides})


def test_the_correction_is_the_target_and_an_uncorrected_answer_weighs_nothing() -> None:
    corrected = to_example(
        _candidate(correction="Here is a better plan."), audience=Audience.LOCAL, redact=redact_messages
    )
    plain = to_example(_candidate(), audience=Audience.LOCAL, redact=redact_messages)
    assert not isinstance(corrected, str) and not isinstance(plain, str)
    assert corrected.line["messages"][-1] == {"role": "assistant", "content": "Here is a better plan."}
    assert corrected.corrected and not plain.corrected
    assert plain.line["messages"][-1] == {
        "role": "assistant",
        "content": f"Sure, I will write to {EMAIL}.",
        "weight": 0,
    }
    assert [m["role"] for m in corrected.line["messages"]] == ["system", "user", "assistant"]


def test_a_local_trainer_gets_conversations_as_stored() -> None:
    dataset = build_dataset(
        [_candidate(), _candidate(request_id="r2", privacy_level="sensitive", cloud_allowed=False)],
        audience=Audience.LOCAL,
        redact=redact_messages,
    )
    assert len(dataset.examples) == 2 and not dataset.excluded
    assert EMAIL in dataset.jsonl()


def test_a_cloud_trainer_never_gets_sensitive_or_local_only_conversations_and_the_rest_redacted_whole() -> (
    None
):
    candidates = [
        _candidate(request_id="private", correction=f"Write to {EMAIL} with three goals."),
        _candidate(request_id="sensitive", privacy_level="sensitive", cloud_allowed=False),
        _candidate(request_id="undecided", privacy_level=None, cloud_allowed=False),
        _candidate(request_id="onprem", privacy_level="public", cloud_allowed=False),
        _candidate(
            request_id="public", privacy_level="public", messages=[{"role": "user", "content": "Tip?"}]
        ),
    ]
    dataset = build_dataset(candidates, audience=Audience.CLOUD, redact=redact_messages)
    assert [e.request_id for e in dataset.examples] == ["private", "public"]
    assert dataset.excluded == {"sensitive": 1, "no_decision": 1, "kept_local_by_policy": 1}
    text = dataset.jsonl()
    assert EMAIL not in text and "example.org" not in text  # user turn and the correction both redacted
    private = dataset.examples[0].line["messages"]
    assert private[-1]["role"] == "assistant" and "three goals" in private[-1]["content"]
    for line in text.splitlines():
        assert set(json.loads(line)) == {"messages"}  # OpenAI's chat fine-tuning format


def _store(session: Any, *, at: dt.datetime, **kwargs: Any) -> str:
    return store_request(session, finished_at=at, feedback_at=at, **kwargs)


def test_load_candidates_takes_low_rated_and_corrected_conversations_of_the_model(pg_url: str) -> None:
    now = T0 + dt.timedelta(hours=2)
    with session_scope(pg_url) as session:
        low = _store(session, at=T0, rating=2)
        corrected = _store(session, at=T0, rating=4, correction="Better.")
        _store(session, at=T0, rating=3)  # neither low enough nor corrected
        _store(
            session, at=T0, rating=1, attempts=(Try(pool="standard", model=STANDARD_MODEL),)
        )  # another model
        _store(session, at=T0 - dt.timedelta(days=8), rating=1)  # before the lookback
        _store(session, at=now + dt.timedelta(minutes=1), rating=1)  # after the job's `now`
        _store(session, at=T0, status="failed")  # no result, no feedback
    with session_scope(pg_url) as session:
        found = load_candidates(
            session,
            model=FAST_MODEL,
            since=now - dt.timedelta(days=7),
            until=now,
            low_rating_max=2,
            limit=100,
        )
    assert {c.request_id for c in found} == {low, corrected}
    by_id = {c.request_id: c for c in found}
    assert by_id[corrected].correction == "Better." and by_id[low].correction is None
    assert by_id[low].privacy_level == "public" and by_id[low].cloud_allowed


def _job(url: str, *, now: dt.datetime, model: str = FAST_MODEL) -> str:
    with session_scope(url) as session:
        job = FineTuneJob(
            model=model,
            trigger="manual",
            requested_by="test",
            forced=False,
            reason="test",
            reasons=[],
            level="CRITICAL",
            health_score=0.3,
            confidence=1.0,
            urgency=0.9,
            method="text_to_lora",
            skills=[{"name": "correctness", "focus": "f", "evidence": "e"}],
            prompt="Make it excel.",
            estimated_improvement=0.5,
            evidence={},
            status="queued",
            created_at=now,
            cooldown_until=now + dt.timedelta(hours=1),
        )
        session.add(job)
        session.flush()
        return job.id


def _conversations(url: str) -> dict[str, str]:
    with session_scope(url) as session:
        ids = {
            "private": _store(
                session,
                at=T0,
                rating=1,
                privacy_level="private",
                prompt=f"Mail {EMAIL} the plan",
                correction=f"Mail {EMAIL}.",
            ),
            "sensitive": _store(session, at=T0, rating=1, privacy_level="sensitive", prompt=SENSITIVE),
            "public": _store(session, at=T0, rating=2, prompt="How do I start running?"),
        }
        # The tenant lets redacted private data reach the cloud: the router would have allowed it.
        session.execute(
            update(RoutingDecision)
            .where(RoutingDecision.request_id == ids["private"])
            .values(cloud_allowed=True)
        )
    return ids


def test_training_with_a_cloud_webhook_sends_only_what_may_leave(tmp_path: Path, pg_url: str) -> None:
    settings = monitor_settings(tmp_path, pg_url, "memory://", finetune_dataset_dir=tmp_path / "ft")
    _conversations(pg_url)
    now = T0 + dt.timedelta(hours=1)
    job_id = _job(pg_url, now=now)
    sent: list[dict[str, Any]] = []

    def post(url: str, payload: dict[str, Any], timeout_s: float) -> httpx.Response:
        sent.append(payload)
        return httpx.Response(202, text="accepted")

    trainer = WebhookTrainer("https://trainer.example/jobs", cloud=True, timeout_s=5, post=post)
    result = run_training(settings, job_id, now=now, redact=redact_messages, trainer=trainer)
    assert result["status"] == "submitted" and result["rows"] == 2
    assert result["excluded"] == {"sensitive": 1}
    (payload,) = sent
    body = json.dumps(payload)
    assert SENSITIVE not in body and "bipolar" not in body
    assert EMAIL not in body  # redacted in the prompt and in the correction
    assert payload["dataset"]["audience"] == "cloud" and len(payload["dataset"]["lines"]) == 2
    assert payload["job"]["id"] == job_id and payload["job"]["prompt"] == "Make it excel."
    file_lines = (tmp_path / "ft" / f"{job_id}.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in file_lines] == payload["dataset"]["lines"]
    job_file = json.loads((tmp_path / "ft" / f"{job_id}.job.json").read_text())
    assert job_file["dataset"]["excluded"] == {"sensitive": 1} and job_file["trainer"] == "webhook"
    with session_scope(pg_url) as session:
        job = session.get(FineTuneJob, job_id)
        assert job is not None
        assert (job.status, job.dataset_audience, job.dataset_rows) == ("submitted", "cloud", 2)
        assert job.status_detail == "webhook answered 202: accepted" and job.lease_until is None
    # A redelivered message finds the job done and does nothing.
    again = run_training(settings, job_id, now=now, redact=redact_messages, trainer=trainer)
    assert again == {"job": job_id, "skipped": "job is submitted"} and len(sent) == 1


def test_the_default_trainer_is_local_and_records_everything(tmp_path: Path, pg_url: str) -> None:
    settings = monitor_settings(tmp_path, pg_url, "memory://", finetune_dataset_dir=tmp_path / "ft")
    _conversations(pg_url)
    now = T0 + dt.timedelta(hours=1)
    job_id = _job(pg_url, now=now)
    trainer = trainer_from_settings(settings)
    assert isinstance(trainer, RecordingTrainer) and not trainer.cloud
    result = run_training(settings, job_id, now=now, redact=redact_messages, trainer=trainer)
    assert result["status"] == "exported" and result["rows"] == 3 and result["excluded"] == {}
    text = (tmp_path / "ft" / f"{job_id}.jsonl").read_text()
    assert SENSITIVE in text and EMAIL in text  # a local trainer may see them: they never leave


def test_a_failing_webhook_or_a_raising_trainer_ends_the_job_failed(tmp_path: Path, pg_url: str) -> None:
    settings = monitor_settings(tmp_path, pg_url, "memory://", finetune_dataset_dir=tmp_path / "ft")
    now = T0 + dt.timedelta(hours=1)

    def refuse(url: str, payload: dict[str, Any], timeout_s: float) -> httpx.Response:
        return httpx.Response(500, text="boom")

    first = _job(pg_url, now=now)
    result = run_training(
        settings,
        first,
        now=now,
        redact=redact_messages,
        trainer=WebhookTrainer("https://t", cloud=True, timeout_s=1, post=refuse),
    )
    assert result["status"] == "failed"

    class Broken:
        name, cloud = "broken", False

        def train(self, item: TrainingInput) -> TrainingOutcome:
            raise RuntimeError("bug")

    second = _job(pg_url, now=now)
    assert (
        run_training(settings, second, now=now, redact=redact_messages, trainer=Broken())["status"]
        == "failed"
    )
    with session_scope(pg_url) as session:
        job = session.get(FineTuneJob, second)
        assert job is not None and job.status_detail == "the broken trainer raised RuntimeError"


def _item(tmp_path: Path) -> TrainingInput:
    dataset = tmp_path / "j.jsonl"
    dataset.write_text('{"messages": []}\n{"messages": []}\n')
    return TrainingInput(
        job={"id": "j1", "model": "m", "method": "text_to_lora"},
        dataset_path=dataset,
        job_path=tmp_path / "j.job.json",
        prompt_path=tmp_path / "j.prompt.txt",
        rows=2,
    )


def test_the_command_trainer_runs_with_the_jobs_files(tmp_path: Path) -> None:
    script = "import sys; print(sys.argv[1], sys.argv[2], sum(1 for _ in open(sys.argv[3])))"
    trainer = CommandTrainer(
        f"{sys.executable} -c '{script}' {{job_id}} {{method}} {{dataset}}", cloud=False, timeout_s=30
    )
    assert trainer.train(_item(tmp_path)) == TrainingOutcome("succeeded", "exit 0: j1 text_to_lora 2")
    failing = CommandTrainer(
        f"{sys.executable} -c 'import sys; sys.exit(\"no GPU\")'", cloud=False, timeout_s=30
    )
    assert failing.train(_item(tmp_path)) == TrainingOutcome("failed", "exit 1: no GPU")
    missing = CommandTrainer("/nonexistent/train {dataset}", cloud=False, timeout_s=30)
    assert missing.train(_item(tmp_path)).status == "failed"


def test_trainers_are_cloud_unless_declared_local_and_need_their_target() -> None:
    webhook = trainer_from_settings(Settings(finetune_trainer="webhook", finetune_webhook_url="https://t/x"))
    assert webhook.cloud and webhook.name == "webhook"
    local = trainer_from_settings(
        Settings(finetune_trainer="command", finetune_command="train {dataset}", finetune_trainer_local=True)
    )
    assert not local.cloud and local.name == "command"
    with pytest.raises(ConfigError, match="COACHLINE_FINETUNE_WEBHOOK_URL"):
        trainer_from_settings(Settings(finetune_trainer="webhook"))
    with pytest.raises(ConfigError, match="COACHLINE_FINETUNE_COMMAND"):
        trainer_from_settings(Settings(finetune_trainer="command"))
