"""Automatic fine-tuning: judge each local model on its monitoring rollups, trigger a targeted
fine-tune under a database cooldown, export its training set, and hand the job to a trainer.

- ``evidence``: reads the rollups (an adapter over the monitoring tables) into plain data.
- ``trigger``: level, confidence, urgency, method, the decision (plain functions).
- ``skills``: weak skills, the fine-tuning prompt and the estimated improvement (plain functions).
- ``cooldown``: the per-model trigger slot in the database.
- ``dataset``: the OpenAI chat-format training set, with the privacy rules of its audience.
- ``trainers``: where a job goes (record, webhook, command).
- ``service``: the steps the tasks and the CLI run.
"""
