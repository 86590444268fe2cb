"""One upstream model server of a route (``production:`` / ``candidate:``) and how the
proxy keeps connections to it.

Example::

    production: {url: http://prod:8080, timeout: 2s, idle_timeout: 1.5s}
    candidate:  {url: http://cand:8080, retry_on_reset: false}

``idle_timeout`` is how long a kept-alive connection may sit idle and still be reused;
keep it below the upstream's own keep-alive timeout (uvicorn: 5 s, gunicorn: 2 s). A
shorter ``Keep-Alive: timeout=N`` announced by the upstream lowers it per connection.
``retry_on_reset`` sends a request once more, on a new connection, when a reused
connection was reset or closed before any byte of an answer: safe for model inference,
which changes nothing upstream; turn it off for an upstream whose POSTs have effects.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shadowgate.config.types import Duration, HttpUrl


class UpstreamConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    url: HttpUrl
    timeout: Duration = 2.0
    connect_timeout: Duration = 1.0
    max_connections: int = Field(default=256, ge=1)
    #: a label for this model build; changing it (or the URL) starts a new rollout
    version: str | None = None
    #: an idle kept-alive connection older than this is closed rather than reused
    idle_timeout: Duration = 1.5
    #: repeat a request once on a new connection when a reused one was reset before any
    #: answer byte (idempotent methods are always repeated)
    retry_on_reset: bool = True

    @field_validator("timeout", "connect_timeout", "idle_timeout")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be greater than 0")
        return v
