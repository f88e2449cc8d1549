"""The review page's words come from the server: tiers, decisions and warning labels are declared
once (risk_model/vocab.py), served at /review/api/vocab, and each warning of a call is shown with
its code's label, the new codes included."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from risk_model import vocab
from risk_model.review import view as review_view
from risk_model.review.session import ReviewSessions
from serving import review
from serving.review import create_review_app

TOKEN = "vocab-token-for-the-review-words-0123456789"


def _client(token: str | None) -> TestClient:
    # No assessor: the words do not wait for the model to load.
    sessions = ReviewSessions.for_token(token, b"k" * 32)
    app = create_review_app(lambda: None, token=token, sessions=sessions)
    return TestClient(Starlette(routes=[Mount("/review", app=app)]))


def test_vocab_route_serves_every_tier_decision_and_warning_in_order() -> None:
    resp = _client(None).get("/review/api/vocab")
    assert resp.status_code == 200
    body = resp.json()
    assert [t["value"] for t in body["tiers"]] == list(vocab.TIERS)
    assert [d["value"] for d in body["decisions"]] == list(vocab.DECISIONS)
    assert {d["value"]: d["label"] for d in body["decisions"]}["cant_tell"] == "Can't tell"
    codes = {w["code"]: w["label"] for w in body["warnings"]}
    assert list(codes) == list(vocab.WARNING_CODES)
    for code in (
        "synthetic_model",
        "outside_training_period",
        "unseen_area",
        "no_outcome_history",
    ):
        assert codes[code] == vocab.WARNING_LABELS[code] and codes[code] != code


def test_vocab_route_needs_the_same_credentials_as_the_page() -> None:
    client = _client(TOKEN)
    denied = client.get("/review/api/vocab")
    assert denied.status_code == 401 and denied.json()["field"] == "authorization"
    ok = client.get("/review/api/vocab", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json() == review_view.vocabulary()


def test_the_filters_accept_exactly_the_declared_tiers_and_decisions() -> None:
    assert review.TIERS == vocab.TIERS and review.DECISIONS == vocab.DECISIONS
    assert review_view.TIER_LABELS is vocab.TIER_LABELS
    assert review_view.DECISION_LABELS is vocab.DECISION_LABELS


@pytest.mark.parametrize(
    ("text", "code", "label", "shown"),
    [
        (
            "synthetic_model: trained on simulated calls",
            "synthetic_model",
            vocab.WARNING_LABELS["synthetic_model"],
            "trained on simulated calls",
        ),
        (
            "outside_training_period: received 2018-03-01, the model's data start 2025-01-01",
            "outside_training_period",
            vocab.WARNING_LABELS["outside_training_period"],
            "received 2018-03-01, the model's data start 2025-01-01",
        ),
        (
            "unseen_area: district NORTH 9 was never seen in training",
            "unseen_area",
            vocab.WARNING_LABELS["unseen_area"],
            "district NORTH 9 was never seen in training",
        ),
        (
            "no_outcome_history: no outcomes recorded for beat 708 in the last 365 days",
            "no_outcome_history",
            vocab.WARNING_LABELS["no_outcome_history"],
            "no outcomes recorded for beat 708 in the last 365 days",
        ),
        # A code from a newer model keeps its words, labelled by the code itself.
        ("brand_new_code: something new", "brand_new_code", "brand_new_code", "something new"),
        ("no colon at all", "no colon at all", "no colon at all", "no colon at all"),
    ],
)
def test_each_warning_is_shown_with_its_label(
    text: str, code: str, label: str, shown: str
) -> None:
    [item] = review_view.warning_items([text])
    assert item == {"code": code, "label": label, "text": shown}


def test_call_view_carries_the_labelled_warnings_beside_the_raw_ones() -> None:
    warnings = [
        vocab.warning(vocab.SYNTHETIC_MODEL, "trained on simulated calls"),
        vocab.warning(vocab.UNSEEN_AREA, "district X never seen"),
    ]
    entry = {
        "call": {"call_id": "W-1", "received_at": "2025-06-01T10:00:00", "call_type": "THEFT"},
        "assessment": {
            "call_id": "W-1",
            "risk_score": 0.02,
            "risk_tier": "low",
            "decision": "cant_tell",
            "reasons": [],
            "precautions": [],
            "warnings": warnings,
            "model": {"name": "call-risk", "version": "1"},
        },
    }
    view = review_view.call_view(entry, 0.02, 1.5, 3.0, 0.1)
    assert view["warnings"] == warnings
    assert [w["code"] for w in view["warning_items"]] == ["synthetic_model", "unseen_area"]
    assert view["warning_items"][1]["label"] == vocab.WARNING_LABELS["unseen_area"]
    assert view["decision"]["label"] == "Can't tell" and view["tier"]["label"] == "Low"


def test_every_event_kind_of_a_premise_incident_has_words() -> None:
    assert set(review_view.EVENT_WORDS) == set(vocab.EVENT_KINDS) - {"call"}
    [row] = review_view.premise_history(
        [{"call_id": "P-1", "received_at": "2025-03-02T10:00:00", "assault": True, "weapon": True}]
    )
    assert row["what"] == "assault on an officer, weapon involved"
