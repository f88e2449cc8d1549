"""Text fields refuse control characters, and the schema says so (issue 22, N15, N17).

NUL, ESC, C1 controls and bidirectional overrides were accepted in every text field of a call
(ids, codes, addresses, the narrative) while the review page's filters refused them: they forge
log lines, recolour terminals and disguise text on a supervisor's screen. Tabs and line breaks
stay allowed (call-taker remarks have them). The OpenAPI schema states the rule as a pattern,
and states that received_until must come after received_at.
"""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from risk_model.schema import STRING_COLUMNS
from serving.api_models import (
    EXAMPLE_CALL,
    EXAMPLE_OUTCOME,
    NO_CONTROL_PATTERN,
    CallIn,
    CallOutcomeIn,
)
from serving.errors import error_body

BAD = ["\x00", "\x1b[31m", "\u202e", "\x7f", "\x85", "\u2066", "\x0b"]


@pytest.mark.parametrize("char", BAD)
@pytest.mark.parametrize("field", STRING_COLUMNS)
def test_a_control_character_is_refused_naming_the_field(field: str, char: str) -> None:
    for model, example in ((CallIn, EXAMPLE_CALL), (CallOutcomeIn, EXAMPLE_OUTCOME)):
        with pytest.raises(ValidationError) as err:
            model.model_validate({**example, field: f"A{char}B"})
        body = error_body(err.value.errors(include_url=False), ("call",))
        assert body["field"] == f"call.{field}"
        assert f"U+{ord(char[0]):04X}" in body["error"] and "control character" in body["error"]
        assert not re.fullmatch(NO_CONTROL_PATTERN, f"A{char}B")  # the schema refuses it too


def test_tabs_line_breaks_and_any_script_are_accepted() -> None:
    text = "2 SUBJ\tFIGHTING\r\nCALLER: Ünal Çelik, 東京, مرحبا"
    call = CallIn.model_validate({**EXAMPLE_CALL, "narrative": text, "address": "1 Straße"})
    assert call.narrative == text.strip()
    assert re.fullmatch(NO_CONTROL_PATTERN, text)


def test_the_schema_states_every_text_rule_and_the_interval_rule() -> None:
    for model in (CallIn, CallOutcomeIn):
        props = model.model_json_schema(mode="validation")["properties"]
        for name in STRING_COLUMNS:
            assert props[name]["pattern"] == NO_CONTROL_PATTERN, name
        assert props["call_id"]["allOf"] == [{"pattern": r"\S"}]  # still never blank
        until = props["received_until"]["anyOf"][0]["description"]
        assert "after received_at" in until and "2 days" in until
