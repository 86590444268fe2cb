"""``validation.schema`` and ``drift.reference`` files: check-config reports a missing,
unreadable, unparseable or wrongly shaped one with its route, key, path and what is wrong;
serve refuses to start on one; the files that are fine pass."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shadowgate.cli import main

META = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}]}


def config(tmp_path: Path, validation: str | None, drift: str | None, protocol: str) -> Path:
    lines = [
        "routes:",
        "  - name: cancer",
        "    match: {path_prefix: /v2/models/cancer}",
        '    production: {url: "http://127.0.0.1:8001"}',
        f"    protocol: {protocol}",
    ]
    if validation is not None:
        lines += ["    validation:", f"      schema: {validation}"]
    if drift is not None:
        lines += ["    drift:", f"      {drift}"]
    path = tmp_path / "sg.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def reference_csv(rows: int = 300, header: str = "x[0],x[1]") -> str:
    x = np.random.default_rng(0).standard_normal((rows, 2)).round(3)
    return header + "\n" + "\n".join(f"{a},{b}" for a, b in x) + "\n"


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["check-config", str(path)])
    out = capsys.readouterr()
    return code, out.err + out.out


FILES: dict[str, str | bytes | None] = {
    "meta.yaml": json.dumps(META),
    "bad-shape.yaml": "inputs:\n  - {name: x, datatype: FP32, shape: [-1, two]}\n",
    "no-datatype.json": json.dumps({"inputs": [{"name": "x", "shape": [-1, 2]}]}),
    "broken.yaml": "inputs: [{name: x,\n",
    "list.yaml": "- 1\n- 2\n",
    "empty.yaml": "",
    "latin1.json": '{"title": "caf\xe9"}'.encode("latin-1"),
    "bad-jsonschema.json": json.dumps({"type": 5}),
    "jsonschema.json": json.dumps({"type": "object", "required": ["instances"]}),
    "ref.csv": reference_csv(),
    "ref-short.csv": reference_csv(rows=5),
    "ref-other-columns.csv": reference_csv(header="a,b"),
    "ref-text.csv": "x[0],x[1]\n1.5,2\nabc,3\n",
    "ref-empty.csv": "x[0],x[1]\n",
    "ref.jsonl": '{"x[0]": 1.0, "x[1]": 2.0}\n{"x[0]": 1.0, \n',
    "ref-array.jsonl": "[1, 2]\n",
    "a-directory": None,
}


@pytest.fixture
def files(tmp_path: Path) -> Path:
    for name, content in FILES.items():
        if content is None:
            (tmp_path / name).mkdir()
        elif isinstance(content, bytes):
            (tmp_path / name).write_bytes(content)
        else:
            (tmp_path / name).write_text(content)
    return tmp_path


OIP = "open-inference-v2"


@pytest.mark.parametrize(
    ("validation", "drift", "protocol", "key", "expect"),
    [
        (
            "missing.json",
            None,
            OIP,
            "validation.schema",
            "missing.json: cannot be read: No such file",
        ),
        (
            "a-directory",
            None,
            OIP,
            "validation.schema",
            "a-directory: cannot be read: Is a directory",
        ),
        ("latin1.json", None, OIP, "validation.schema", "latin1.json: is not UTF-8 text"),
        ("broken.yaml", None, OIP, "validation.schema", "not YAML or JSON (line 2)"),
        (
            "bad-shape.yaml",
            None,
            OIP,
            "validation.schema",
            "inputs[0].shape must be a list of integers",
        ),
        ("no-datatype.json", None, OIP, "validation.schema", "inputs[0].datatype must be one of"),
        (
            "list.yaml",
            None,
            OIP,
            "validation.schema",
            "list.yaml: holds list; expected OIP model metadata",
        ),
        ("empty.yaml", None, OIP, "validation.schema", "empty.yaml: holds nothing"),
        (
            "bad-jsonschema.json",
            None,
            "json",
            "validation.schema",
            "not a valid JSON Schema at type",
        ),
        (
            "meta.yaml",
            None,
            "tfserving",
            "validation.schema",
            "but the route's protocol is tfserving",
        ),
        (
            "meta.yaml",
            "reference: missing.csv",
            OIP,
            "drift.reference",
            "missing.csv: cannot be read",
        ),
        (
            "meta.yaml",
            "reference: ref-other-columns.csv",
            OIP,
            "drift.reference",
            "has no column x[0], x[1] (its columns: a, b)",
        ),
        (
            "meta.yaml",
            "reference: ref-text.csv",
            OIP,
            "drift.reference",
            "ref-text.csv row 2: x[0] is 'abc', not a number",
        ),
        (
            "meta.yaml",
            "reference: ref-empty.csv",
            OIP,
            "drift.reference",
            "ref-empty.csv has no rows",
        ),
        (
            "meta.yaml",
            "reference: ref-short.csv",
            OIP,
            "drift.reference",
            "the reference has 5 usable values; at least 10 needed",
        ),
        ("meta.yaml", "reference: ref.jsonl", OIP, "drift.reference", "ref.jsonl line 2: not JSON"),
        (
            "meta.yaml",
            "reference: ref-array.jsonl",
            OIP,
            "drift.reference",
            "line 1: expected an object of feature: value, got list",
        ),
        (
            "meta.yaml",
            "{reference: ref.csv, features: ['x[0]', z]}",
            OIP,
            "drift.features",
            "drift.features: z not among the model's features (x[0], x[1])",
        ),
        ("auto", "reference: a-directory", OIP, "drift.reference", "a-directory: cannot be read"),
        (
            "auto",
            "{reference: ref.csv, features: ['x[0]', z]}",
            OIP,
            "drift.reference",
            "ref.csv has no column z (listed in drift.features)",
        ),
    ],
)
def test_check_config_locates_each_unusable_file(
    files: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    validation: str,
    drift: str | None,
    protocol: str,
    key: str,
    expect: str,
) -> None:
    monkeypatch.chdir(files)  # relative paths are read from the working directory, as serve does
    path = config(files, validation, drift, protocol)
    code, out = check(path, capsys)
    assert code == 1, out
    line = 7 if key == "validation.schema" else 9  # the line of the key in config()
    located = f"{path}:{line}: routes[0].{key}: route 'cancer': "
    assert located in out and expect in out, out
    assert out.count("routes[0]") == 1  # that problem only


@pytest.mark.parametrize(
    ("validation", "drift", "protocol"),
    [
        ("meta.yaml", "reference: ref.csv", OIP),
        ("meta.yaml", "{reference: ref.csv, features: ['x[1]']}", OIP),
        ("jsonschema.json", None, "tfserving"),
        ("auto", "reference: ref.csv", OIP),
        (str(Path("sub") / ".." / "meta.yaml"), "reference: 500", OIP),
    ],
)
def test_usable_files_pass(
    files: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    validation: str,
    drift: str | None,
    protocol: str,
) -> None:
    (files / "sub").mkdir()
    monkeypatch.chdir(files)
    code, out = check(config(files, validation, drift, protocol), capsys)
    assert code == 0 and ": OK (1 routes: cancer" in out, out


def test_serve_refuses_to_start_on_an_unusable_file(tmp_path: Path) -> None:
    path = config(tmp_path, str(tmp_path / "missing.yaml"), None, OIP)
    done = subprocess.run(
        [sys.executable, "-m", "shadowgate.cli", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert f"{path}:7: routes[0].validation.schema: route 'cancer': schema file" in done.stderr
    assert "missing.yaml: cannot be read: No such file or directory" in done.stderr
