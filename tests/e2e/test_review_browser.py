"""The supervisor review page in a real headless browser, against a running service.

Starts `risk-model serve` in a subprocess on a free 127.0.0.1 port with the `trained` fixture's
MLflow store and a history store loaded by `risk-model load-history`, scores calls through
POST /score (so the audit log holds them), then drives Debian's Chromium with Playwright: open the
page from a token link, filter to a district, sort by probability, open a call and check that the
reasons and precautions shown are, word for word, what the API answered; print view; model view.
Any console error, page error, failed or refused request fails the test, and so does any request
to anywhere but the service. Screenshots go to the test's tmp dir (and REVIEW_SCREENSHOT_DIR).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from risk_model import vocab
from risk_model.review.view import format_percent
from risk_model.service.serve_process import free_port, serve_process

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("model")]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "e2e-review-token-for-the-browser-0123456789"
N_SCORED = 60
START_TIMEOUT = 90.0


def _json_call(rec: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in rec.items():
        if key in ("officer_assaulted", "officer_injured"):
            continue
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
            continue
        if isinstance(value, pd.Timestamp):
            value = value.isoformat()
        elif hasattr(value, "item"):
            value = value.item()
        out[key] = value
    return out


@pytest.fixture(scope="module")
def service(trained: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    if not CHROMIUM.exists():
        pytest.fail(
            "Chromium is missing at /usr/bin/chromium: run `make test` (or apt-get "
            "install -y chromium)"
        )
    root = tmp_path_factory.mktemp("e2e")
    calls = pd.read_parquet(trained["data"]).sort_values("received_at").reset_index(drop=True)
    scored = calls.iloc[-N_SCORED:]
    start = scored["received_at"].min() - pd.Timedelta(days=120)
    history = calls[calls["received_at"] >= start].iloc[:-N_SCORED]
    history.to_parquet(root / "history.parquet", index=False)
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": trained["tracking_uri"],
        "CALL_RISK_AUDIT_DB": str(root / "audit.db"),
        "CALL_RISK_API_TOKEN": TOKEN,
    }
    subprocess.run(
        [
            str(bin_dir / "risk-model"),
            "load-history",
            "--data",
            str(root / "history.parquet"),
            "--db",
            str(root / "history.db"),
            "--json",
        ],
        env=env,
        cwd=root,
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    args = ["--model", trained["model_uri"], "--history-db", str(root / "history.db")]
    with (
        serve_process(
            port,
            args,
            env=env,
            cwd=root,
            log=root / "serve.log",
            headers=auth,
            timeout=START_TIMEOUT,
        ),
        httpx.Client(base_url=base, headers=auth, timeout=30) as http,
    ):
        answers: dict[str, dict[str, Any]] = {}
        records: dict[str, dict[str, Any]] = {}
        for rec in scored.to_dict(orient="records"):
            body = {"call": _json_call(rec)}
            resp = http.post("/score", json=body)
            assert resp.status_code == 200, resp.text
            answer = resp.json()
            answers[answer["call_id"]] = answer
            records[answer["call_id"]] = body["call"]
        # The scheduled monitor's run: its report lands beside the audit log (the Live view).
        monitor = subprocess.run(
            [str(bin_dir / "risk-model"), "monitor", "--audit-db", str(root / "audit.db"),
             "--history-db", str(root / "history.db"), "--days", "400", "--no-mlflow", "--json"],
            env=env, cwd=root, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert monitor.returncode == 0, monitor.stderr
        assert (root / "monitor_latest.json").exists()
        yield {"base": base, "answers": answers, "records": records, "root": root}


def _chromium(p: Any, profile: Path) -> Any:
    return p.chromium.launch_persistent_context(
        user_data_dir=str(profile),
        executable_path=str(CHROMIUM),
        args=CHROMIUM_ARGS,
        headless=True,
        viewport={"width": 1280, "height": 900},
        locale="en-US",
        timezone_id="UTC",
    )


def test_review_api_needs_the_token_through_the_service(service: dict) -> None:
    with httpx.Client(base_url=service["base"], timeout=30) as http:
        assert http.get("/review/api/calls").status_code == 401
        assert http.get("/review/", params={"token": "wrong"}).status_code == 401
        ok = http.get("/review/api/calls", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        assert {r["call_id"] for r in ok["calls"]} == set(service["answers"])


def test_review_page_in_a_real_browser(service: dict, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = service["base"]
    answers, records = service["answers"], service["records"]
    problems: list[str] = []
    foreign: list[str] = []
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"\nreview screenshots: {shots}")
    t0 = time.monotonic()

    with sync_playwright() as p:
        ctx = _chromium(p, tmp_path / "profile")
        ctx.set_default_timeout(15_000)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.on(
            "console",
            lambda m: (
                problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))
        page.on(
            "response",
            lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
        )
        page.on(
            "request",
            lambda r: (
                foreign.append(r.url)
                if not (r.url.startswith(base + "/") or r.url.startswith("data:"))
                else None
            ),
        )
        try:
            # 1. A supervisor opens the link; the token becomes a session cookie, leaves the URL.
            page.goto(f"{base}/review/?token={TOKEN}")
            assert page.url == f"{base}/review/"
            # The cookie is a read-only review session, never the API token.
            cookies = {c["name"]: c for c in ctx.cookies(f"{base}/review/")}
            session = cookies["call_risk_review"]
            assert session["httpOnly"] is True
            assert session["sameSite"] == "Strict"
            assert session["value"].startswith("rv1.") and TOKEN not in session["value"]
            assert "call_risk_token" not in cookies
            leaked = {"call_risk_review": session["value"]}
            calls = {"calls": [{**records[next(iter(records))], "call_id": "LEAKED-1"}]}
            with httpx.Client(base_url=base, cookies=leaked, timeout=30) as thief:
                assert thief.post("/ingest", json=calls).status_code == 401
                assert thief.get("/review/api/facets").status_code == 200
            rows = page.locator("#calls-table tbody tr")
            expect(rows).to_have_count(len(answers))
            page.screenshot(path=str(shots / "calls.png"), full_page=True)

            # 2. Filter to the district with the most scored calls, then sort by probability.
            by_district: dict[str, list[str]] = {}
            for cid, rec in records.items():
                by_district.setdefault(rec.get("district") or "", []).append(cid)
            district = max((d for d in by_district if d), key=lambda d: len(by_district[d]))
            page.select_option("#f-district", district)
            expect(rows).to_have_count(len(by_district[district]))
            assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.district)")) == {district}
            assert "district=" in page.url
            page.click("#sort-score")
            expect(page.locator("#th-score")).to_have_attribute("aria-sort", "descending")
            want = sorted(by_district[district], key=lambda c: -answers[c]["risk_score"])
            shown = rows.evaluate_all("rs => rs.map(r => r.dataset.callId)")
            assert [answers[c]["risk_score"] for c in shown] == [
                answers[c]["risk_score"] for c in want
            ]
            page.screenshot(path=str(shots / "calls_district.png"), full_page=True)

            # 3. Open the call with the most precautions in that district (keyboard: Enter).
            call_id = max(
                by_district[district],
                key=lambda c: (len(answers[c]["precautions"]), answers[c]["risk_score"]),
            )
            answer = answers[call_id]
            link = page.locator(f'#calls-table tbody tr[data-call-id="{call_id}"] a')
            link.focus()
            page.keyboard.press("Enter")
            expect(page.locator("#call-title")).to_contain_text(call_id)

            # The reasons and precautions shown are exactly what the API answered.
            reasons = page.locator("#reasons .reason-text").all_text_contents()
            assert reasons == [r["text"] for r in answer["reasons"]]
            precautions = page.locator("#precautions .precaution-text").all_text_contents()
            assert precautions == [p["text"] for p in answer["precautions"]]
            for p in answer["precautions"]:
                because = page.locator(f'#precautions li[data-id="{p["id"]}"] .because li')
                assert because.evaluate_all("ls => ls.map(l => l.dataset.feature)") == p["because"]
                assert all(t.strip() for t in because.all_text_contents())
            assert page.locator("#score-percent").text_content() == format_percent(
                answer["risk_score"]
            )
            tier_words = {"low": "Low", "elevated": "Elevated", "high": "High"}
            assert (
                page.locator("#tier-card .badge").text_content() == tier_words[answer["risk_tier"]]
            )
            decision = page.locator("#decision-card").text_content()
            if answer["decision"] == "cant_tell":
                assert "Can't tell" in decision and "rather than guess" in decision
            # Every warning but "can't tell" (the decision card explains it) is listed with the
            # label the server gives its code (risk_model/vocab.py) and the answer's own words.
            shown = [w for w in answer["warnings"] if vocab.warning_code(w) != vocab.CANT_TELL]
            items = page.locator("#call-warnings li")
            expect(items).to_have_count(len(shown))
            for w, item in zip(shown, items.all(), strict=True):
                code = vocab.warning_code(w)
                assert item.get_attribute("data-code") == code
                text = " ".join(item.text_content().split())
                assert text.startswith(vocab.WARNING_LABELS.get(code, code))
                assert text.endswith(" ".join(w.split(":", 1)[1].split()))
            facts = page.locator("#call-facts")
            assert records[call_id]["call_type"] in facts.text_content()
            assert page.locator("#call-flags tbody tr").count() == 5
            assert (
                f"version {answer['model']['version']}"
                in page.locator("#call-model").text_content()
            )
            # The waterfall: one labelled bar per shown factor, each with a signed value.
            chart = page.locator("#waterfall svg")
            expect(chart).to_be_visible()
            labels = chart.locator("g.row-step text.label").all_text_contents()
            values = chart.locator("g.row-step text.value").all_text_contents()
            assert len(labels) == len(values) >= len(answer["reasons"])
            assert all(v.split()[-1][0] in "+\u2212" for v in values)
            top = " ".join(labels[0].split())
            assert top.replace(" ", "") == answer["reasons"][0]["text"].replace(" ", "")
            page.screenshot(path=str(shots / "call.png"), full_page=True)

            # 4. The printable view: no navigation, no buttons, the call's content kept.
            page.emulate_media(media="print")
            expect(page.locator("#print")).to_be_hidden()
            expect(page.locator("nav")).to_be_hidden()
            expect(page.locator("#reasons")).to_be_visible()
            expect(page.locator(".print-only")).to_be_visible()
            page.screenshot(path=str(shots / "call_print.png"), full_page=True)
            page.emulate_media(media="screen")

            # 5. Back to the filtered list, then the model view.
            page.click(".backlink")
            expect(rows).to_have_count(len(by_district[district]))
            page.click("#nav-model")
            expect(page.locator("#model-title")).to_contain_text(
                f"version {answer['model']['version']}"
            )
            headers = page.locator("#metrics thead th").all_text_contents()
            assert any("Call type's past rate" in h for h in headers)
            assert any("logistic" in h for h in headers)
            assert page.locator("#metrics tbody tr").count() >= 4
            assert page.locator("#windows tbody tr").count() == 4
            assert page.locator("#calibration svg g[data-model] path").count() >= 2
            assert page.locator("#importance svg rect").count() >= 5
            expect(page.locator("#audit-district tbody tr").first).to_be_visible()
            page.screenshot(path=str(shots / "model.png"), full_page=True)

            # 6. The Live view: the latest monitor report (verdict, reasons, facts).
            page.click("#nav-live")
            expect(page.locator("#live-title")).to_be_visible()
            expect(page.locator("#live-verdict")).to_contain_text("Verdict:")
            verdict = page.locator("#live-verdict strong").inner_text()
            assert verdict in ("ok", "watch", "retrain")
            assert page.locator("#live-reasons li").count() >= 1
            facts = page.locator("#live-facts").inner_text()
            assert f"{len(answers):,}" in facts  # every call the service scored
            expect(page.locator("#live-feedback")).to_be_visible()
            page.screenshot(path=str(shots / "live.png"), full_page=True)
        finally:
            ctx.close()

    assert problems == []
    assert foreign == []
    keep = os.environ.get("REVIEW_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for png in shots.glob("*.png"):
            shutil.copy(png, Path(keep) / png.name)
    assert time.monotonic() - t0 < 60


def test_monitor_gauges_through_the_service(service: dict) -> None:
    """`/monitor/metrics` under `bentoml serve`: behind the token, read from the latest report."""
    with httpx.Client(base_url=service["base"], timeout=30) as http:
        assert http.get("/monitor/metrics").status_code == 401
        resp = http.get("/monitor/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = dict(
        ln.split(" ", 1) for ln in resp.text.splitlines() if ln and not ln.startswith("#")
    )
    assert lines["call_risk_monitor_report_available"] == "1.0"
    assert float(lines["call_risk_monitor_calls_scored"]) == len(service["answers"])
    assert lines["call_risk_monitor_verdict_level"] in ("0.0", "1.0", "2.0")
    # BentoML's own /metrics carries the same gauges (the service's __metrics__ hook).
    with httpx.Client(base_url=service["base"], timeout=30) as http:
        bento = http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert bento.status_code == 200, bento.text
    assert "call_risk_monitor_report_available 1.0" in bento.text
    assert "call_risk_monitor_verdict_level " in bento.text
