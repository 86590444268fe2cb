"""PostgreSQL schema migrations: ``MIGRATIONS[i]`` brings a database from version i to i + 1.

Same tables as SQLite (see ``sqlite_schema``), with JSONB for JSON values, BYTEA for
bodies and BIGSERIAL ids (sequences never hand out a number twice, even after pruning).
Append new migrations, never edit applied ones.
"""

from __future__ import annotations

MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE outcomes (
            id BIGSERIAL PRIMARY KEY,
            route TEXT NOT NULL, rollout_id TEXT NOT NULL, request_id TEXT NOT NULL,
            ts DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL, variant TEXT NOT NULL,
            prod_status INTEGER, prod_latency DOUBLE PRECISION, prod_error TEXT,
            cand_status INTEGER, cand_latency DOUBLE PRECISION, cand_error TEXT,
            "rows" INTEGER NOT NULL DEFAULT 0,
            agree JSONB, prod_pred JSONB, cand_pred JSONB, prob_gap JSONB,
            segment TEXT, request_body BYTEA, extra JSONB, more JSONB)""",
        "CREATE INDEX outcomes_route_id ON outcomes (route, id)",
        "CREATE INDEX outcomes_route_rollout_id ON outcomes (route, rollout_id, id)",
        "CREATE INDEX outcomes_request_id ON outcomes (request_id)",
        "CREATE INDEX outcomes_ts ON outcomes (ts)",
        """CREATE TABLE labels (
            request_id TEXT PRIMARY KEY, label JSONB NOT NULL, revision INTEGER NOT NULL,
            created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX labels_updated_at ON labels (updated_at)",
        """CREATE TABLE joins (
            seq BIGSERIAL PRIMARY KEY,
            outcome_id BIGINT NOT NULL UNIQUE, route TEXT NOT NULL, request_id TEXT NOT NULL)""",
        "CREATE INDEX joins_route_seq ON joins (route, seq)",
        """CREATE TABLE rollouts (
            rollout_id TEXT PRIMARY KEY, route TEXT NOT NULL, number INTEGER NOT NULL,
            candidate_identity TEXT NOT NULL, config_digest TEXT NOT NULL,
            started_at DOUBLE PRECISION NOT NULL, UNIQUE (route, number))""",
        """CREATE TABLE judge_state (
            route TEXT NOT NULL, rollout_id TEXT NOT NULL, state TEXT NOT NULL,
            data JSONB NOT NULL, detail JSONB NOT NULL,
            outcome_cursor BIGINT NOT NULL, label_cursor BIGINT NOT NULL,
            version BIGINT NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (route, rollout_id))""",
        """CREATE TABLE audit (
            id BIGSERIAL PRIMARY KEY, time DOUBLE PRECISION NOT NULL, route TEXT NOT NULL,
            rollout_id TEXT NOT NULL, decision TEXT NOT NULL, "check" TEXT,
            p_value DOUBLE PRECISION, estimate DOUBLE PRECISION,
            ci_lower DOUBLE PRECISION, ci_upper DOUBLE PRECISION, n BIGINT,
            config_digest TEXT, reason TEXT NOT NULL, actor TEXT NOT NULL)""",
        "CREATE INDEX audit_route ON audit (route, rollout_id, id)",
        """CREATE TABLE state_clock (
            id INTEGER PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)""",
        "INSERT INTO state_clock VALUES (1, 0)",
    ],
]
