"""Live reload: watch the config file, debounce, parse → validate → swap, or keep the old one.

``ConfigHolder.current`` is an immutable snapshot; readers take it once per request, so a
request that started on one config finishes on it. Subscribers are told about each swap
(e.g. to resize upstream pools). A failed reload leaves ``current`` untouched and is
recorded in ``last_reload`` (shown by ``/api/status``) and in the reload counter.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shadowgate.config.loader import ConfigCheck, load_config_warnings
from shadowgate.config.model import ShadowgateConfig
from shadowgate.errors import ConfigError

log = logging.getLogger("shadowgate.config")

Listener = Callable[[ShadowgateConfig, ShadowgateConfig], None]


@dataclass
class ReloadResult:
    ok: bool
    at: float
    errors: list[str] = field(default_factory=list)
    digest: str | None = None
    #: located warnings of an applied config (e.g. a bare number with an ambiguous unit)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "at": self.at,
            "errors": self.errors,
            "digest": self.digest,
            "warnings": self.warnings,
        }


class ConfigHolder:
    """Holds the config in force and swaps it atomically on a valid reload.

    ``checks`` (e.g. that the files the config names can be used) run on every reload; a
    problem they find rejects it like any other config error.
    """

    def __init__(
        self,
        config: ShadowgateConfig,
        path: str | os.PathLike[str] | None = None,
        checks: Sequence[ConfigCheck] = (),
    ):
        self._config = config
        self.path = Path(path) if path is not None else None
        self.checks: list[ConfigCheck] = list(checks)
        self.last_reload = ReloadResult(ok=True, at=time.time(), digest=config.digest())
        self._listeners: list[Listener] = []
        self.reloads_ok = 0
        self.reloads_error = 0
        self.on_result: Callable[[ReloadResult], None] | None = None
        #: sha256 of the file content last loaded (or rejected); the watcher reloads when
        #: the file differs from it, so an edit made before the watcher's first look counts
        self.file_digest: str | None = _digest(self.path) if self.path is not None else None

    @property
    def current(self) -> ShadowgateConfig:
        return self._config

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def swap(self, new: ShadowgateConfig) -> None:
        old, self._config = self._config, new
        for listener in self._listeners:
            try:
                listener(old, new)
            except Exception:  # a listener's bug must not undo a valid reload
                log.exception("config listener failed")

    def reload(self) -> ReloadResult:
        """Re-read the file now. On error, the running config stays and the error is kept."""
        if self.path is None:
            raise RuntimeError("this config was not loaded from a file")
        self.file_digest = _digest(self.path)
        try:
            new, warned = load_config_warnings(self.path, self.checks)
        except ConfigError as exc:
            self.reloads_error += 1
            result = ReloadResult(ok=False, at=time.time(), errors=[str(p) for p in exc.problems])
            log.error(
                "config reload rejected, previous config keeps serving:\n%s",
                "\n".join(result.errors),
            )
        else:
            self.reloads_ok += 1
            result = ReloadResult(
                ok=True, at=time.time(), digest=new.digest(), warnings=[str(w) for w in warned]
            )
            for w in result.warnings:
                log.warning("config warning: %s", w)
            if new != self._config:
                self.swap(new)
                log.info("config reloaded (%s)", result.digest)
        self.last_reload = result
        if self.on_result is not None:
            self.on_result(result)
        return result


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


async def watch(holder: ConfigHolder, poll: float = 0.25, debounce: float = 0.2) -> None:
    """Poll the file; once its content differs from what the holder last loaded and then
    stays unchanged for ``debounce``, reload.

    Polling (not inotify) works the same on every filesystem, including Kubernetes
    ConfigMap volumes whose files are swapped by symlink. Comparing with the holder's
    digest (not with the watcher's first look) means an edit made between loading and
    the watcher's start is not missed.
    """
    assert holder.path is not None
    path = holder.path
    while True:
        await asyncio.sleep(poll)
        now = _digest(path)
        if now is None or now == holder.file_digest:
            continue
        # debounce: editors write in several steps; wait until the content is stable
        while True:
            await asyncio.sleep(debounce)
            again = _digest(path)
            if again == now:
                break
            now = again
        if now is None or now == holder.file_digest:
            continue
        try:
            holder.reload()
        except Exception:  # the watcher must survive anything a reload throws
            log.exception("config reload failed unexpectedly")
