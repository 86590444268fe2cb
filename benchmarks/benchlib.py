"""Process plumbing shared by the proxy and memory benchmarks (loopback only).

Starts and stops the servers under test, pins them to cores, configures nginx, runs
shadowgate with a generated config, reads CPU time and RSS from ``/proc``, and describes
the machine.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
PY = sys.executable
HOST = "127.0.0.1"
PATH = "/v2/models/bench/infer"
REQUEST_BODY = '{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1.0,2.0,3.0,4.0]}]}'
RESPONSE_BODY = (
    '{"model_name":"bench","outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[0.5]}]}'
)
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Layout:
    """Which cores run the proxy under test and everything else (``taskset``)."""

    proxy: str | None = None
    rest: str | None = None

    @classmethod
    def default(cls, pin: bool) -> Layout:
        if not pin or shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
            return cls()
        last = (os.cpu_count() or 2) - 1
        return cls(proxy=str(last), rest=",".join(str(c) for c in range(last)))

    def wrap(self, cmd: list[str], proxy: bool) -> list[str]:
        cores = self.proxy if proxy else self.rest
        return ["taskset", "-c", cores, *cmd] if cores else cmd

    def describe(self) -> str:
        if not self.proxy:
            return "not pinned"
        return (
            f"proxy under test on core {self.proxy}; upstreams and load generators on {self.rest}"
        )


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


@dataclass
class Stack:
    """Every process started, stopped in reverse order by ``close``."""

    workdir: Path
    layout: Layout
    procs: list[Proc] = field(default_factory=list)

    def start(
        self, name: str, cmd: list[str], *, proxy: bool, env: dict[str, str] | None = None
    ) -> Proc:
        log = self.workdir / f"{name}.log"
        fh = log.open("wb")
        popen = subprocess.Popen(
            self.layout.wrap(cmd, proxy),
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        fh.close()
        p = Proc(name, popen, log)
        self.procs.append(p)
        return p

    def stop(self, p: Proc) -> None:
        p.stop()
        if p in self.procs:
            self.procs.remove(p)

    def close(self) -> None:
        for p in reversed(self.procs):
            p.stop()
        self.procs.clear()


def wait_http(url: str, proc: Proc | None = None, timeout: float = 30.0) -> None:
    """Poll until ``url`` answers (any status below 500), or fail with the process log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited: {proc.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as r:
                if r.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.05)
    tail = proc.log.read_text()[-2000:] if proc is not None else ""
    raise RuntimeError(f"{url} did not come up in {timeout}s {tail}")


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {HOST}:{port}")


# -- nginx -----------------------------------------------------------------------------------


def nginx_conf(workdir: Path, name: str, servers: str) -> Path:
    """A single-worker nginx config (one core, like one Python process) around ``servers``."""
    root = workdir / name
    root.mkdir(parents=True, exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    text = f"""{user}worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log crit;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
{servers}
}}
"""
    path = root / "nginx.conf"
    path.write_text(text)
    return path


def nginx_upstream_servers(ports: list[int], body: str = RESPONSE_BODY) -> str:
    body = body.replace("'", "\\'")
    return "\n".join(
        f"""    server {{
        listen {HOST}:{port} backlog=4096;
        location / {{ default_type application/json; return 200 '{body}'; }}
    }}"""
        for port in ports
    )


def nginx_proxy_server(port: int, production: int, mirror: int | None) -> str:
    up = f"up_{port}"
    blocks = [f"    upstream {up} {{ server {HOST}:{production}; keepalive 256; }}"]
    mirror_lines = ""
    if mirror is not None:
        blocks.append(f"    upstream m_{port} {{ server {HOST}:{mirror}; keepalive 256; }}")
        mirror_lines = f"""
        location = /_mirror {{
            internal;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 2s;
            proxy_read_timeout 2s;
            proxy_pass http://m_{port}$request_uri;
        }}"""
    m = "mirror /_mirror; mirror_request_body on;" if mirror is not None else ""
    blocks.append(
        f"""    server {{
        listen {HOST}:{port} backlog=4096;
        location / {{
            {m}
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://{up};
        }}{mirror_lines}
    }}"""
    )
    return "\n".join(blocks)


# -- shadowgate --------------------------------------------------------------------------------


def shadowgate_config(
    workdir: Path, name: str, port: int, admin: int, production: int, candidate: int
) -> Path:
    """A shadow-mode route mirroring 100 %, recording to SQLite, never deciding mid-run."""
    doc: dict[str, Any] = {
        "server": {
            "listen": f"{HOST}:{port}",
            "admin_listen": f"{HOST}:{admin}",
            "shutdown_timeout": "2s",
        },
        "store": f"sqlite:///{workdir / name}.db",
        "routes": [
            {
                "name": "bench",
                "match": {"path_prefix": "/v2/models/bench"},
                "production": {"url": f"http://{HOST}:{production}", "timeout": "2s"},
                "candidate": {"url": f"http://{HOST}:{candidate}", "timeout": "2s"},
                "mode": "shadow",
                "mirror": {"percent": 100, "max_in_flight": 512},
                "protocol": "open-inference-v2",
                # the judge looks every second as usual, but can never decide within a
                # run: a decision (e.g. rolling back the slow candidate) would stop mirroring
                "analysis": {
                    "min_samples": 100_000_000,
                    "max_samples": 100_000_000,
                    "checks": [{"metric": "agreement", "min": 0.0}],
                },
            }
        ],
    }
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def shadowgate_cmd(
    config: Path, record: bool, workers: int = 1, judge_process: bool = False
) -> list[str]:
    if not record:
        return [PY, str(HERE / "shadowgate_norecord.py"), str(config)]
    exe = str(Path(PY).parent / "shadowgate")
    cmd = [exe, "serve", "--config", str(config), "--log-level", "warning"]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    if judge_process:
        cmd.append("--judge-process")
    return cmd


# -- /proc -------------------------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its descendants."""
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / _TICK


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants."""
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


# -- machine -----------------------------------------------------------------------------------


def _version(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
    except OSError:
        return "missing"
    return (r.stdout + r.stderr).strip().splitlines()[0] if (r.stdout + r.stderr).strip() else "?"


def cpu_model() -> str:
    """The CPU's model name as ``/proc/cpuinfo`` gives it (``?`` when it does not)."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


def machine(layout: Layout) -> dict[str, Any]:
    import aiohttp
    import uvloop

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "uvloop": uvloop.__version__,
        "nginx": _version(["nginx", "-v"]),
        "wrk": _version(["wrk", "-v"]),
        "pinning": layout.describe(),
        "load_average_at_start": os.getloadavg(),
    }


def dump(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
