"""Trainers: where a fine-tune job goes once its dataset is written. One small interface, three kinds.

- ``RecordingTrainer`` (default, local): the job file and the dataset stay in the dataset
  directory for a training pipeline (or a person) to pick up; the job ends ``exported``.
- ``WebhookTrainer``: POSTs the job and the dataset's lines as JSON; a 2xx ends it ``submitted``.
- ``CommandTrainer``: runs a command with the job's files; exit 0 ends it ``succeeded``.

A trainer is ``cloud`` when the dataset leaves the cluster: it then gets the cloud dataset (no
sensitive conversations, the rest redacted). Webhook and command trainers are cloud unless the
operator declares them local (``COACHLINE_FINETUNE_TRAINER_LOCAL``): a wrong guess must leak nothing.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from coachline.errors import ConfigError
from coachline.settings import Settings


@dataclass(frozen=True)
class TrainingInput:
    job: dict[str, Any]  # id, model, method, skills, prompt, reason... (never a conversation)
    dataset_path: Path
    job_path: Path
    prompt_path: Path
    rows: int


@dataclass(frozen=True)
class TrainingOutcome:
    status: str  # exported | submitted | succeeded | failed
    detail: str


class Trainer(Protocol):
    name: str
    cloud: bool

    def train(self, item: TrainingInput) -> TrainingOutcome: ...


class RecordingTrainer:
    name = "record"
    cloud = False

    def train(self, item: TrainingInput) -> TrainingOutcome:
        return TrainingOutcome(
            "exported", f"{item.rows} conversations in {item.dataset_path}; job in {item.job_path}"
        )


Post = Callable[[str, dict[str, Any], float], httpx.Response]


def _post(url: str, payload: dict[str, Any], timeout_s: float) -> httpx.Response:
    return httpx.post(url, json=payload, timeout=timeout_s)


class WebhookTrainer:
    name = "webhook"

    def __init__(self, url: str, *, cloud: bool, timeout_s: float, post: Post = _post) -> None:
        self.url, self.cloud, self.timeout_s, self._post = url, cloud, timeout_s, post

    def train(self, item: TrainingInput) -> TrainingOutcome:
        lines = [json.loads(line) for line in item.dataset_path.read_text(encoding="utf-8").splitlines()]
        payload = {
            "job": item.job,
            "dataset": {
                "format": "openai-chat-jsonl",
                "audience": "cloud" if self.cloud else "local",
                "lines": lines,
            },
        }
        try:
            response = self._post(self.url, payload, self.timeout_s)
        except httpx.HTTPError as e:
            return TrainingOutcome("failed", f"webhook unreachable: {type(e).__name__}")
        if 200 <= response.status_code < 300:
            return TrainingOutcome(
                "submitted", f"webhook answered {response.status_code}: {response.text[:300]}"
            )
        return TrainingOutcome("failed", f"webhook answered {response.status_code}: {response.text[:300]}")


class CommandTrainer:
    name = "command"

    def __init__(self, template: str, *, cloud: bool, timeout_s: float) -> None:
        self.template, self.cloud, self.timeout_s = template, cloud, timeout_s

    def argv(self, item: TrainingInput) -> list[str]:
        values = {
            "{job_id}": str(item.job["id"]),
            "{model}": str(item.job["model"]),
            "{method}": str(item.job["method"]),
            "{dataset}": str(item.dataset_path),
            "{job_file}": str(item.job_path),
            "{prompt_file}": str(item.prompt_path),
        }
        out = []
        for arg in shlex.split(self.template):
            for placeholder, value in values.items():
                arg = arg.replace(placeholder, value)
            out.append(arg)
        return out

    def train(self, item: TrainingInput) -> TrainingOutcome:
        try:
            done = subprocess.run(
                self.argv(item), capture_output=True, text=True, timeout=self.timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            return TrainingOutcome("failed", f"the command ran longer than {self.timeout_s:g} s")
        except OSError as e:
            return TrainingOutcome("failed", f"the command could not start: {e}")
        if done.returncode == 0:
            last = (done.stdout.strip().splitlines() or [""])[-1]
            return TrainingOutcome("succeeded", f"exit 0: {last[:300]}")
        return TrainingOutcome("failed", f"exit {done.returncode}: {done.stderr.strip()[-300:]}")


def trainer_from_settings(settings: Settings) -> Trainer:
    kind = settings.finetune_trainer
    cloud = not settings.finetune_trainer_local
    if kind == "webhook":
        if not settings.finetune_webhook_url.startswith(("http://", "https://")):
            raise ConfigError("COACHLINE_FINETUNE_WEBHOOK_URL: the webhook trainer needs an http(s) URL")
        return WebhookTrainer(
            settings.finetune_webhook_url, cloud=cloud, timeout_s=settings.finetune_trainer_timeout_s
        )
    if kind == "command":
        if not settings.finetune_command.strip():
            raise ConfigError("COACHLINE_FINETUNE_COMMAND: the command trainer needs a command")
        return CommandTrainer(
            settings.finetune_command, cloud=cloud, timeout_s=settings.finetune_trainer_timeout_s
        )
    return RecordingTrainer()
