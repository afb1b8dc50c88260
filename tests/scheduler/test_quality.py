"""Automatic quality scores: the local heuristic, and a judge model that never sees a sensitive
(or private) request when it is remote -- checked at a stub OpenAI-compatible server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from coachline.db.models import RoutingDecision
from coachline.db.monitoring import QualityScore
from coachline.db.session import session_scope
from coachline.settings import Settings
from scheduler import monitor
from scheduler.quality import (
    ChatJudge,
    EvaluationError,
    LexicalOverlapHeuristic,
    Sample,
    may_judge,
    parse_judge_reply,
    sampled,
)
from tests.scheduler.conftest import T0, monitor_settings
from tests.scheduler.traffic import minute, store_request

HEURISTIC = LexicalOverlapHeuristic()


def _sample(prompt: str, response: str, privacy: str = "public") -> Sample:
    return Sample(request_id="0" * 32, prompt=prompt, response=response, privacy_level=privacy)


def test_the_heuristic_rewards_overlap_and_penalises_repetition_and_truncation() -> None:
    prompt = "How can I plan my week so deadlines stop surprising me?"
    on_topic = (
        "Plan the week on Sunday: list every deadline, block time for each one, and check the plan "
        "each morning so nothing surprising appears late. Keep a buffer day for what slips."
    )
    off_topic = "Bananas are rich in potassium and grow in tropical climates around the world today, friend."
    looping = "Plan the week. " * 12
    cut = on_topic[:90]
    good = HEURISTIC.evaluate(_sample(prompt, on_topic))
    assert good.relevance >= 0.6 and good.coherence > 0.95 and good.completeness == 1.0
    assert HEURISTIC.evaluate(_sample(prompt, off_topic)).relevance < 0.2
    assert HEURISTIC.evaluate(_sample(prompt, looping)).coherence < 0.3
    truncated = HEURISTIC.evaluate(_sample(prompt, cut))
    assert truncated.completeness < good.completeness and truncated.coherence < good.coherence
    assert HEURISTIC.name == "lexical-overlap-v1" and HEURISTIC.remote is False


def test_judge_replies_are_parsed_and_clamped() -> None:
    scores = parse_judge_reply('Sure! {"relevance": 0.9, "coherence": 1.4, "completeness": -1}')
    assert (scores.relevance, scores.coherence, scores.completeness) == (0.9, 1.0, 0.0)
    with pytest.raises(EvaluationError, match="unparseable"):
        parse_judge_reply("I would rate it highly.")


def test_remote_judges_see_public_requests_only() -> None:
    remote = ChatJudge(base_url="http://x/v1", model="m", api_key="k", remote=True, timeout_s=1)
    local = ChatJudge(base_url="http://x/v1", model="m", api_key="k", remote=False, timeout_s=1)
    for privacy in ("private", "sensitive"):
        assert not may_judge(_sample("q", "a", privacy), remote)
        assert may_judge(_sample("q", "a", privacy), local)
    assert may_judge(_sample("q", "a", "public"), remote)


def test_the_judged_share_is_stable_and_about_the_rate() -> None:
    ids = [f"{i:08x}" + "0" * 24 for i in range(0, 2**32, 2**32 // 1000)]
    chosen = [i for i in ids if sampled(i, 0.25)]
    assert 240 <= len(chosen) <= 260
    assert chosen == [i for i in ids if sampled(i, 0.25)]
    assert not any(sampled(i, 0.0) for i in ids) and all(sampled(i, 1.0) for i in ids)


class StubJudge:
    """An OpenAI-compatible /chat/completions that records every body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                stub.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                reply = '{"relevance": 0.8, "coherence": 0.9, "completeness": 0.7}'
                body = json.dumps(
                    {"choices": [{"message": {"role": "assistant", "content": reply}}]}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def stub_judge() -> Iterator[StubJudge]:
    stub = StubJudge()
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


def _scores(url: str) -> dict[tuple[str, str], QualityScore]:
    with session_scope(url) as session:
        return {(s.request_id, s.evaluator): s for s in session.scalars(select(QualityScore))}


def test_a_cloud_judge_never_receives_sensitive_or_private_requests(
    tmp_path: Path, pg_url: str, stub_judge: StubJudge
) -> None:
    settings = monitor_settings(tmp_path, pg_url, "memory://", quality_judge_sample_rate=1.0)
    prompts = {
        level: f"My {level} question number {level}-7731?" for level in ("public", "private", "sensitive")
    }
    ids = {}
    with session_scope(pg_url) as session:
        for level, prompt in prompts.items():
            ids[level] = store_request(
                session, finished_at=minute(T0, 0, 5), privacy_level=level, prompt=prompt
            )
        # No stored decision: treated as sensitive (fail closed).
        ids["undecided"] = store_request(
            session, finished_at=minute(T0, 0, 6), prompt="Undecided prompt 4410?"
        )
        session.delete(session.get(RoutingDecision, ids["undecided"]))
    judge = ChatJudge(
        base_url=stub_judge.base_url, model="gpt-4o-mini", api_key="k", remote=True, timeout_s=5
    )
    report = monitor.run_quality_scoring(settings, now=minute(T0, 1, 0), judge=judge)
    assert report == {"scored": 4, "judged": 1, "judge_failures": 0}
    sent = json.dumps(stub_judge.bodies)
    assert prompts["public"] in sent
    for secret in (prompts["private"], prompts["sensitive"], "Undecided prompt 4410?"):
        assert secret not in sent
    scores = _scores(pg_url)
    assert scores[(ids["public"], "judge:gpt-4o-mini")].relevance == 0.8
    assert {(r, e) for r, e in scores if e.startswith("judge")} == {(ids["public"], "judge:gpt-4o-mini")}
    assert {r for r, e in scores if e == HEURISTIC.name} == set(ids.values())
    # Once scored, never again: a second run (another beat, a redelivery) adds nothing.
    again = monitor.run_quality_scoring(settings, now=minute(T0, 1, 0), judge=judge)
    assert again == {"scored": 0, "judged": 0, "judge_failures": 0}
    assert len(stub_judge.bodies) == 1


def test_a_local_pool_judge_may_score_sensitive_requests(
    tmp_path: Path, pg_url: str, stub_judge: StubJudge
) -> None:
    settings = Settings(
        database_url=pg_url,
        pools_file=monitor_settings(tmp_path, pg_url, "memory://").pools_file,
        quality_judge_sample_rate=1.0,
    )
    with session_scope(pg_url) as session:
        request_id = store_request(session, finished_at=minute(T0, 0, 5), privacy_level="sensitive")
    judge = ChatJudge(
        base_url=stub_judge.base_url, model="local-judge", api_key="EMPTY", remote=False, timeout_s=5
    )
    report = monitor.run_quality_scoring(settings, now=minute(T0, 1, 0), judge=judge)
    assert report["judged"] == 1
    assert (request_id, "judge:local-judge") in _scores(pg_url)


def test_the_configured_cloud_judge_is_remote_and_a_pool_judge_is_local(tmp_path: Path) -> None:
    base = monitor_settings(tmp_path, "sqlite://", "memory://")
    assert monitor.judge_of(base) is None  # judging is off by default
    cloud = monitor.judge_of(Settings(pools_file=base.pools_file, quality_judge_sample_rate=0.1))
    assert cloud is not None and cloud.remote and cloud.name == "judge:gpt-4o-mini"
    pool = monitor.judge_of(
        Settings(pools_file=base.pools_file, quality_judge_sample_rate=0.1, quality_judge="pool:standard")
    )
    assert pool is not None and not pool.remote
