"""``request_id``: where the key that labels join on comes from.

``header`` is the request id the data plane reads, keeps or generates and returns to the
client (``X-Request-Id``). ``body`` is a JMESPath into the decoded request body; when the
body carries a value there, the outcome is stored under that value instead, so clients
that cannot send or read headers (tritonclient, MLflow's scoring client) can still post
feedback by an id they chose. For ``open-inference-v2`` the default body key is ``id``,
the protocol's own request id (tritonclient's ``request_id=`` sets it); ``body: null``
turns it off.

Example::

    request_id: {header: X-Request-Id, body: id}
    request_id: {body: "parameters.trace_id"}
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator

#: the body key used when a route says nothing, per protocol
DEFAULT_BODY_KEYS: dict[str, str] = {"open-inference-v2": "id"}
#: the only header the data plane reads request ids from
REQUEST_ID_HEADER = "X-Request-Id"


class RequestIdConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    header: str = REQUEST_ID_HEADER
    #: JMESPath into the request body; unset = the protocol's default (``id`` for OIP v2)
    body: str | None = None

    @field_validator("header")
    @classmethod
    def _header(cls, v: str) -> str:
        if v.lower() != REQUEST_ID_HEADER.lower():
            raise ValueError(
                f"request ids are read from the {REQUEST_ID_HEADER} header only, not {v!r}; "
                "to join on another value, point request_id.body at it in the request body"
            )
        return REQUEST_ID_HEADER

    @field_validator("body")
    @classmethod
    def _jmespath(cls, v: str | None) -> str | None:
        if v is None:
            return v
        import jmespath
        from jmespath.exceptions import JMESPathError

        if not v.strip():
            raise ValueError("request_id.body is empty: give a JMESPath such as id, or null")
        try:
            jmespath.compile(v)
        except JMESPathError as exc:
            raise ValueError(f"invalid JMESPath {v!r}: {exc}") from None
        return v

    def body_path(self, protocol: str) -> str | None:
        """The JMESPath to read, or None when the body is not looked at."""
        if "body" in self.model_fields_set:
            return self.body
        return DEFAULT_BODY_KEYS.get(protocol)
