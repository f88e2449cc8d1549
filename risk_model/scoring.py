"""Old home of the model bundle, kept only so already-registered models still load.

Models logged before `risk_model/model/` existed carry a copy of the old pyfunc code file
("model from code"), which imports `CallRiskModel` from here. New code imports
`risk_model.model.bundle`; delete this module once no such model is served.
"""

from __future__ import annotations

from risk_model.model.bundle import CallRiskModel

__all__ = ["CallRiskModel"]
