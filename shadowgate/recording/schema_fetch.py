"""Read the models' input schemas (``GET /v2/models/{name}``) for ``schema: auto`` routes.

Run at start and after every config reload; production's schema is the one requests are
checked against, the candidate's is compared with it and the differences reported.
A model that cannot be read leaves the route unchecked and says why in ``/api/status``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import aiohttp

from shadowgate.config.model import RouteConfig, ShadowgateConfig
from shadowgate.inputs import ModelSchema
from shadowgate.recording.inputs_watch import InputWatch

log = logging.getLogger(__name__)
_MODEL = re.compile(r"^/v2/models/([^/]+)")


def model_name(route: RouteConfig) -> str:
    """The OIP model name: from ``match.path_prefix`` (``/v2/models/NAME``), else the route's."""
    m = _MODEL.match(route.match.path_prefix)
    return m.group(1) if m else route.name


async def fetch_schema(session: aiohttp.ClientSession, url: str, timeout: float) -> ModelSchema:
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
        if resp.status != 200:
            raise ValueError(f"GET {url} answered {resp.status}")
        doc: Any = await resp.json(content_type=None)
    return ModelSchema.from_metadata(doc, source=url)


async def refresh_schemas(watch: InputWatch, cfg: ShadowgateConfig) -> None:
    """Fetch production's and the candidate's metadata for every ``schema: auto`` route."""
    routes = [
        r
        for r in cfg.routes
        if r.validation is not None
        and r.validation.schema_ == "auto"
        and r.protocol == "open-inference-v2"
    ]
    if not routes:
        return
    async with aiohttp.ClientSession() as session:
        for r in routes:
            path = f"/v2/models/{model_name(r)}"
            try:
                prod = await fetch_schema(session, r.production.url + path, r.production.timeout)
            except (aiohttp.ClientError, TimeoutError, ValueError) as e:
                msg = f"production model metadata unavailable: {e}"
                log.error("route %s: %s; requests are not checked", r.name, msg)
                watch.set_schema_error(r.name, msg)
                continue
            cand: ModelSchema | None = None
            try:
                if r.candidate is not None:  # none: a steady state, production alone
                    cand = await fetch_schema(session, r.candidate.url + path, r.candidate.timeout)
            except (aiohttp.ClientError, TimeoutError, ValueError) as e:
                log.warning("route %s: candidate model metadata unavailable: %s", r.name, e)
                cand = None
            watch.set_schemas(r.name, prod, cand)
