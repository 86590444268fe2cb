"""SQLite schema migrations: ``MIGRATIONS[i]`` brings a database from version i to i + 1.

Append new migrations, never edit applied ones: a database records its version in
``schema_version`` and replays only what it has not seen. ``AUTOINCREMENT`` keeps ids
and join sequence numbers from ever being reused after pruning, which the judge's
cursors rely on.
"""

from __future__ import annotations

MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE outcomes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            route TEXT NOT NULL, rollout_id TEXT NOT NULL, request_id TEXT NOT NULL,
            ts REAL NOT NULL, kind TEXT NOT NULL, variant TEXT NOT NULL,
            prod_status INTEGER, prod_latency REAL, prod_error TEXT,
            cand_status INTEGER, cand_latency REAL, cand_error TEXT,
            "rows" INTEGER NOT NULL DEFAULT 0,
            agree TEXT, prod_pred TEXT, cand_pred TEXT, prob_gap TEXT,
            segment TEXT, request_body BLOB, extra TEXT, more TEXT)""",
        "CREATE INDEX outcomes_route_id ON outcomes(route, id)",
        "CREATE INDEX outcomes_route_rollout_id ON outcomes(route, rollout_id, id)",
        "CREATE INDEX outcomes_request_id ON outcomes(request_id)",
        "CREATE INDEX outcomes_ts ON outcomes(ts)",
        """CREATE TABLE labels (
            request_id TEXT PRIMARY KEY, label TEXT NOT NULL, revision INTEGER NOT NULL,
            created_at REAL NOT NULL, updated_at REAL NOT NULL)""",
        "CREATE INDEX labels_updated_at ON labels(updated_at)",
        """CREATE TABLE joins (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            outcome_id INTEGER NOT NULL UNIQUE, route TEXT NOT NULL, request_id TEXT NOT NULL)""",
        "CREATE INDEX joins_route_seq ON joins(route, seq)",
        """CREATE TABLE rollouts (
            rollout_id TEXT PRIMARY KEY, route TEXT NOT NULL, number INTEGER NOT NULL,
            candidate_identity TEXT NOT NULL, config_digest TEXT NOT NULL,
            started_at REAL NOT NULL, UNIQUE (route, number))""",
        """CREATE TABLE judge_state (
            route TEXT NOT NULL, rollout_id TEXT NOT NULL, state TEXT NOT NULL,
            data TEXT NOT NULL, detail TEXT NOT NULL,
            outcome_cursor INTEGER NOT NULL, label_cursor INTEGER NOT NULL,
            version INTEGER NOT NULL, updated_at REAL NOT NULL,
            PRIMARY KEY (route, rollout_id))""",
        """CREATE TABLE audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, route TEXT NOT NULL,
            rollout_id TEXT NOT NULL, decision TEXT NOT NULL, "check" TEXT,
            p_value REAL, estimate REAL, ci_lower REAL, ci_upper REAL, n INTEGER,
            config_digest TEXT, reason TEXT NOT NULL, actor TEXT NOT NULL)""",
        "CREATE INDEX audit_route ON audit(route, rollout_id, id)",
        """CREATE TABLE state_clock (
            id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)""",
        "INSERT INTO state_clock VALUES (1, 0)",
    ],
]
