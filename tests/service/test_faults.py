"""The fault suite (issue 14): the real `risk-model serve`, hurt the way bad luck does it.

- a corrupt model, a run that does not exist, an empty --model, a port already taken: exit code
  2 and one line naming the cause, before anything listens;
- `kill -9` of the server in the middle of a stream of /ingest posts: its workers stop with it,
  the port is free again within seconds, every acknowledged row is in the store, and the next
  start works;
- a full disk under the history store and the audit log: 503 naming the cause, /readyz says so,
  nothing acknowledged is lost, and the service is ready again once there is room.

And the third probe's cases (issue 22): two servers on one host each with their own metrics and
no series per unauthenticated path (N5, N1); no review link in the log and no weak token (N2); a
later /ingest never erasing a recorded assault (N14); a damaged audit record (N9); control
characters in text (N15); a refused /ingest logged, no server path in a body (N18). N10 and N11
are in test_monitor_latest.py / test_metrics_labels.py and tests/unit/test_cluster_units.py.

Slow (subprocess servers, ~1-2 minutes in all); run in CI with the rest of the suite.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_helpers import running_service, service_env

from risk_model.service.serve_process import free_port, serve_process
from serving.api_models import EXAMPLE_CALL

pytestmark = [pytest.mark.xdist_group("model"), pytest.mark.slow]

CLI = (sys.executable, "-m", "risk_model.cli")


def run_serve(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, "serve", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


def one_error_line(done: subprocess.CompletedProcess) -> str:
    """The single `error:` line a refused start prints (last on stderr, no traceback)."""
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr[-3000:]
    assert done.stderr.strip().splitlines()[-1] == errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def model_dir(service_data: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local copy of the champion's MLflow model directory (to corrupt)."""
    import mlflow

    mlflow.set_tracking_uri(service_data["tracking_uri"])
    dst = tmp_path_factory.mktemp("model-copy")
    return Path(
        mlflow.artifacts.download_artifacts(artifact_uri=service_data["model_uri"], dst_path=dst)
    )


# ------------------------------------------------------------------ refused starts


