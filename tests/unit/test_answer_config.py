"""`config.AnswerConfig` (how a model words its answers) keeps the YAML and bundle key `service`:
configs written before the rename and saved models still load, and new ones look the same."""

from __future__ import annotations

from pathlib import Path

from risk_model.config import AnswerConfig, Settings, load_settings


def test_the_yaml_section_service_loads_into_answer_config(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("service:\n  top_reasons: 3\n  max_batch: 50\n", encoding="utf-8")
    settings = load_settings(path)
    assert isinstance(settings.service, AnswerConfig)
    assert (settings.service.top_reasons, settings.service.max_batch) == (3, 50)


def test_a_saved_bundle_keeps_the_key_service() -> None:
    dumped = Settings(service=AnswerConfig(top_reasons=4)).model_dump(mode="json")
    assert dumped["service"]["top_reasons"] == 4
    assert Settings.model_validate(dumped).service == AnswerConfig(top_reasons=4)
