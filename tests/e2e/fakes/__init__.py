"""Fake upstream servers (OpenAI, Anthropic) for the end-to-end tests; see each module."""

from .anthropic import FakeAnthropic
from .http import RecordedRequest
from .openai import FakeOpenAI
from .reply import Reply

__all__ = ["FakeAnthropic", "FakeOpenAI", "RecordedRequest", "Reply"]
