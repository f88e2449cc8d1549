"""The live side without HTTP: what the service does per call, and what starts and supervises it.

- settings.py        the service's environment (model URI, stores, token, time zone), validated
- assessor.py        `LiveAssessor`: the model, the history store, precautions and the audit log
- audit_log.py       `AuditLog`: every scored call, compactly (audit_codec.py), for supervisors
- serve.py           `risk-model serve`: checks, then runs BentoML; supervise.py, serve_process.py
                     the start-up check in a child process, worker shutdown, serve as a subprocess

Downstream of model/, training/ and review/; only `monitor/`, `serving/` and the CLI import it
(tests/unit/test_import_flow.py proves it).
"""
