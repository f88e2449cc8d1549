"""LiveAssessor without HTTP: one TreeSHAP pass gives exactly what the model's own `assess` gives,
and the audit detail's contributions add up to the score's margin."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from risk_model.features.build import online_features
from risk_model.schema import CallRecord
from risk_model.service.assessor import LiveAssessor
from risk_model.service.settings import ServiceSettings, load_assessor

pytestmark = pytest.mark.xdist_group("model")


def _assessor(service_data: dict, tmp_path: Path) -> LiveAssessor:
    """What the service loads at start-up, on a copy of the loaded history store."""
    shutil.copy(service_data["base_db"], tmp_path / "history.db")
    settings = ServiceSettings(
        model_uri=service_data["model_uri"],
        history_db=tmp_path / "history.db",
        audit_db=tmp_path / "audit.db",
        tracking_uri=service_data["tracking_uri"],
    )
    return load_assessor(settings)


def test_one_pass_equals_the_model_assessment(service_data: dict, tmp_path: Path) -> None:
    assessor = _assessor(service_data, tmp_path)
    model, store, audit, ref = assessor.model, assessor.store, assessor.audit, assessor.info
    calls = [CallRecord.model_validate(r).to_row() for r in service_data["records"][:80]]

    live = assessor.assess(calls, detail=True)
    expected = model.assess(online_features(calls, store, model.settings.features))

    assert [a["reasons"] for a in live] == expected.reasons
    assert [a["risk_tier"] for a in live] == list(expected.risk_tier)
    assert [a["decision"] for a in live] == list(expected.decision)
    np.testing.assert_allclose([a["risk_score"] for a in live], expected.risk_score, atol=1e-6)
    for a, margin in zip(live, expected.margin, strict=True):
        contributions = a["detail"]["contributions"]
        total = contributions["base"] + sum(i["contribution"] for i in contributions["items"])
        assert total == pytest.approx(margin, abs=1e-3)
        assert a["model"] == {"name": ref.name, "version": ref.version}
    assert audit.count() == len(calls)
    assert audit.entry(calls[0]["call_id"])["assessment"] == {
        k: v for k, v in live[0].items() if k != "detail"
    }


def test_concurrent_single_and_batch_assessments_agree(service_data: dict, tmp_path: Path) -> None:
    """The service scores single calls on the event loop while a batch runs in a worker thread:
    both at once give the same answers as one after the other, and every call is audited."""
    from concurrent.futures import ThreadPoolExecutor

    assessor = _assessor(service_data, tmp_path)
    audit = assessor.audit
    calls = [CallRecord.model_validate(r).to_row() for r in service_data["records"][:160]]
    singles, batch = calls[:60], calls[60:]
    expected_singles = [assessor.assess([c], audit=False)[0] for c in singles]
    expected_batch = assessor.assess(batch, audit=False)

    def in_batches() -> list[dict]:
        return [a for i in range(0, len(batch), 25) for a in assessor.assess(batch[i : i + 25])]

    with ThreadPoolExecutor(2) as pool:
        one_by_one = pool.submit(lambda: [assessor.assess([c])[0] for c in singles])
        batched = pool.submit(in_batches)
        assert one_by_one.result() == expected_singles
        assert batched.result() == expected_batch
    assert audit.count() == len(calls)
