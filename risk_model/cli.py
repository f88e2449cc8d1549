"""The `risk-model` command line: one typer command per step, each calling the library.

Conventions (SPEC §3): progress goes to stderr; with `--json` the last stdout line is exactly one
JSON object; a user error prints one line and exits 2, never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from risk_model.errors import UserError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="call-risk: officer-safety risk for calls for service.",
    pretty_exceptions_enable=False,
)

log = logging.getLogger("risk_model")


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


def _run(fn: Callable[[], dict[str, Any]], as_json: bool, quiet: bool = False) -> None:
    """Runs one command: user errors become one stderr line and exit code 2."""
    _setup_logging(quiet)
    try:
        result = fn()
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None
    if as_json:
        typer.echo(json.dumps(result, default=str))
    else:
        for key, value in result.items():
            if not isinstance(value, dict | list):
                typer.echo(f"{key}: {value}")


@app.command()
def simulate(
    calls: int = typer.Option(100_000, "--calls", min=1, help="Number of calls to generate."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same file."),
    out: Path = typer.Option(..., "--out", help="Output file: .parquet or .csv."),
    start: str = typer.Option("2025-01-01", "--start", help="First day of the simulated history."),
    days: int = typer.Option(365, "--days", min=1, help="Length of the history in days."),
    agency_export: Path | None = typer.Option(
        None,
        "--agency-export",
        help="Also write the same world as an agency hands it over into this directory: CAD "
        "export, officer-harm file and the mapping that reads them (docs/simulator.md).",
    ),
    drift: str | None = typer.Option(
        None,
        "--drift",
        help="Plant drift, comma-separated: new_call_type[:SHARE], harm_rate:DISTRICT[:FACTOR], "
        "flag_feedback[:N] (docs/simulator.md).",
    ),
    drift_from: str | None = typer.Option(
        None, "--drift-from", help="First drifted day (default: start of the last quarter)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary as the last line."),
) -> None:
    """Write a realistic synthetic CAD history with outcomes (and a side file of true risks)."""
    from risk_model.simulate.files import simulate_to_file

    _run(
        lambda: simulate_to_file(
            out=out,
            calls=calls,
            seed=seed,
            start=start,
            days=days,
            agency_export=agency_export,
            drift=drift,
            drift_from=drift_from,
        ),
        as_json,
    )


@app.command()
def ingest(
    input: Path = typer.Option(
        ...,
        "--input",
        help="Agency export: CSV or Parquet; or a folder or quoted glob of one agency's files "
        "(e.g. yearly exports), read as one; or a folder of EIDO .json files.",
    ),
    out: Path = typer.Option(..., "--out", help="Output directory (created if needed)."),
    mapping: Path | None = typer.Option(
        None, "--mapping", help="Mapping YAML (see docs/ingest.md)."
    ),
    partition_by: str = typer.Option(
        "none",
        "--partition-by",
        help="none: one calls.parquet file. month|year: calls.parquet as a folder of "
        "month=YYYY-MM/ (year=YYYY/) Parquet files, for a Dask cluster (docs/ingest.md).",
    ),
    allow_drops: bool = typer.Option(
        False,
        "--allow-drops",
        help="Go on although more than 1% of the rows are quarantined, exclude: rules remove "
        "every row, or the outcome join matches no call (each is otherwise an error).",
    ),
    agency: str | None = typer.Option(
        None,
        "--agency",
        help="The agency every call of this export belongs to (a short code, e.g. LMPD): keys "
        "are then namespaced by it, so agencies can be pooled (docs/ingest.md).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary as the last line."),
) -> None:
    """Validate and canonicalise an export: accepted rows to Parquet, rejects to quarantine."""
    from risk_model.ingest.run import ingest_file

    _run(
        lambda: ingest_file(
            input_path=input,
            out_dir=out,
            mapping_path=mapping,
            partition_by=partition_by,
            allow_drops=allow_drops,
            quarantine_gate=True,
            agency=agency,
        ),
        as_json,
    )


@app.command("map")
def map_export(
    export: Path = typer.Argument(
        ..., help="Agency export: CSV or Parquet, or a folder or quoted glob of its files."
    ),
    draft: bool = typer.Option(False, "--draft", help="Write a commented first mapping."),
    out: Path = typer.Option(..., "--out", help="Mapping YAML to write."),
    outcomes: Path | None = typer.Option(
        None, "--outcomes", help="Officer-harm file to join (adds an outcomes: block)."
    ),
    sample: int = typer.Option(20_000, "--sample", min=1, help="Rows of the export to read."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing --out file."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary as the last line."),
) -> None:
    """Draft a mapping from a sample of an export: columns, time formats, flags, left-outs."""

    def run() -> dict[str, Any]:
        if not draft:
            raise UserError("only drafts exist: risk-model map --draft EXPORT --out MAPPING.yaml")
        from risk_model.ingest.draft import draft_mapping

        return draft_mapping(export, out, outcomes=outcomes, sample=sample, force=force)

    _run(run, as_json)


@app.command()
def train(
    data: Path = typer.Option(..., "--data", help="Canonical calls (Parquet/CSV from ingest)."),
    target: str | None = typer.Option(
        None, "--target", help="harmed (default: assaulted or injured), assaulted or injured."
    ),
    experiment: str = typer.Option("call-risk", "--experiment", help="MLflow experiment name."),
    register: str | None = typer.Option(
        None,
        "--register",
        help="Register the model under this name; make it champion only if it beats every "
        "baseline (the champion gate, docs/model.md) and the current champion.",
    ),
    force_champion: bool = typer.Option(
        False,
        "--force-champion",
        help="With --register: set the champion alias even when the champion gate says no "
        "(the override is recorded in the reason, the card and the registry).",
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        help="Settings YAML (default: built-in defaults; e.g. pipelines/dallas.yaml).",
    ),
    truth: Path | None = typer.Option(
        None, "--truth", help="Simulator truth file for oracle metrics (auto-detected)."
    ),
    allow_leak: list[str] | None = typer.Option(
        None,
        "--allow-leak",
        help="Let this input (e.g. call_type, narrative) pass the leakage guard; repeatable. "
        "The override is recorded with the model (see docs/model.md).",
    ),
    dask: str | None = typer.Option(
        None,
        "--dask",
        help="Run on a Dask cluster: a scheduler address (tcp://host:8786) or local:N to start "
        "N local worker processes (docs/cluster.md). --data is then a Parquet file or dataset.",
    ),
    allow_drops: bool = typer.Option(
        False,
        "--allow-drops",
        help="Train on the rest when more than 1% of the rows break the schema (otherwise an "
        "error naming the most common reason).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary as the last line."),
) -> None:
    """Build point-in-time features, train on earlier time, test on later time, log to MLflow."""

    def run() -> dict[str, Any]:
        from risk_model.config import load_settings
        from risk_model.training.pipeline import train as train_run

        if force_champion and not register:
            raise UserError("--force-champion needs --register NAME")
        settings = load_settings(config)
        if target is not None:
            if target not in ("harmed", "assaulted", "injured"):
                raise UserError(f"--target must be harmed, assaulted or injured, not {target!r}")
            settings = settings.model_copy(update={"target": target})
        if allow_leak:
            allowed = tuple(dict.fromkeys([*settings.leakage.allow, *allow_leak]))
            leakage = settings.leakage.model_copy(update={"allow": allowed})
            settings = settings.model_copy(update={"leakage": leakage})
        if dask:
            from risk_model.training.dask_fit import train_on_cluster

            return train_on_cluster(
                data,
                settings,
                dask,
                experiment=experiment,
                register=register,
                truth=truth,
                allow_drops=allow_drops,
                force_champion=force_champion,
            )
        return train_run(
            data,
            settings,
            experiment=experiment,
            register=register,
            truth=truth,
            allow_drops=allow_drops,
            force_champion=force_champion,
        )

    _run(run, as_json)


@app.command()
def score(
    model: str = typer.Option(..., "--model", help="MLflow model URI (runs:/..., models:/...)."),
    input: Path = typer.Option(..., "--input", help="Calls to score (canonical Parquet/CSV)."),
    out: Path = typer.Option(..., "--out", help="Output file: .parquet or .csv."),
    history: Path | None = typer.Option(
        None, "--history", help="Earlier calls (canonical); default: the model's own snapshot."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary as the last line."),
    dask: str | None = typer.Option(
        None,
        "--dask",
        help="Score on a Dask cluster: scheduler address (tcp://host:8786) or local:N; "
        "--out may then be a folder (a Parquet dataset). Same answers (docs/cluster.md).",
    ),
) -> None:
    """Score calls offline: features from history strictly before each call."""
    if dask is not None:
        from risk_model.batch.dask_score import score_file_dask

        _run(lambda: score_file_dask(model, input, out, history, address=dask), as_json)
        return
    from risk_model.batch.score import score_file

    _run(
        lambda: score_file(model_uri=model, input_path=input, out_path=out, history_path=history),
        as_json,
    )


@app.command("load-history")
def load_history(
    data: Path = typer.Option(..., "--data", help="Canonical calls (Parquet/CSV) with outcomes."),
    db: Path = typer.Option(Path("history.db"), "--db", help="History store file (SQLite)."),
    config: Path | None = typer.Option(None, "--config", help="Settings YAML."),
    model: str | None = typer.Option(
        None, "--model", help="Model URI: also list loaded areas it never saw in training."
    ),
    allow_drops: bool = typer.Option(
        False,
        "--allow-drops",
        help="Load the rest when more than 1% of the rows break the schema (otherwise an "
        "error naming the most common reason).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary as the last line."),
) -> None:
    """Bulk-load calls into the live history store the service reads; say what was loaded."""
    from risk_model.batch.score import load_history_file

    _run(lambda: load_history_file(data, db, config, model, allow_drops=allow_drops), as_json)


@app.command("audit-prune")
def audit_prune(
    audit_db: Path = typer.Option(Path("audit.db"), "--audit-db", help="The service's audit log."),
    keep_days: int = typer.Option(
        ..., "--keep-days", min=1, help="Keep records scored in the last N days."
    ),
    vacuum: bool = typer.Option(False, "--vacuum", help="Also shrink the file (locks it)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary as the last line."),
) -> None:
    """Delete audit records older than the agency's retention period."""

    def run() -> dict[str, Any]:
        if not audit_db.is_file():
            raise UserError(f"no audit log at {audit_db}")
        from risk_model.service.audit_log import AuditLog

        result = AuditLog(audit_db).prune(keep_days, vacuum=vacuum)
        log.info(
            "audit: deleted %s records scored before %s",
            result["deleted"],
            result["scored_before"],
        )
        return result

    _run(run, as_json)