# Truncated: LightGBM aborts the process (SIGABRT); garbage: it raises an error.
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_serve_refuses_a_corrupt_model_in_one_line(
    service_data: dict, model_dir: Path, tmp_path: Path, damage: str
) -> None:
    broken = tmp_path / "model"
    shutil.copytree(model_dir, broken)
    booster = next(broken.rglob("booster.txt"))
    text = booster.read_bytes()
    if damage == "garbage":
        booster.write_bytes(os.urandom(len(text) // 3))
    else:
        booster.write_bytes(text[: len(text) // 2])
    env = service_env(service_data, tmp_path)
    t0 = time.monotonic()
    done = run_serve(
        "--model", str(broken), "--port", str(free_port()),
        "--history-db", env["CALL_RISK_HISTORY_DB"], env=env, cwd=tmp_path,
    )  # fmt: skip
    line = one_error_line(done)
    assert "model" in line and str(broken) in line, line
    assert time.monotonic() - t0 < 90


def test_serve_refuses_a_missing_run_and_an_empty_model(
    service_data: dict, tmp_path: Path
) -> None:
    env = service_env(service_data, tmp_path)
    db = env["CALL_RISK_HISTORY_DB"]
    missing = run_serve(
        "--model", "runs:/deadbeef/model", "--history-db", db, env=env, cwd=tmp_path
    )
    assert "deadbeef" in one_error_line(missing)
    empty = run_serve("--model", "", "--history-db", db, env=env, cwd=tmp_path)
    assert "--model is empty" in one_error_line(empty)


def test_serve_names_a_port_already_in_use(service_data: dict, tmp_path: Path) -> None:
    env = service_env(service_data, tmp_path)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = run_serve("--port", str(port), "--history-db", env["CALL_RISK_HISTORY_DB"],
                         env=env, cwd=tmp_path)  # fmt: skip
    line = one_error_line(done)
    assert f"port {port}" in line and "in use" in line and f":{port}" in line, line


def test_serve_names_an_unreadable_history_store(service_data: dict, tmp_path: Path) -> None:
    env = service_env(service_data, tmp_path)
    bad = tmp_path / "broken.db"
    bad.write_bytes(b"not a database " * 1000)
    done = run_serve("--port", str(free_port()), "--history-db", str(bad), env=env, cwd=tmp_path)
    line = one_error_line(done)
    assert "history store" in line and str(bad) in line and "not a database" in line, line


# ------------------------------------------------------------------ kill -9 mid-ingest


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a dead child nobody has reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            assert exc.errno == errno.EADDRINUSE
            return False
    return True


def _stored_ids(db: Path) -> set[str]:
    with sqlite3.connect(db) as con:
        return {r[0] for r in con.execute("SELECT call_id FROM calls WHERE call_id LIKE 'K-%'")}


class IngestStream:
    """Posts batches of new calls to /ingest from a thread; keeps the ids acknowledged (200)."""

    def __init__(self, port: int, batch: int = 25) -> None:
        self.port, self.batch = port, batch
        self.acknowledged: set[str] = set()
        self.batches = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10) as client:
            while not self.stopped.is_set():
                ids = [f"K-{n}-{i}" for i in range(self.batch)]
                n += 1
                calls = [
                    {**EXAMPLE_CALL, "call_id": cid, "received_at": "2025-12-06T10:00:00",
                     "address": f"{n} KILL ST", "officer_assaulted": i % 2 == 0}
                    for i, cid in enumerate(ids)
                ]  # fmt: skip
                try:
                    resp = client.post("/ingest", json={"calls": calls})
                except httpx.TransportError:
                    continue  # the server is gone: not acknowledged
                if resp.status_code == 200 and resp.json()["inserted"] == self.batch:
                    self.acknowledged.update(ids)
                    self.batches += 1


def test_kill_9_mid_ingest_stops_the_workers_and_loses_nothing_acknowledged(
    service_data: dict, tmp_path: Path
) -> None:
    env = service_env(service_data, tmp_path)
    db = Path(env["CALL_RISK_HISTORY_DB"])
    port = free_port()
    args = ["--history-db", str(db)]
    log = tmp_path / "serve.log"
    with serve_process(port, args, env=env, cwd=tmp_path, log=log) as proc:
        try:
            workers = _children(proc.pid)
            assert workers, "the server has no worker processes"
            stream = IngestStream(port)
            stream.thread.start()
            deadline = time.monotonic() + 60
            while stream.batches < 5 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert stream.batches >= 5, log.read_text()[-3000:]
            proc.send_signal(signal.SIGKILL)  # the server only, mid-stream; not its group
            proc.wait(timeout=10)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and (
                any(_running(w) for w in workers) or not _port_free(port)
            ):
                time.sleep(0.1)
            alive = [w for w in workers if _running(w)]
            assert not alive, f"workers {alive} outlived the server"
            assert _port_free(port)
            stream.stopped.set()
            stream.thread.join(timeout=15)
        finally:
            with contextlib.suppress(ProcessLookupError):  # leave no process behind
                os.killpg(proc.pid, signal.SIGKILL)
    acknowledged = stream.acknowledged
    assert acknowledged and acknowledged <= _stored_ids(db)

    # The next start on the same port works and sees every acknowledged row.
    with (
        serve_process(port, args, env=env, cwd=tmp_path, log=log),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        again = client.post("/ingest", json={"calls": [{**EXAMPLE_CALL, "call_id": "K-after"}]})
        assert again.status_code == 200 and again.json()["inserted"] == 1
    assert acknowledged <= _stored_ids(db)


# ------------------------------------------------------------------ a full disk


@pytest.fixture
def small_disk(tmp_path: Path, service_data: dict) -> Iterator[Path]:
    """A small tmpfs holding a copy of the history store, with ~8 MB to spare (needs the
    privilege to mount, as the CI container has; skipped with the reason otherwise)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    size = service_data["base_db"].stat().st_size + 8 * 1024 * 1024
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        shutil.copy(service_data["base_db"], mount / "history.db")
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(directory: Path) -> Path:
    """Writes a file until the disk is full; returns it (delete it to make room)."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        try:
            while True:  # the last few bytes
                f.write(b"\0" * 512)
        except OSError:
            pass
    return filler


def _score(client: httpx.Client, call_id: str) -> httpx.Response:
    body = {"call": {**EXAMPLE_CALL, "call_id": call_id, "narrative": "X" * 2000}}
    return client.post("/score", json=body)


def test_a_full_disk_answers_503_and_readiness_tells_the_truth(
    service_data: dict, small_disk: Path, tmp_path: Path
) -> None:
    env = service_env(service_data, small_disk)
    port = free_port()
    args = ["--history-db", env["CALL_RISK_HISTORY_DB"]]
    scored: list[str] = []
    with (
        serve_process(port, args, env=env, cwd=tmp_path, log=tmp_path / "serve.log"),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        for i in range(5):
            assert _score(client, f"FULL-{i}").status_code == 200
            scored.append(f"FULL-{i}")
        filler = _fill(small_disk)
        failed: Any = None
        for i in range(5, 400):  # WAL space already on disk can take a few more records
            resp = _score(client, f"FULL-{i}")
            if resp.status_code == 200:
                scored.append(f"FULL-{i}")
                continue
            failed = resp
            break
        assert failed is not None, "the audit log never reported the full disk"
        assert failed.status_code == 503, failed.text
        assert "audit log" in failed.json()["error"] and "full" in failed.json()["error"]
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "full" in ready.json()["error"], ready.text
        ingest = client.post(
            "/ingest",
            json={"calls": [{**EXAMPLE_CALL, "call_id": f"FULL-I{i}"} for i in range(1000)]},
        )
        assert ingest.status_code in (200, 503), ingest.text
        ingested = ingest.status_code == 200
        if not ingested:
            assert "history store" in ingest.json()["error"]

        filler.unlink()
        deadline = time.monotonic() + 10
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.get("/readyz").status_code == 200
        assert _score(client, "FULL-after").status_code == 200
        scored.append("FULL-after")

    with sqlite3.connect(small_disk / "audit.db") as con:
        audited = {r[0] for r in con.execute("SELECT call_id FROM audit_entry")}
    assert set(scored) <= audited
    if ingested:
        assert {"FULL-I0", "FULL-I999"} <= {
            r[0] for r in sqlite3.connect(small_disk / "history.db").execute(
                "SELECT call_id FROM calls WHERE call_id LIKE 'FULL-I%'"
            )
        }  # fmt: skip


# ------------------------------------------------------------------ issue 22: the third probe


def test_a_later_ingest_never_erases_a_recorded_assault_without_a_correction(
    service_data: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """N14: `/ingest` of `officer_assaulted: false` after `true` used to answer `updated: 1` and
    erase the assault in silence. Now the assault is kept, reported in `kept` and logged;
    only a row with `correction: true` changes it, and that is logged too."""
    env = service_env(service_data, tmp_path)
    call = {**EXAMPLE_CALL, "call_id": "N14-1"}
    with running_service(env) as client:
        first = client.post("/ingest", json={"calls": [{**call, "officer_assaulted": True}]})
        assert first.status_code == 200 and first.json()["inserted"] == 1
        caplog.set_level(logging.INFO)
        erase = client.post("/ingest", json={"calls": [{**call, "officer_assaulted": False}]})
        body = erase.json()
        assert erase.status_code == 200 and body["updated"] == 0, body
        assert [(k["call_id"], k["field"]) for k in body["kept"]] == [
            ("N14-1", "calls[0].officer_assaulted")
        ]
        assert "correction: true" in body["kept"][0]["error"]
        assert "N14-1" in caplog.text and "keeps officer_assaulted true" in caplog.text
        bad = client.post("/ingest", json={"calls": [{**call, "correction": "yes"}]})
        assert bad.status_code == 400 and bad.json()["field"] == "calls[0].correction"
        fix = {**call, "officer_assaulted": False, "correction": True}
        fixed = client.post("/ingest", json={"calls": [fix]}).json()
        assert fixed["updated"] == 1 and fixed["kept"] == []
        assert "officer_assaulted True -> False (correction)" in caplog.text
    with sqlite3.connect(tmp_path / "history.db") as con:
        (assault,) = con.execute("SELECT assault FROM calls WHERE call_id = 'N14-1'").fetchone()
    assert assault == 0


@pytest.mark.parametrize("char", ["\x00", "\x1b[2J", "\u202e"])
def test_control_characters_in_text_are_a_400_naming_the_field(
    service_data: dict, tmp_path: Path, char: str
) -> None:
    """N15: NUL, ESC and bidi overrides were accepted in text fields (and so stored, audited
    and shown to supervisors); now 400 naming the field, as the schema states."""
    env = service_env(service_data, tmp_path)
    with running_service(env) as client:
        resp = client.post("/score", json={"call": {**EXAMPLE_CALL, "narrative": f"A{char}B"}})
        assert resp.status_code == 400 and resp.json()["field"] == "call.narrative", resp.text
        ingest = client.post(
            "/ingest", json={"calls": [{**EXAMPLE_CALL, "call_id": f"N15{char}", "beat": "B"}]}
        )
        assert ingest.status_code == 400 and ingest.json()["field"] == "calls[0].call_id"


def test_a_refused_ingest_is_logged_and_errors_show_no_server_path(
    service_data: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """N18: an /ingest refused for its content wrote no log line; a body never names the
    server's folders."""
    env = service_env(service_data, tmp_path)
    with running_service(env) as client:
        caplog.set_level(logging.INFO)
        bad = {**EXAMPLE_CALL, "call_id": "N18\nforged line", "received_at": "soon"}
        resp = client.post("/ingest", json={"calls": [bad]})
        assert resp.status_code == 400, resp.text
        lines = [r.getMessage() for r in caplog.records if "ingest refused" in r.getMessage()]
        assert len(lines) == 1 and "calls[0].received_at" in lines[0], caplog.text
        assert str(tmp_path) not in resp.text and str(tmp_path) not in client.get("/readyz").text


def _score_requests(metrics: str) -> float:
    """/score requests counted on a /metrics page (every status code)."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("bentoml_service_request_total{") and 'endpoint="/score"' in line
    )


def test_two_servers_on_one_host_keep_their_own_metrics(
    service_data: dict, tmp_path: Path
) -> None:
    """N5, N1 and N2 with real servers: two `risk-model serve` sharing BENTOML_HOME (one metrics
    folder before) each count only their own requests; distinct unauthenticated review paths
    add no series; no review link or session is written to the log."""
    one_worker = '{"services": {"call-risk": {"workers": 1}}}'
    home = {"BENTOML_HOME": str(tmp_path / "bentoml-home"), "BENTOML_CONFIG_OVERRIDES": one_worker}
    env_a = {**service_env(service_data, tmp_path / "a"), **home}
    token = "fault-suite-token-0123456789abcdefghijklmnop"
    env_b = {**service_env(service_data, tmp_path / "b"), **home, "CALL_RISK_API_TOKEN": token}
    auth = {"Authorization": f"Bearer {token}"}
    port_a, port_b = free_port(), free_port()
    with (
        serve_process(
            port_a,
            ["--history-db", env_a["CALL_RISK_HISTORY_DB"]],
            env=env_a,
            cwd=tmp_path,
            log=tmp_path / "a.log",
        ),
        serve_process(
            port_b,
            ["--history-db", env_b["CALL_RISK_HISTORY_DB"]],
            env=env_b,
            cwd=tmp_path,
            log=tmp_path / "b.log",
            headers=auth,
        ),
        httpx.Client(base_url=f"http://127.0.0.1:{port_a}", timeout=30) as a,
        httpx.Client(base_url=f"http://127.0.0.1:{port_b}", timeout=30, headers=auth) as b,
    ):
        for i in range(7):
            assert _score(a, f"N5-{i}").status_code == 200
        for i in range(5):  # the label every unknown review path shares, made once
            a.get(f"/review/n1-first-{i}")
        before = a.get("/metrics").text
        for i in range(300):
            a.get(f"/review/n1-probe-{i}")
        after = a.get("/metrics").text
        assert _score_requests(after) == 7
        assert _score_requests(b.get("/metrics").text) == 0  # B saw none of A's calls
        assert "n1-probe" not in after
        assert len(after.splitlines()) == len(before.splitlines())  # not one series more
    # N2: the server with a token says how to make a review link, and writes none to its log.
    log_b = (tmp_path / "b.log").read_text()
    assert "review-link" in log_b and "rv1." not in log_b and "token=" not in log_b
    key = tmp_path / "b" / "review_session.key"
    assert key.exists() and key.stat().st_mode & 0o077 == 0


def test_a_damaged_audit_record_is_named_by_the_review_page_and_skipped_by_monitor(
    service_data: dict, tmp_path: Path
) -> None:
    """N9: one bad record made the review call view answer 500 and `monitor` crash with a
    traceback. Now a 422 naming the call, and the monitor skips and counts it in one line."""
    env = service_env(service_data, tmp_path)
    with running_service(env) as client:
        for i in range(5):
            assert _score_local(client, f"N9-{i}").status_code == 200
        with sqlite3.connect(tmp_path / "audit.db") as con:
            con.execute("UPDATE audit_entry SET record = X'00010203' WHERE call_id = 'N9-2'")
        bad = client.get("/review/api/calls/N9-2")
        assert bad.status_code == 422 and bad.json()["field"] == "call_id", bad.text
        assert client.get("/review/api/calls/N9-3").status_code == 200
        listed = client.get("/review/api/calls").json()["calls"]
        assert {"N9-2", "N9-3"} <= {c["call_id"] for c in listed}
    done = subprocess.run(
        [*CLI, "monitor", "--audit-db", "audit.db", "--history-db", "history.db", "--no-mlflow"],
        env={**os.environ, **env, "MLFLOW_TRACKING_URI": service_data["tracking_uri"]},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "1 damaged audit records skipped" in warnings[0], done.stderr


def _score_local(client: Any, call_id: str) -> Any:
    return client.post("/score", json={"call": {**EXAMPLE_CALL, "call_id": call_id}})


def test_serve_refuses_a_weak_api_token_in_one_line(tmp_path: Path) -> None:
    """N2: a weak token fell to five offline guesses; now the start refuses it, saying how to
    make a strong one (and never echoing the token)."""
    done = run_serve(
        "--history-db",
        str(tmp_path / "history.db"),
        env={"CALL_RISK_API_TOKEN": "letmein2025"},
        cwd=tmp_path,
    )
    line = one_error_line(done)
    assert "CALL_RISK_API_TOKEN is too weak" in line and "secrets.token_urlsafe" in line
    assert "letmein2025" not in done.stderr
