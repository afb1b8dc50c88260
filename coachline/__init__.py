"""coachline: a distributed worker cluster that answers coaching requests with local and cloud LLMs."""

__version__ = "0.1.0"