@app.command("review-link")
def review_link(
    url: str = typer.Option(
        "http://127.0.0.1:3000", "--url", help="The service's address as supervisors reach it."
    ),
    hours: float = typer.Option(
        None, "--hours", help="How long the link works (default CALL_RISK_REVIEW_HOURS or 12)."
    ),
    audit_db: Path = typer.Option(
        None,
        "--audit-db",
        help="The service's audit log; the session key is beside it "
        "(default CALL_RISK_AUDIT_DB, or audit.db beside CALL_RISK_HISTORY_DB).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary as the last line."),
) -> None:
    """Print a review-page link with a read-only, expiring session (never the API token).

    Run it with the service's environment (CALL_RISK_API_TOKEN, and CALL_RISK_REVIEW_SECRET or
    the service's audit-log folder, where the session key is kept). The link is printed for
    you, never logged: give it to the supervisor only."""
    from dataclasses import replace

    from risk_model.review.session import review_link as make_link
    from risk_model.service.settings import ServiceSettings

    def run() -> dict[str, str]:
        settings = ServiceSettings.from_env()
        if audit_db is not None:
            settings = replace(settings, audit_db=audit_db)
        return make_link(url, settings.review_sessions(), hours)

    _run(run, as_json, quiet=True)


@app.command()
def compare(
    experiment: str = typer.Option("call-risk", "--experiment", help="MLflow experiment name."),
    max_runs: int = typer.Option(10, "--max-runs", min=1, help="Newest runs to show."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary as the last line."),
) -> None:
    """Print training runs side by side: model vs baselines on their test windows."""
    from risk_model.batch.score import compare_runs

    def run() -> dict[str, Any]:
        result = compare_runs(experiment, max_runs)
        if not as_json:
            typer.echo(result.pop("table"))
        else:
            result.pop("table")
        return result

    _run(run, as_json)


@app.command()
def serve(
    model: str = typer.Option(
        "models:/call-risk@champion", "--model", help="MLflow model URI or registry alias."
    ),
    port: int = typer.Option(3000, "--port", min=1, max=65535, help="Port on 127.0.0.1."),
    history_db: Path = typer.Option(
        Path("history.db"), "--history-db", help="History store file (created if missing)."
    ),
) -> None:
    """Start the BentoML service on 127.0.0.1 (default port 3000)."""
    from risk_model.service.serve import serve_service

    _setup_logging(False)
    try:
        code = serve_service(model, port, history_db)
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


@app.command()
def champion(
    name: str = typer.Option("call-risk", "--name", help="Registered model name."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary as the last line."),
) -> None:
    """Print the version of the registered champion; exit 1 when there is none."""
    from risk_model.batch.score import champion_info

    _setup_logging(True)
    try:
        info = champion_info(name)
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if info is None:
        typer.echo(f"no champion registered for {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(info) if as_json else info["version"])


@app.command()
def monitor(
    days: int = typer.Option(30, "--days", min=1, help="Last N days of scored calls."),
    audit_db: Path = typer.Option(Path("audit.db"), "--audit-db", help="The service's audit log."),
    history_db: Path = typer.Option(
        Path("history.db"), "--history-db", help="The history store holding the outcomes."
    ),
    model: str | None = typer.Option(
        None, "--model", help="Only this model (MLflow URI); default: every version in the log."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="Settings YAML; its `monitor:` section sets the thresholds."
    ),
    experiment: str = typer.Option(
        "monitoring", "--experiment", help="MLflow experiment each run is logged to."
    ),
    log_run: bool = typer.Option(True, "--mlflow/--no-mlflow", help="Log the run to MLflow."),
    latest: bool = typer.Option(
        True,
        "--latest/--no-latest",
        help="Write the report to monitor_latest.json beside the audit log (service metrics).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (last line)."),
) -> None:
    """Live calibration, drift and warnings of the served model; a verdict ok/watch/retrain."""

    def run() -> dict[str, Any]:
        from risk_model.config import load_settings
        from risk_model.monitor.job import monitor as run_monitor
        from risk_model.monitor.job import render_text

        settings = load_settings(config)
        report = run_monitor(
            audit_db,
            history_db,
            days,
            model,
            settings.monitor,
            target=settings.target,
            log_experiment=experiment if log_run else None,
        )
        if report.get("damaged_records"):
            typer.echo(
                f"warning: {report['damaged_records']:,} damaged audit records skipped "
                f"in {audit_db} (restore it from a backup, or prune them with audit-prune)",
                err=True,
            )
        if latest:  # beside the audit log, for the service's /monitor/metrics and Live view
            from risk_model.monitor.latest import write_latest

            try:
                report["latest_file"] = str(write_latest(report, audit_db))
            except OSError as exc:
                typer.echo(f"warning: cannot write the latest report: {exc}", err=True)
        if as_json:
            return report
        typer.echo(render_text(report))
        return {}

    _run(run, as_json, quiet=True)


def main() -> None:  # pragma: no cover - console entry point alias
    app()


if __name__ == "__main__":  # python -m risk_model.cli
    app()
