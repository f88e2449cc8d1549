"""`risk-model train --dask local:2` as an analyst runs it: a local cluster started and stopped
by the command, progress on stderr, exactly one JSON line on stdout; bad cluster input fails
with one line before any work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from risk_model.cli import app
from risk_model.simulate.files import simulate_to_file

EXE = str(Path(sys.executable).with_name("risk-model"))


@pytest.mark.slow
@pytest.mark.xdist_group("dask")
def test_train_dask_local_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "calls.parquet"
    simulate_to_file(data, calls=25_000, seed=4, start="2025-01-01", days=365)
    proc = subprocess.run(
        [EXE, "train", "--data", str(data), "--dask", "local:2", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"},
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout[:2000]  # nothing the workers print reaches stdout
    out = json.loads(lines[0])
    assert out["cluster"]["workers"] == 2
    assert out["model_uri"].startswith("runs:/")
    assert {"auc", "pr_auc", "brier", "ece", "recall_top5pct"} <= set(out["metrics"])
    assert "call_type_rate" in out["baselines"]
    assert "cluster: done in" in proc.stderr


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("local:0", "local:N needs 1 <= N"),
        ("nonsense", "expected a scheduler address"),
    ],
)
def test_bad_cluster_address_is_one_line(tmp_path: Path, address: str, message: str) -> None:
    data = tmp_path / "calls.parquet"
    simulate_to_file(data, calls=500, seed=1, start="2025-01-01", days=30)
    res = CliRunner().invoke(app, ["train", "--data", str(data), "--dask", address])
    assert res.exit_code != 0
    text = res.output.strip()
    assert message in text and "Traceback" not in text
    assert len(text.splitlines()) == 1


def test_csv_input_is_refused_before_any_cluster_starts(tmp_path: Path) -> None:
    csv = tmp_path / "calls.csv"
    csv.write_text("call_id,received_at,call_type\nA,2025-01-01T10:00:00,THEFT\n")
    res = CliRunner().invoke(app, ["train", "--data", str(csv), "--dask", "local:1"])
    assert res.exit_code != 0
    assert "the cluster path reads Parquet" in res.output
    assert "Traceback" not in res.output


def test_dask_at_an_http_server_is_one_line(tmp_path: Path) -> None:
    """Issue 22, N11: `--dask` at the call-risk service (or any web server) was a 76-line
    "allocate 3.07 EiB" traceback; now one line naming the mistake."""
    import http.server
    import threading

    data = tmp_path / "calls.parquet"
    simulate_to_file(data, calls=500, seed=1, start="2025-01-01", days=30)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # the server's own log is not ours
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        address = f"tcp://127.0.0.1:{httpd.server_address[1]}"
        res = CliRunner().invoke(app, ["train", "--data", str(data), "--dask", address])
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert res.exit_code == 2
    text = res.output.strip()
    assert "an HTTP server answers there" in text and "Traceback" not in text
    assert len(text.splitlines()) == 1
