"""Webhooks and hooks: tell the outside world about state changes, never blocking the judge.

Each event is POSTed as JSON to every configured webhook from a background task, with a
timeout and retries with exponential backoff. ``confirm_promotion`` is a gate (a 2xx
answer means "go"); ``on_promote`` runs a URL or a command after a promotion so a model
registry can be updated.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

import aiohttp

from shadowgate.config.model import HookConfig, RouteConfig, WebhookConfig

log = logging.getLogger("shadowgate.notify")


class Notifier:
    """Fire-and-forget delivery of events; delivery results are counted, not awaited."""

    def __init__(self, backoff: float = 0.5) -> None:
        self.backoff = backoff
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.delivered = 0
        self.failed = 0

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    def send(self, hooks: tuple[WebhookConfig, ...], event: dict[str, Any]) -> None:
        """Schedule delivery of ``event`` to each hook and return at once."""
        body = json.dumps(event, default=str).encode()
        for hook in hooks:
            task = asyncio.create_task(self._deliver(hook, body))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, hook: WebhookConfig, body: bytes) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "shadowgate"}
        if hook.secret:
            headers["Authorization"] = f"Bearer {hook.secret}"
        delay = self.backoff
        for attempt in range(hook.retries + 1):
            try:
                async with self._client().post(
                    hook.url,
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=hook.timeout),
                ) as resp:
                    await resp.read()
                    if resp.status < 300:
                        self.delivered += 1
                        return
                    why = f"HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                why = type(exc).__name__
            if attempt < hook.retries:
                await asyncio.sleep(delay)
                delay *= 2
        self.failed += 1
        log.warning("webhook %s failed after %d attempts: %s", hook.url, hook.retries + 1, why)

    async def confirm(self, hook: WebhookConfig, event: dict[str, Any]) -> bool:
        """The promotion gate: True only for a 2xx answer within the timeout."""
        try:
            async with self._client().post(
                hook.url,
                json=event,
                headers={"Authorization": f"Bearer {hook.secret}"} if hook.secret else None,
                timeout=aiohttp.ClientTimeout(total=hook.timeout),
            ) as resp:
                await resp.read()
                return 200 <= resp.status < 300
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("confirm_promotion %s unreachable (%s): not promoting", hook.url, exc)
            return False

    def run_hook(self, hook: HookConfig, event: dict[str, Any]) -> None:
        """Run ``on_promote`` in the background: POST to its URL, or run its command."""
        if hook.url is not None:
            self.send((WebhookConfig(url=hook.url, timeout=hook.timeout),), event)
            return
        task = asyncio.create_task(self._command(hook, event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _command(self, hook: HookConfig, event: dict[str, Any]) -> None:
        assert hook.command is not None
        env = dict(os.environ)
        env["SHADOWGATE_EVENT"] = json.dumps(event, default=str)
        env["SHADOWGATE_ROUTE"] = str(event.get("route", ""))
        env["SHADOWGATE_CANDIDATE_URL"] = str(event.get("candidate_url", ""))
        try:
            proc = await asyncio.create_subprocess_exec(
                *hook.command,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await asyncio.wait_for(proc.communicate(), hook.timeout)
            if proc.returncode != 0:
                self.failed += 1
                log.warning("on_promote command exited %s: %s", proc.returncode, err[-500:])
            else:
                self.delivered += 1
        except (OSError, TimeoutError) as exc:
            self.failed += 1
            log.warning("on_promote command failed: %s", exc)

    async def drain(self, timeout: float = 5.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def close(self) -> None:
        await self.drain()
        for t in self._tasks:
            t.cancel()
        if self._session is not None:
            await self._session.close()


def event_for(
    route: RouteConfig, rollout_id: str, before: str, after: str, last: dict[str, Any] | None
) -> dict[str, Any]:
    """The JSON body of a state-change notification."""
    return {
        "type": "shadowgate.state_changed",
        "route": route.name,
        "rollout_id": rollout_id,
        "from": before,
        "to": after,
        "candidate_url": route.candidate.url if route.candidate else None,
        "candidate_version": route.candidate.version if route.candidate else None,
        "decision": last,
    }
