"""Batch work cannot starve single calls (issue 14, defect 7): a maximum-size /score_batch is
validated and assessed a slice at a time on the event loop, and a /score arriving meanwhile is
answered between slices, not after the batch. benchmarks/bench_service.py (`--phases fairness`)
measures the effect on /score p99."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from service_helpers import assessor_of, running_service, service_env

from serving.api_models import EXAMPLE_CALL, MAX_BATCH
from serving.service import BATCH_CHUNK

pytestmark = pytest.mark.xdist_group("model")


def test_a_single_call_is_answered_between_the_slices_of_a_full_batch(
    service_data: dict, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = service_env(service_data, tmp_path_factory.mktemp("fair"))
    records = service_data["records"]
    batch = [{**records[i % len(records)], "call_id": f"FAIR-{i}"} for i in range(MAX_BATCH)]
    with running_service(env) as client:
        assessor = assessor_of(client)
        plain = assessor.assess
        seen: list[tuple[str, int, str]] = []  # (first call_id, calls, thread) per assess
        started = threading.Event()

        def assess(calls: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
            seen.append((calls[0]["call_id"], len(calls), threading.current_thread().name))
            if calls[0]["call_id"].startswith("FAIR-"):
                started.set()
            return plain(calls, *args, **kwargs)

        assessor.assess = assess
        try:
            with ThreadPoolExecutor(1) as pool:
                sent = pool.submit(client.post, "/score_batch", json={"calls": batch})
                assert started.wait(60), "the batch never started"
                single = client.post("/score", json={"call": EXAMPLE_CALL})
                answer = sent.result(timeout=120)
        finally:
            del assessor.assess
    assert single.status_code == 200, single.text
    assert answer.status_code == 200, answer.text
    assert [a["call_id"] for a in answer.json()] == [c["call_id"] for c in batch]

    slices = [(cid, n, thread) for cid, n, thread in seen if cid.startswith("FAIR-")]
    assert sum(n for _, n, _ in slices) == MAX_BATCH
    # Small slices, never on the background thread (which would fight the event loop for the
    # interpreter lock), ...
    assert max(n for _, n, _ in slices) <= BATCH_CHUNK
    assert not any(thread.startswith("call-risk-background") for _, _, thread in slices)
    # ... and the single call went in between them, not after the batch.
    order = [cid for cid, _, _ in seen]
    single_at = order.index(EXAMPLE_CALL["call_id"])
    assert 0 < single_at < len(order) - 1


def test_a_bad_call_anywhere_in_a_batch_refuses_it_before_any_is_assessed(
    service_data: dict, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = service_env(service_data, tmp_path_factory.mktemp("fair_bad"))
    records = service_data["records"]
    batch = [{**records[i % len(records)], "call_id": f"BAD-{i}"} for i in range(300)]
    batch[257]["priority"] = True
    with running_service(env) as client:
        audit = assessor_of(client).audit
        before = audit.count()
        resp = client.post("/score_batch", json={"calls": batch})
        assert resp.status_code == 400, resp.text
        assert resp.json()["field"] == "calls[257].priority"
        assert audit.count() == before
