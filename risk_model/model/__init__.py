"""What a trained model is and does: encoder, calibration + conformal + tiers, the bundle that
turns features into one typed Assessment, reasons, precautions and the MLflow pyfunc.

Downstream of features/, upstream of training/ and the live service: nothing here imports
`risk_model.training`, `risk_model.service`, `serving` or the CLI
(tests/unit/test_import_flow.py proves it).
"""
