"""The live side without HTTP: what the service does per call, and what starts and supervises it.

- settings.py        the service's environment (model URI, stores, token, time zone), validated
- assessor.py        `LiveAssessor`: the model, the history store, precautions and the audit log
- audit.py           `AuditLog`: every scored call, compactly (audit_codec.py), for supervisors
- review_view.py     the review page's words and numbers; review_session.py its read-only sessions
- serve.py           `risk-model serve`: checks, then runs BentoML; supervise.py, serve_process.py
                     the start-up check in a child process, worker shutdown, serve as a subprocess

Downstream of model/ and training/; only `serving/` and the CLI import it
(tests/unit/test_import_flow.py proves it).
"""
