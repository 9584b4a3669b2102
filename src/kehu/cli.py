"""The ``kehu`` command line (Typer). User mistakes end in one line on stderr and a non-zero exit, never a
traceback."""

from __future__ import annotations

import functools
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from kehu import __version__
from kehu.config import Settings, parse_as_of
from kehu.errors import KehuError

app = typer.Typer(help="kehu 客户 — customer classification and management.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
import_app = typer.Typer(help="Import orders or customers from CSV, XLSX or Parquet exports.", no_args_is_help=True)
export_app = typer.Typer(help="Export results to CSV, XLSX or Parquet.", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
user_app = typer.Typer(help="Manage the users of the web app and their roles (admin, analyst, agent, viewer).",
                       no_args_is_help=True)
keys_app = typer.Typer(help="Manage the secret that encrypts personal data.", no_args_is_help=True)
privacy_app = typer.Typer(help="Data-subject requests: export or erase one customer's data.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(keys_app, name="keys")
app.add_typer(privacy_app, name="privacy")

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn kehu's errors into ``error: …`` on stderr and the error's exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KehuError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _settings() -> Settings:
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "KEHU_" + str(first["loc"][0]).upper() if first.get("loc") else "a KEHU_ setting"
        raise KehuError(f"{name}: {first['msg']}") from None


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress display for long imports (only on a terminal)."""
    progress = Progress(TextColumn("{task.description:<10}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                        console=err, transient=True, disable=not (enabled and err.is_terminal))
    tasks: dict[str, TaskID] = {}
    names = {"read": "reading", "validate": "checking", "load": "writing"}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(names.get(stage, stage), total=total or None)
        progress.update(tasks[stage], completed=done, total=total or None)

    with progress:
        yield update


Format = Annotated[str, typer.Option("--format", "-f", help="Export format of the file.")]
Maps = Annotated[list[str] | None, typer.Option("--map", "-m", help="FIELD=HEADER: read FIELD from column HEADER.")]
Rejects = Annotated[
    Path | None, typer.Option(help="Where to write the rejected rows (CSV). Default: DATA_DIR/rejects/.")
]
AsOf = Annotated[str | None, typer.Option("--as-of", help="As-of date YYYY-MM-DD (default: today).")]


def _import(kind: str, file: Path, fmt: str, maps: list[str] | None, rejects: Path | None) -> None:
    from kehu.ingest import import_file, parse_maps

    settings = _settings()
    with _progress(True) as progress:
        report = import_file(settings=settings, path=file, kind=kind, format_name=fmt, maps=parse_maps(maps),
                             rejects=rejects, progress=progress)
    out.print(report.summary(), highlight=False, soft_wrap=True)


@import_app.command("orders")
@friendly
def import_orders(file: Annotated[Path, typer.Argument(help="The orders file.")],
                  fmt: Format = "generic", maps: Maps = None, rejects: Rejects = None) -> None:
    """Import orders (formats: generic, cdnow, taobao, shopify). Re-importing a file changes nothing."""
    _import("orders", file, fmt, maps, rejects)


@import_app.command("customers")
@friendly
def import_customers(file: Annotated[Path, typer.Argument(help="The customers file.")],
                     fmt: Format = "generic", maps: Maps = None, rejects: Rejects = None) -> None:
    """Import customers (formats: generic, shopify). Personal fields are encrypted on the way in."""
    _import("customers", file, fmt, maps, rejects)


def _print_classification(report: Any, lang: str = "zh") -> None:
    from kehu.analytics.labels import label

    if report.interrupted:
        err.print(f"marked {report.interrupted} classification(s) failed whose process had ended before its "
                  "snapshot was written", highlight=False)
    out.print(f"snapshot {report.snapshot_id} as of {report.as_of}: {report.customers} customers, "
              f"{report.buyers} with orders", highlight=False)
    if not report.customers:
        out.print("the store has no customers yet: import orders first (kehu import orders FILE)", highlight=False)
        return
    for kind, title, counts in (("rfm_class", "RFM class 八类客户", report.by_class),
                                ("rfm_group", "RFM group 分组", report.by_group),
                                ("lifecycle_stage", "Lifecycle stage 生命周期", report.by_stage)):
        table = Table(title=title, title_justify="left")
        table.add_column(kind)
        table.add_column("名称")
        table.add_column("name")
        table.add_column("customers", justify="right")
        table.add_column("share", justify="right")
        for code, n in counts.items():
            share = n / report.customers if report.customers else 0
            table.add_row(code, label(kind, code, "zh"), label(kind, code, "en"), str(n), f"{share:.1%}")
        out.print(table)
    if report.models:
        _print_models(report.models)


def _print_models(models: dict[str, Any]) -> None:
    """One line per model: what it learnt and how well it did, or why it could not run."""
    table = Table(title="Models 预测模型", title_justify="left")
    table.add_column("model")
    table.add_column("result")

    def fmt(values: dict[str, float]) -> str:
        return ", ".join(f"{k} = {v:.4g}" for k, v in values.items())

    bg, gg, churn = models.get("bg_nbd", {}), models.get("gamma_gamma", {}), models.get("churn", {})
    clusters, recs = models.get("clusters", {}), models.get("recommendations", {})
    table.add_row("BG/NBD (days)", bg.get("error") or fmt(bg.get("params", {})))
    table.add_row("Gamma-Gamma (yuan)", gg.get("error") or fmt(gg.get("params", {})))
    if "auc" in churn:
        churn_text = (f"AUC {churn['auc']:.3f} vs 1 − P(alive) {churn.get('baseline_auc') or float('nan'):.3f}, "
                      f"BG/NBD P(no purchase) {churn.get('bgnbd_no_purchase_auc') or float('nan'):.3f}; "
                      f"{churn.get('at_risk', 0)} customers at risk")
    else:
        churn_text = f"{churn.get('error', '')} (risk = 1 − P(alive); {churn.get('at_risk', 0)} at risk)"
    table.add_row(f"churn, {churn.get('horizon_days', '')} days".rstrip(", "), churn_text)
    if "k" in clusters:
        names = ", ".join(f"{c['name_zh']} {c['name_en']} ({c['size']})" for c in clusters.get("clusters", []))
        table.add_row("clusters", f"k = {clusters['k']}, silhouette {clusters['silhouette']:.2f}: {names}")
    else:
        table.add_row("clusters", clusters.get("error", ""))
    hit = recs.get("hit_rate") or {}
    if "model" in hit:
        table.add_row("recommendations", f"hit rate at {hit['k']}: {hit['model']:.1%} vs popular in segment "
                                         f"{hit['popularity']:.1%} ({hit['customers']} customers)")
    else:
        table.add_row("recommendations", recs.get("error") or hit.get("error", ""))
    out.print(table)


@app.command()
@friendly
def classify(
    as_of: AsOf = None,
    engine: Annotated[
        str | None, typer.Option(help="duckdb, postgres (inside the PostgreSQL store) or spark. Default: KEHU_ENGINE.")
    ] = None,
) -> None:
    """Classify every customer (RFM scores, 8 classes, grid groups, lifecycle; with KEHU_PREDICT also CLV, P(alive),
    churn risk and reasons, clusters, recommendations) and write a dated snapshot."""
    from kehu.analytics import classify as run_classify

    settings = _settings()
    names = {"read": "reading orders", "compute": "classifying", "predict": "predicting", "clv": "fitting BG/NBD "
             "and Gamma-Gamma", "churn": "training the churn model", "clusters": "clustering",
             "recommendations": "recommending products", "write": "writing the snapshot",
             "refresh": "refreshing segments"}
    with err.status("classifying…", spinner="dots") if err.is_terminal else nullcontext() as status:
        def step(name: str) -> None:
            if status is not None:
                status.update(f"{names.get(name, name)}…")

        report = run_classify(settings=settings, as_of=parse_as_of(as_of), step=step, engine=engine)
    _print_classification(report)


@export_app.command("classifications")
@friendly
def export_classifications(out_file: Annotated[Path, typer.Option("--out", "-o", help=".csv, .xlsx or .parquet")],
                           as_of: AsOf = None) -> None:
    """Export one row per customer of a snapshot (default: the newest)."""
    from kehu.analytics.export import export_classifications as run_export

    settings = _settings()
    n, snapshot_as_of = run_export(settings=settings, as_of=parse_as_of(as_of) if as_of else None, out=out_file)
    out.print(f"wrote {n} customers of the snapshot as of {snapshot_as_of} to {out_file}", highlight=False)


@app.command()
@friendly
def init() -> None:
    """Create or upgrade the store and the first admin user (its password is printed once)."""
    from kehu.store import open_store
    from kehu.web.auth import ensure_admin

    settings = _settings()
    open_store(settings.store_url)
    password = ensure_admin(settings)
    out.print(f"store ready: {_safe_url(settings.store_url)}", highlight=False)
    if password:
        out.print(f"admin user created — login: admin / {password}  (shown once; change it after signing in)",
                  highlight=False)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
@friendly
def serve(host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
          port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
          workers: Annotated[int | None, typer.Option(min=1, max=64, help="Worker processes behind the port "
                                                      "(default: KEHU_WORKERS, 1).")] = None) -> None:
    """Start the web app."""
    settings = _settings()
    _serve(settings, host or settings.host, port or settings.port, workers or settings.workers)


#: The environment variable that hands the settings of ``kehu serve`` to its worker processes (JSON).
WORKER_SETTINGS_ENV = "_KEHU_SERVE_SETTINGS"


def worker_app() -> Any:
    """The app of one ``kehu serve --workers N`` worker process (uvicorn's factory): the settings come from the
    parent through :data:`WORKER_SETTINGS_ENV`, so a worker serves exactly what the parent was given (also the
    demo's data dir), not whatever the environment says."""
    import json
    import os

    from kehu.web.app import create_app

    return create_app(Settings(**json.loads(os.environ[WORKER_SETTINGS_ENV]), _env_file=None))


def _serve(settings: Settings, host: str, port: int, workers: int | None = None) -> None:
    """Serve the app on ``host:port`` with ``workers`` processes (default ``settings.workers``). The store is
    migrated and the admin user created here, once, before any worker starts."""
    import os

    import uvicorn

    from kehu.analytics.classify import mark_interrupted_snapshots
    from kehu.store import open_store
    from kehu.web.app import create_app
    from kehu.web.auth import ensure_admin

    workers = workers or settings.workers
    open_store(settings.store_url)
    mark_interrupted_snapshots(settings.store_url)  # a classification killed while this server was down
    password = ensure_admin(settings)  # a store without users gets its admin here (as `kehu init` does)
    if password:
        out.print(f"admin user created — login: admin / {password}  (shown once)", highlight=False)
    out.print(f"serving on http://{host}:{port}/" + (f" with {workers} workers" if workers > 1 else ""),
              highlight=False)
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
        return
    # Several processes need an import string; each worker builds its own app (and engine pool) from the settings.
    os.environ[WORKER_SETTINGS_ENV] = settings.model_dump_json()
    sys.stdout.flush()
    uvicorn.run("kehu.cli:worker_app", factory=True, workers=workers, host=host, port=port, log_level="warning")


@app.command()
@friendly
def demo(
    dataset: Annotated[
        str, typer.Option(help="synthetic (a Chinese merchant) or cdnow (the real CDNOW log).")
    ] = "synthetic",
    data_dir: Annotated[Path, typer.Option(help="Data dir for the demo; emptied first.")] = Path("kehu-demo"),
    serve_app: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the web app afterwards.")] = True,
) -> None:
    """Load a demo dataset into a fresh data dir, classify it and start the web app."""
    from kehu.analytics import classify as run_classify
    from kehu.analytics.classify import last_order_date
    from kehu.ingest import import_file
    from kehu.web.auth import ensure_admin

    if dataset not in ("synthetic", "cdnow"):
        raise KehuError(f"--dataset {dataset!r}: choose synthetic or cdnow")
    base = _settings()
    if data_dir.exists():
        if not (data_dir / "kehu.db").exists() and any(data_dir.iterdir()):
            raise KehuError(f"{data_dir} exists and is not a kehu data dir; choose another --data-dir")
        shutil.rmtree(data_dir)
    settings = base.model_copy(update={"data_dir": data_dir, "database_url": None})
    with _progress(True) as progress:
        if dataset == "cdnow":
            cdnow = Path(str(resources.files("kehu.sample") / "cdnow" / "CDNOW_master.txt"))
            reports = [import_file(settings=settings, path=cdnow, kind="orders", format_name="cdnow",
                                   progress=progress)]
        else:
            from kehu.sample.generate import generate_demo

            files = generate_demo(data_dir / "sample")
            reports = [
                import_file(settings=settings, path=files.customers_csv, kind="customers", format_name="generic",
                            progress=progress),
                import_file(settings=settings, path=files.orders_csv, kind="orders", format_name="generic",
                            progress=progress),
            ]
    for report in reports:
        out.print(report.summary(), highlight=False, soft_wrap=True)
    # The demo is classified at the data's last order date, so that its stages look as they did then.
    as_of = last_order_date(settings.store_url)
    if dataset == "synthetic" and as_of is not None:
        from kehu.campaigns import seed_demo_campaign
        from kehu.feedback import load_demo_feedback
        from kehu.membership import membership_demo, membership_refresh
        from kehu.segments.demo import add_demo_segments
        from kehu.surveys import seed_demo_survey

        with err.status("adding feedback, points, a finished campaign, a survey and segments…", spinner="dots") \
                if err.is_terminal else nullcontext():
            load_demo_feedback(settings, as_of=as_of)  # before classifying: complaints are churn reasons
            # A first snapshot for the campaign's target (classes and stages; the models come with the last one).
            run_classify(settings=settings.model_copy(update={"predict": False}), as_of=as_of, refresh=False)
            membership_demo(settings, as_of)
            seed_demo_campaign(settings, reclassify=False)  # also classifies its start date: a second snapshot
            seed_demo_survey(settings)
            add_demo_segments(settings)
            membership_refresh(settings, as_of)  # the campaign's orders earn points too
    _print_classification(run_classify(settings=settings, as_of=as_of))
    password = ensure_admin(settings)
    url = f"http://{settings.host}:{settings.port}/"
    out.print(f"\n[bold]kehu demo ready[/]: {url}", highlight=False)
    if password:
        out.print(f"login: admin / {password}", highlight=False)
    else:
        out.print("login: admin / (the password in KEHU_ADMIN_PASSWORD)", highlight=False)
    sys.stdout.flush()
    if serve_app:
        _serve(settings, settings.host, settings.port)


@app.command(help=(
    "Check the BG/NBD model on the store's orders: fit to a calibration period, forecast a holdout, report.\n\n"
    "Writes report.html (tables and charts in one file), conditional_expectations.csv, tracking.csv, the two charts "
    "as PNG and summary.json into --out. Counts repeat purchases only (same-day orders once, fully refunded orders "
    "left out). Example, on the CDNOW demo data: --calibration-end 1997-09-30 --holdout-end 1998-06-30."
))
@friendly
def validate(
    calibration_end: Annotated[str, typer.Option(
        "--calibration-end", help="Last day of the calibration period, YYYY-MM-DD: the model is fitted on the "
        "purchases up to this day, of the customers whose first purchase is on or before it.")],
    holdout_end: Annotated[str, typer.Option(
        "--holdout-end", help="Last day of the holdout period, YYYY-MM-DD: the purchases after the calibration "
        "end up to this day are forecast and compared with what happened.")],
    out_dir: Annotated[Path, typer.Option(
        "--out", "-o", help="Directory for report.html, the CSV tables, the PNG charts and summary.json; "
        "created if needed, files in it overwritten.")] = Path("kehu-validation"),
    time_unit: Annotated[str, typer.Option(help="Time unit of the model: weeks or days.")] = "weeks",
) -> None:
    """Check the BG/NBD model on the store's orders: fit to a calibration period, forecast a holdout, report."""
    from datetime import date, timedelta

    from kehu.errors import InvalidInput

    ends: list[date] = []
    for option, value in (("--calibration-end", calibration_end), ("--holdout-end", holdout_end)):
        try:
            ends.append(date.fromisoformat(value))
        except ValueError:
            raise InvalidInput(f"{option} {value!r} is not a date like 1997-09-30") from None
    calibration, holdout = ends
    if calibration >= holdout:
        raise InvalidInput(f"--calibration-end {calibration} is not before --holdout-end {holdout}: "
                           "the calibration period must end before the holdout period")

    from kehu.analytics.classify import load_inputs
    from kehu.models.validation import holdout_report, purchases_from_orders
    from kehu.store import open_store

    settings = _settings()
    open_store(settings.store_url)
    with err.status("fitting…", spinner="dots") if err.is_terminal else nullcontext():
        orders, _ = load_inputs(settings, holdout)
        customer_ids, ordered_at = purchases_from_orders(orders)
        if len(customer_ids) == 0:
            raise InvalidInput(f"the store has no paid orders on or before {holdout}: import orders first "
                               "(kehu import orders FILE)")
        report = holdout_report(customer_ids, ordered_at, calibration_end=calibration, holdout_end=holdout,
                                time_unit=time_unit)
        page = report.write(out_dir)
    table = Table(title=f"BG/NBD holdout validation ({time_unit})", title_justify="left")
    table.add_column("repeat purchases")
    table.add_column("actual", justify="right")
    table.add_column("predicted", justify="right")
    table.add_column("error", justify="right")
    table.add_row(f"holdout {calibration + timedelta(days=1)} – {holdout}", f"{report.holdout_actual:,}",
                  f"{report.holdout_predicted:,.1f}", f"{report.holdout_error_pct:+.1f}%")
    table.add_row(f"cumulative to {holdout} ({len(report.tracking)} weeks)", f"{report.cumulative_actual:,}",
                  f"{report.cumulative_predicted:,.1f}", f"{report.cumulative_error_pct:+.1f}%")
    table.add_row(f"share of the {report.zero_repeat_customers:,} with x = 0 who buy",
                  f"{report.zero_repeat_share_actual:.3f}", f"{report.zero_repeat_share_predicted:.3f}", "")
    out.print(table)
    params = ", ".join(f"{k} = {v:.4g}" for k, v in report.params.items())
    out.print(f"{report.customers:,} customers; {params}; log-likelihood {report.log_likelihood:,.1f}",
              highlight=False)
    out.print(f"report: {page}", highlight=False, soft_wrap=True)


# --- users, keys, privacy requests (kehu.users, kehu.privacy.rotate, kehu.privacy.subject) -----------------------

PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of "
                                             "standard input instead of asking twice on the terminal.")]
Source = Annotated[str | None, typer.Option("--source", "-s", help="The import format the customer came from "
                                            "(generic, taobao, shopify, cdnow), when the id exists in several.")]


def _interactive() -> bool:
    return sys.stdin.isatty()


def _cli_actor() -> Any:
    import getpass

    from kehu.users import Actor

    try:
        who = getpass.getuser()
    except Exception:
        who = "unknown"
    return Actor(username=f"cli:{who}"[:64], via="cli")


def _read_password(from_stdin: bool) -> str:
    """The new password: one line of stdin, or typed twice (hidden) on a terminal; never echoed or logged."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise KehuError("--password-stdin: standard input is empty; pipe the password in")
        return line
    if not _interactive():
        raise KehuError("no terminal to ask for the password: pass --password-stdin and pipe it in")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@contextmanager
def _store_session() -> Iterator[Any]:
    from kehu.store import open_store, session_scope

    settings = _settings()
    open_store(settings.store_url)
    with session_scope(settings.store_url) as session:
        yield session


@user_app.command("add")
@friendly
def user_add(username: Annotated[str, typer.Argument(help="Sign-in name (2-64 letters, digits, . _ - @).")],
             role: Annotated[str, typer.Option(help="admin, analyst, agent or viewer.")] = "viewer",
             password_stdin: PasswordStdin = False) -> None:
    """Add a user; asks for the password twice (at least 10 characters), or reads it with --password-stdin."""
    from kehu.users import add_user, check_role, check_username

    check_username(username)
    check_role(role)
    password = _read_password(password_stdin)
    with _store_session() as session:
        user = add_user(session, username=username, password=password, role=role, actor=_cli_actor())
    out.print(f"added user {user.username} ({user.role})", highlight=False)


@user_app.command("list")
@friendly
def user_list() -> None:
    """List the users with their role and whether they can sign in."""
    from kehu.users import list_users

    with _store_session() as session:
        users = list_users(session)
    table = Table(title="Users 用户", title_justify="left")
    for column in ("username", "role", "active", "created"):
        table.add_column(column)
    for u in users:
        table.add_row(u.username, u.role, "yes" if u.is_active else "no (disabled)",
                      u.created_at.strftime("%Y-%m-%d %H:%M") if u.created_at else "")
    out.print(table)


@user_app.command("disable")
@friendly
def user_disable(username: Annotated[str, typer.Argument(help="The user to disable.")]) -> None:
    """Disable a user: they can no longer sign in (the last active admin cannot be disabled)."""
    from kehu.users import set_active

    with _store_session() as session:
        set_active(session, username, False, actor=_cli_actor())
    out.print(f"disabled {username}", highlight=False)


@user_app.command("enable")
@friendly
def user_enable(username: Annotated[str, typer.Argument(help="The user to enable.")]) -> None:
    """Enable a disabled user again."""
    from kehu.users import set_active

    with _store_session() as session:
        set_active(session, username, True, actor=_cli_actor())
    out.print(f"enabled {username}", highlight=False)


@user_app.command("set-role")
@friendly
def user_set_role(username: Annotated[str, typer.Argument(help="The user.")],
                  role: Annotated[str, typer.Argument(help="admin, analyst, agent or viewer.")]) -> None:
    """Change a user's role (the last active admin cannot be demoted)."""
    from kehu.users import set_role

    with _store_session() as session:
        user = set_role(session, username, role, actor=_cli_actor())
    out.print(f"{user.username} is now {user.role}", highlight=False)


@user_app.command("password")
@friendly
def user_password(username: Annotated[str, typer.Argument(help="The user.")],
                  password_stdin: PasswordStdin = False) -> None:
    """Set a new password for a user (asked twice, or read with --password-stdin)."""
    from kehu.users import get_user, reset_password

    with _store_session() as session:
        get_user(session, username)
    password = _read_password(password_stdin)
    with _store_session() as session:
        reset_password(session, username, password, actor=_cli_actor())
    out.print(f"password of {username} changed", highlight=False)


@keys_app.command("rotate")
@friendly
def keys_rotate(
    new_key_file: Annotated[Path | None, typer.Option("--new-key-file", help="File holding the new secret (at "
                            "least 32 characters). Default: a random one, written to DATA_DIR/secret.key.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per transaction.")] = 1000,
) -> None:
    """Re-encrypt every personal field and recompute the search indexes under a new secret.

    Stop `kehu serve` first; the old key is kept as DATA_DIR/secret.key.old (mode 0600).

    If interrupted, run the same command again: values already re-encrypted are recognised and skipped.
    """
    from kehu.privacy.rotate import rotate_keys

    settings = _settings()
    with _progress(True) as progress:
        report = rotate_keys(settings, new_key_file=new_key_file, batch_size=batch_size, progress=progress,
                             username=_cli_actor().username, via="cli")
    out.print(f"re-encrypted {report.values} values of {report.customers} customers and {report.notes} notes "
              f"({report.already} were already under the new key); {report.email_keys} e-mail-based ids "
              "recomputed", highlight=False)
    for message in report.messages:
        out.print(message, highlight=False, soft_wrap=True)


@privacy_app.command("export")
@friendly
def privacy_export(customer: Annotated[str, typer.Argument(help="The customer's source-system id.")],
                   source: Source = None,
                   out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write the JSON here (mode "
                                       "0600) instead of standard output.")] = None) -> None:
    """Export everything held on one customer as JSON (personal fields and notes decrypted); audited."""
    import json
    import os

    from kehu.privacy import FieldCipher
    from kehu.privacy.subject import export_customer, find_customer

    settings = _settings()
    with _store_session() as session:
        found = find_customer(session, customer, source)
        data = export_customer(session, FieldCipher.from_settings(settings), found.id,
                               user_id=None, username=_cli_actor().username, via="cli")
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if out_file is None:
        sys.stdout.write(text + "\n")
        return
    out_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    err.print(f"wrote the data of customer {customer} to {out_file}", highlight=False, soft_wrap=True)


@privacy_app.command("erase")
@friendly
def privacy_erase(customer: Annotated[str, typer.Argument(help="The customer's source-system id.")],
                  source: Source = None,
                  yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False) -> None:
    """Erase one customer's personal data (name, phone, e-mail, address, ID number, notes); orders stay, anonymised.

    Asks to type the id again unless --yes. Cannot be undone. Audited.
    """
    from kehu.privacy.subject import erase_customer, find_customer
    from kehu.store import Customer

    with _store_session() as session:
        found = find_customer(session, customer, source)
        store_id = found.id
    if not yes:
        if not _interactive():
            raise KehuError("no terminal to confirm on: pass --yes to erase without asking")
        typed = typer.prompt(f"This erases customer {customer}'s personal data for good. Type the id to confirm")
        if typed.strip() != customer.strip():
            raise KehuError("the id typed does not match; nothing was erased")
    with _store_session() as session:
        erase_customer(session, store_id, user_id=None, username=_cli_actor().username, via="cli")
        new_id = session.get(Customer, store_id).external_id
    out.print(f"erased customer {customer} (store id {store_id}, now {new_id}); orders kept", highlight=False)


# --- user segments and profile tags (kehu.segments) -------------------------------------------------------------

segment_app = typer.Typer(help="User segments and profile tags: rules over the customer feature table, members per "
                          "snapshot.", no_args_is_help=True)
app.add_typer(segment_app, name="segment")
SegmentRef = Annotated[str, typer.Argument(help="The segment's name, id or default-tag code (price_sensitive …).")]


def _rule_caret(exc: Any) -> None:
    """Print the rule with ``^`` under the offending text (wide Chinese characters count as two columns)."""
    import unicodedata

    def width(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)

    line_start = exc.rule.rfind("\n", 0, exc.start) + 1
    line_end = exc.rule.find("\n", exc.start)
    line = exc.rule[line_start:line_end if line_end >= 0 else None]
    lead = width(exc.rule[line_start:exc.start])
    marks = max(width(exc.rule[exc.start:min(exc.end, line_start + len(line))]), 1)
    err.print(f"  {line}\n  {' ' * lead}{'^' * marks}", highlight=False, markup=False, soft_wrap=True)


@contextmanager
def _showing_rule_errors() -> Iterator[None]:
    from kehu.segments import RuleError

    try:
        yield
    except RuleError as exc:
        _rule_caret(exc)
        raise


@segment_app.command("add")
@friendly
def segment_add(name: Annotated[str, typer.Argument(help="A name for the segment (up to 64 characters).")],
                rule: Annotated[str, typer.Argument(help="The rule, e.g. \"rfm_class = '重要价值客户' AND province "
                                                    "IN ('广东','浙江') AND clv_12m > 500\".")],
                tag: Annotated[bool, typer.Option("--tag", help="Make it a profile tag.")] = False,
                description: Annotated[str | None, typer.Option(help="What the segment is for.")] = None) -> None:
    """Add a segment and compute its members in every snapshot (docs/segments.md lists the columns)."""
    from kehu.segments import add_segment, sizes

    with _showing_rule_errors(), _store_session() as session:
        segment = add_segment(session, name=name, rule=rule, description=description, is_tag=tag,
                              actor=_cli_actor())
        history = sizes(session, [segment.id]).get(segment.id, [])
        name, segment_id = segment.name, segment.id
    latest = f": {history[-1].customers:,} customers as of {history[-1].as_of}" if history else ""
    out.print(f"added {'tag' if tag else 'segment'} {name} (id {segment_id}){latest}", highlight=False, markup=False)


@segment_app.command("list")
@friendly
def segment_list(archived: Annotated[bool, typer.Option("--archived", help="Include archived segments.")] = False
                 ) -> None:
    """List the segments and tags with their size in the newest snapshots."""
    from rich.text import Text

    from kehu.segments import list_segments, sizes

    table = Table(title="Segments 分群", title_justify="left")
    for column in ("id", "name", "kind", "customers", "as of", "rule"):
        table.add_column(column, justify="right" if column in ("id", "customers") else "left")
    with _store_session() as session:
        segments = list_segments(session, include_archived=archived)
        history = sizes(session, [s.id for s in segments])
        for s in segments:
            points = history.get(s.id, [])
            kind = ("tag 标签" if s.is_tag else "segment 分群") + (" (archived)" if s.archived_at else "")
            table.add_row(str(s.id), Text(s.name), kind, f"{points[-1].customers:,}" if points else "—",
                          str(points[-1].as_of) if points else "—", Text(s.rule))
    out.print(table)
    if not segments:
        out.print("no segments yet: kehu segment add NAME RULE, or kehu segment refresh for the default tags",
                  highlight=False)


@segment_app.command("show")
@friendly
def segment_show(segment: SegmentRef, as_of: AsOf = None) -> None:
    """Show a segment: rule, size over time and a sample of 20 members (personal fields masked)."""
    from rich.markup import escape
    from rich.text import Text

    from kehu.analytics.labels import label
    from kehu.privacy import FieldCipher
    from kehu.segments import get_segment, sizes
    from kehu.segments.export import masked
    from kehu.segments.service import ensure_membership, member_rows, snapshot_for

    settings = _settings()
    cipher = FieldCipher.from_settings(settings)
    with _store_session() as session:
        found = get_segment(session, segment)
        snapshot = snapshot_for(session, parse_as_of(as_of) if as_of else None)
        size = ensure_membership(session, found, snapshot)
        out.print(f"[bold]{escape(found.name)}[/] (id {found.id}, {'tag' if found.is_tag else 'segment'}"
                  f"{', archived' if found.archived_at else ''})", highlight=False)
        out.print(f"rule: {found.rule}", highlight=False, markup=False, soft_wrap=True)
        if found.description:
            out.print(f"description: {found.description}", highlight=False, markup=False, soft_wrap=True)
        share = size / snapshot.customers if snapshot.customers else 0
        out.print(f"{size:,} of {snapshot.customers:,} customers ({share:.1%}) as of {snapshot.as_of}",
                  highlight=False)
        history = sizes(session, [found.id]).get(found.id, [])
        if len(history) > 1:
            out.print("over time: " + ", ".join(f"{p.as_of} {p.customers:,}" for p in history), highlight=False)
        table = Table(title=f"Sample 样本 ({min(size, 20)} of {size:,})", title_justify="left")
        for column in ("customer", "name", "phone", "province", "class", "stage", "monetary"):
            table.add_column(column, justify="right" if column == "monetary" else "left")
        for customer, k in member_rows(session, found, snapshot):
            name, phone, _ = masked(cipher, customer)
            table.add_row(Text(customer.external_id), Text(name or ""), phone or "", Text(customer.province or ""),
                          label("rfm_class", k.rfm_class), label("lifecycle_stage", k.lifecycle_stage),
                          f"¥{k.monetary_cents / 100:,.2f}")
    out.print(table)


@segment_app.command("export")
@friendly
def segment_export(segment: SegmentRef,
                   out_file: Annotated[Path, typer.Option("--out", "-o", help=".csv or .xlsx")],
                   as_of: AsOf = None,
                   lang: Annotated[str, typer.Option(help="Language of headers and labels: zh or en.")] = "zh"
                   ) -> None:
    """Export a segment's members (personal fields masked, formula-safe); audited."""
    from kehu.errors import InvalidInput
    from kehu.privacy import FieldCipher
    from kehu.segments import get_segment
    from kehu.segments.export import export_segment
    from kehu.segments.service import snapshot_for

    fmt = out_file.suffix.lower().lstrip(".")
    if fmt not in ("csv", "xlsx"):
        raise InvalidInput(f"{out_file}: unknown export format {out_file.suffix or '(no suffix)'}; use .csv or .xlsx")
    if lang not in ("zh", "en"):
        raise InvalidInput(f"--lang {lang!r}: choose zh or en")
    settings = _settings()
    with _store_session() as session:
        found = get_segment(session, segment)
        snapshot = snapshot_for(session, parse_as_of(as_of) if as_of else None)
        result = export_segment(session, FieldCipher.from_settings(settings), found, snapshot, fmt=fmt, lang=lang,
                                actor=_cli_actor())
        session.commit()
        when = snapshot.as_of
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_bytes(result.content)
    out.print(f"wrote {result.rows:,} members of {found.name} as of {when} to {out_file}", highlight=False,
              markup=False)


@segment_app.command("refresh")
@friendly
def segment_refresh(as_of: AsOf = None,
                    all_snapshots: Annotated[bool, typer.Option("--all", help="Every snapshot, not just one.")] = False
                    ) -> None:
    """Recompute the members of every segment in the newest snapshot (or --as-of, or --all); the first refresh
    creates the default profile tags."""
    from kehu.segments import refresh_segments
    from kehu.segments.service import snapshot_for

    settings = _settings()
    snapshot_id = None
    if as_of:
        with _store_session() as session:
            snapshot_id = snapshot_for(session, parse_as_of(as_of)).id
    for report in refresh_segments(settings, snapshot_id, all_snapshots=all_snapshots):
        if report.created_tags:
            out.print(f"created the default tags: {', '.join(report.created_tags)}", highlight=False, markup=False)
        sizes = ", ".join(f"{segment.name} {n:,}" for segment, n in report.sizes)
        out.print(f"{report.as_of}: {len(report.sizes)} segments refreshed in {report.seconds:.1f} s ({sizes})",
                  highlight=False, soft_wrap=True, markup=False)
        for name, message in report.errors.items():
            err.print(f"segment {name}: {message}", highlight=False, soft_wrap=True, markup=False)


@segment_app.command("check")
@friendly
def segment_check(rule: Annotated[str, typer.Argument(help="The rule to try.")], as_of: AsOf = None) -> None:
    """Check a rule and count the customers it selects, without saving anything."""
    from kehu.segments import preview
    from kehu.segments.service import snapshot_for

    with _showing_rule_errors(), _store_session() as session:
        snapshot = snapshot_for(session, parse_as_of(as_of) if as_of else None)
        found = preview(session, rule, snapshot, sample=0)
    share = f" ({found.share:.1%})" if found.share is not None else ""
    out.print(f"{found.count:,} of {found.total:,} customers{share} as of {found.as_of}", highlight=False)


@segment_app.command("archive")
@friendly
def segment_archive(segment: SegmentRef) -> None:
    """Archive a segment: no longer listed or refreshed; its history stays."""
    from kehu.segments import archive_segment, get_segment

    with _store_session() as session:
        found = get_segment(session, segment)
        archive_segment(session, found, actor=_cli_actor())
        name = found.name
    out.print(f"archived {name}", highlight=False, markup=False)


# --- campaigns and surveys (kehu.campaigns, kehu.surveys) -------------------------------------------------------

campaign_app = typer.Typer(help="Campaigns with a holdout: create (win-back template), list, show, export the "
                           "contact list, measure the uplift.", no_args_is_help=True)
survey_app = typer.Typer(help="NPS and CSAT surveys: create, answer links, import answers, results.",
                         no_args_is_help=True)
app.add_typer(campaign_app, name="campaign")
app.add_typer(survey_app, name="survey")

TargetKind = Annotated[str | None, typer.Option("--target-kind", help="lifecycle_stage, rfm_group, rfm_class, "
                                                "churn_risk or segment.")]
TargetValues = Annotated[list[str] | None, typer.Option("--target", "-t", help="A code of the target kind (repeat "
                         "for several), the lowest churn risk (e.g. 0.7) or a segment id.")]
SnapshotDate = Annotated[str | None, typer.Option("--as-of", help="Date of the snapshot that defines the target "
                                                  "(default: the newest).")]


def _cents(value: str, what: str) -> int:
    """Yuan as typed (``20``, ``0.5``) → integer cents; an error naming the option otherwise."""
    from decimal import Decimal, InvalidOperation

    try:
        amount = Decimal(value.strip().lstrip("¥"))
    except InvalidOperation:
        raise KehuError(f"{what} {value!r} is not an amount in yuan, e.g. 20 or 0.5") from None
    if amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise KehuError(f"{what} {value!r} must be a non-negative amount in yuan with at most 2 decimals")
    return int(amount * 100)


def _user_id(session: Any, username: str | None) -> int | None:
    from kehu.users import get_user

    return None if username is None else get_user(session, username).id


def _yuan_text(cents: float | None) -> str:
    return "—" if cents is None else f"¥{cents / 100:,.2f}"


def _interval_text(iv: Any, scale: float = 1.0, unit: str = "", money: bool = False) -> str:  # noqa: ANN401
    if iv.estimate is None:
        return "—"
    if money:
        text = _yuan_text(iv.estimate)
        return text if iv.low is None else f"{text} [{_yuan_text(iv.low)}, {_yuan_text(iv.high)}]"
    text = f"{iv.estimate * scale:.1f}{unit}"
    return text if iv.low is None else f"{text} [{iv.low * scale:.1f}, {iv.high * scale:.1f}]{unit}"


@campaign_app.command("create")
@friendly
def campaign_create(
    name: Annotated[str | None, typer.Argument(help="Campaign name (default with --template winback: a dated one).")]
    = None,
    template: Annotated[str | None, typer.Option(help="winback: churned and at-risk customers of the newest "
                                                 "snapshot, 20% holdout, ¥20 coupon, 30 days.")] = None,
    target_kind: TargetKind = None,
    target: TargetValues = None,
    as_of: SnapshotDate = None,
    offer: Annotated[str | None, typer.Option(help="coupon (a code per treated customer) or callback (a task per "
                                              "treated customer).")] = None,
    holdout: Annotated[float | None, typer.Option(help="Share held out as the control group, 0 to 0.9.")] = None,
    starts_on: Annotated[str | None, typer.Option(help="First day of the attribution window (default: today, "
                                                  "or the snapshot date when later).")] = None,
    days: Annotated[int | None, typer.Option(help="Attribution window in days.")] = None,
    coupon_value: Annotated[str | None, typer.Option(help="Value of a coupon in yuan (its cost when redeemed).")]
    = None,
    cost_per_contact: Annotated[str | None, typer.Option(help="Cost of contacting one customer in yuan.")] = None,
    due_days: Annotated[int, typer.Option(help="Call-back tasks are due this many days after the start.")] = 3,
    owner: Annotated[str | None, typer.Option(help="User who makes the call-backs (default: agents in turn).")]
    = None,
) -> None:
    """Launch a campaign: the target minus customers without marketing consent, a deterministic holdout, coupon codes
    or call-back tasks for the treated customers. Audited."""
    from dataclasses import replace

    from kehu.campaigns import CampaignSpec, Target, arm_sizes, launch_campaign, winback_spec

    snapshot_date = parse_as_of(as_of) if as_of else None
    if template is not None and template != "winback":
        raise KehuError(f"--template {template!r}: the only template is winback")
    if template == "winback":
        spec = winback_spec(name=name, as_of=snapshot_date)
    else:
        if not name or not target_kind or not target:
            raise KehuError("give a NAME, --target-kind and --target (or use --template winback)")
        spec = CampaignSpec(name=name, target=Target(target_kind, tuple(target)), as_of=snapshot_date)
    if target_kind or target:
        if not (target_kind and target):
            raise KehuError("--target-kind and --target go together")
        spec = replace(spec, target=Target(target_kind, tuple(target)))
    changes: dict[str, Any] = {"callback_due_days": due_days}
    if offer is not None:
        changes["offer"] = offer
    if holdout is not None:
        changes["holdout_share"] = holdout
    if starts_on is not None:
        changes["starts_on"] = parse_as_of(starts_on)
    if days is not None:
        changes["attribution_days"] = days
    if coupon_value is not None:
        changes["coupon_value_cents"] = _cents(coupon_value, "--coupon-value")
    if cost_per_contact is not None:
        changes["cost_per_contact_cents"] = _cents(cost_per_contact, "--cost-per-contact")
    with _store_session() as session:
        changes["callback_owner_id"] = _user_id(session, owner)
        campaign = launch_campaign(session, replace(spec, **changes), actor=_cli_actor())
        sizes = arm_sizes(session, [campaign.id])[campaign.id]
        out.print(f"campaign {campaign.id} launched: {sizes['treatment']} treated, {sizes['holdout']} held out "
                  f"({campaign.excluded_no_consent} left out without marketing consent); window "
                  f"{campaign.starts_on} + {campaign.attribution_days} days", highlight=False, soft_wrap=True)


@campaign_app.command("list")
@friendly
def campaign_list() -> None:
    """List the campaigns, newest first, with their arms and window."""
    from kehu.campaigns import Target, arm_sizes, describe, is_finished, list_campaigns

    with _store_session() as session:
        campaigns = list_campaigns(session)
        sizes = arm_sizes(session, [c.id for c in campaigns])
        table = Table(title="Campaigns 营销活动", title_justify="left")
        for column in ("id", "name", "target", "as of", "offer", "treatment", "holdout", "window", "status"):
            table.add_column(column)
        for c in campaigns:
            table.add_row(str(c.id), c.name, describe(Target(c.target_kind, tuple(c.target_values)), "en"),
                          str(c.as_of), c.offer, str(sizes[c.id]["treatment"]), str(sizes[c.id]["holdout"]),
                          f"{c.starts_on} +{c.attribution_days}d", "finished" if is_finished(c) else "running")
    out.print(table)


@campaign_app.command("show")
@friendly
def campaign_show(campaign_id: Annotated[int, typer.Argument(help="The campaign's id.")]) -> None:
    """Show a campaign's definition and arms."""
    from datetime import timedelta

    from kehu.campaigns import Target, arm_sizes, describe, get_campaign, window

    with _store_session() as session:
        c = get_campaign(session, campaign_id)
        sizes = arm_sizes(session, [c.id])[c.id]
        start, end = window(c)
        rows = [("name", c.name), ("template", c.template or "—"),
                ("target", describe(Target(c.target_kind, tuple(c.target_values)), "en")),
                ("snapshot", str(c.as_of)), ("targeted", str(c.targeted)),
                ("left out (no marketing consent)", str(c.excluded_no_consent)),
                ("treatment / holdout", f"{sizes['treatment']} / {sizes['holdout']} (holdout share "
                                        f"{c.holdout_share:.0%})"),
                ("offer", c.offer), ("coupon value", _yuan_text(c.coupon_value_cents)),
                ("cost per contact", _yuan_text(c.cost_per_contact_cents)),
                ("window", f"{start} … {end - timedelta(days=1)} ({c.attribution_days} days)")]
    for key, value in rows:
        out.print(f"{key:<32} {value}", highlight=False, soft_wrap=True)


@campaign_app.command("export")
@friendly
def campaign_export(
    campaign_id: Annotated[int, typer.Argument(help="The campaign's id.")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help=".csv or .xlsx")],
    arm: Annotated[str, typer.Option(help="treatment, holdout or all.")] = "treatment",
    reveal: Annotated[bool, typer.Option("--reveal", help="Write names, phones and e-mails in plaintext (audited; "
                                         "the file gets mode 0600). Default: masked.")] = False,
    lang: Annotated[str, typer.Option(help="Language of the header and labels: zh or en.")] = "zh",
) -> None:
    """Write the contact list of a campaign (coupon codes or call-back tasks), masked unless --reveal; formula-safe.
    Audited."""
    import os

    from kehu.campaigns import contact_rows, get_campaign, to_bytes
    from kehu.privacy import FieldCipher, audit

    fmt = out_file.suffix.lower().lstrip(".")
    if fmt not in ("csv", "xlsx"):
        raise KehuError(f"{out_file}: use a .csv or .xlsx file name")
    settings = _settings()
    actor = _cli_actor()
    with _store_session() as session:
        campaign = get_campaign(session, campaign_id)
        header, rows = contact_rows(session, FieldCipher.from_settings(settings), campaign, arm=arm, reveal=reveal,
                                    lang=lang)
        body = to_bytes(header, rows, fmt)
        audit.record(session, action="export", username=actor.username, target_type="campaign",
                     target_id=campaign.id, via="cli",
                     detail={"format": fmt, "rows": len(rows), "arm": arm, "revealed": reveal})
    out_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if reveal else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(body)
    out.print(f"wrote {len(rows)} contacts to {out_file}{' (revealed)' if reveal else ' (masked)'}",
              highlight=False, soft_wrap=True)


@campaign_app.command("result")
@friendly
def campaign_result_cmd(campaign_id: Annotated[int, typer.Argument(help="The campaign's id.")]) -> None:
    """Conversion and revenue per customer of treatment and holdout, their differences with 95% intervals (Newcombe;
    Welch), incremental revenue and return on the offer's cost."""
    from kehu.campaigns import campaign_result, get_campaign

    with _store_session() as session:
        r = campaign_result(session, get_campaign(session, campaign_id))
    state = "finished" if r.finished else "interim (window still open)"
    out.print(f"window {r.window_start} … {r.window_end} (exclusive): {state}", highlight=False, soft_wrap=True)
    table = Table(title="Arms 分组", title_justify="left")
    for column in ("arm", "customers", "converted", "conversion [95%]", "revenue", "revenue / customer"):
        table.add_column(column)
    for a in (r.treatment, r.holdout):
        table.add_row(a.arm, str(a.customers), str(a.converted), _interval_text(a.conversion, 100, "%"),
                      _yuan_text(a.revenue_cents), _yuan_text(a.revenue_per_customer_cents))
    out.print(table)
    out.print(f"conversion uplift (Newcombe)   {_interval_text(r.conversion_diff, 100, ' pp')}", highlight=False,
              soft_wrap=True)
    out.print(f"revenue / customer (Welch)     {_interval_text(r.revenue_diff_cents, money=True)}", highlight=False,
              soft_wrap=True)
    out.print(f"incremental revenue            {_interval_text(r.incremental_revenue_cents, money=True)}",
              highlight=False, soft_wrap=True)
    roi = "—" if r.return_on_cost is None else f"{r.return_on_cost:.0%}"
    out.print(f"cost {_yuan_text(r.cost_cents)}; return on cost {roi}", highlight=False, soft_wrap=True)


@survey_app.command("create")
@friendly
def survey_create(
    name: Annotated[str, typer.Argument(help="Survey name (staff only).")],
    kind: Annotated[str, typer.Option(help="nps (0-10) or csat (1-5).")] = "nps",
    question: Annotated[str | None, typer.Option(help="Question shown instead of the standard one.")] = None,
    owner: Annotated[str | None, typer.Option(help="User who calls detractors back (default: agents in turn).")]
    = None,
    follow_up_days: Annotated[int, typer.Option(help="A detractor's call-back is due after this many days.")] = 2,
) -> None:
    """Create an NPS or CSAT survey. Audited."""
    from kehu.surveys import create_survey

    with _store_session() as session:
        survey = create_survey(session, name=name, kind=kind, question=question, owner_id=_user_id(session, owner),
                               follow_up_days=follow_up_days, actor=_cli_actor())
        out.print(f"survey {survey.id} created ({survey.kind})", highlight=False, soft_wrap=True)


@survey_app.command("list")
@friendly
def survey_list() -> None:
    """List the surveys with their answers and invited customers."""
    from kehu.surveys import list_surveys, response_counts

    with _store_session() as session:
        surveys = list_surveys(session)
        counts = response_counts(session, [s.id for s in surveys])
        table = Table(title="Surveys 满意度调查", title_justify="left")
        for column in ("id", "name", "kind", "answers", "invited", "status"):
            table.add_column(column)
        for s in surveys:
            table.add_row(str(s.id), s.name, s.kind, str(counts[s.id][0]), str(counts[s.id][1]),
                          "closed" if s.closed_at else "open")
    out.print(table)


@survey_app.command("links")
@friendly
def survey_links(
    survey_id: Annotated[int, typer.Argument(help="The survey's id.")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="CSV file: customer_id, link.")],
    target_kind: TargetKind = None,
    target: TargetValues = None,
    as_of: SnapshotDate = None,
    base_url: Annotated[str | None, typer.Option(help="Public address of kehu (default: http://HOST:PORT).")] = None,
) -> None:
    """Write one answer link per customer of the target (source-system id and link, no personal data); the
    customers are recorded as invited. Audited."""
    from kehu.campaigns import Target
    from kehu.surveys import get_survey, issue_links, survey_key

    if not target_kind or not target:
        raise KehuError("give --target-kind and --target, e.g. --target-kind rfm_group --target champions")
    settings = _settings()
    base = (base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    with _store_session() as session:
        links = issue_links(session, get_survey(session, survey_id), survey_key(settings),
                            target=Target(target_kind, tuple(target)),
                            as_of=parse_as_of(as_of) if as_of else None, actor=_cli_actor())
    import csv

    out_file.parent.mkdir(parents=True, exist_ok=True)
    with out_file.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(["customer_id", "link"])
        for link in links:
            writer.writerow([("'" + link.external_id) if link.external_id[:1] in "=+-@\t\r" else link.external_id,
                             f"{base}/s/{link.token}"])
    out.print(f"wrote {len(links)} links to {out_file}", highlight=False, soft_wrap=True)


@survey_app.command("import")
@friendly
def survey_import(
    survey_id: Annotated[int, typer.Argument(help="The survey's id.")],
    file: Annotated[Path, typer.Argument(help="CSV with customer_id, answered_at, score, comment.")],
    source: Annotated[str | None, typer.Option(help="Source of the customer ids when they exist in several.")]
    = None,
    follow_up: Annotated[bool, typer.Option("--follow-up/--no-follow-up", help="Open call-back tasks for "
                                            "detractors (off for old answers).")] = True,
) -> None:
    """Import answers collected elsewhere (one per customer; a second is skipped). Audited."""
    from kehu.privacy import FieldCipher
    from kehu.surveys import get_survey, import_answers

    if not file.is_file():
        raise KehuError(f"{file}: no such file")
    settings = _settings()
    with _store_session() as session:
        report = import_answers(session, get_survey(session, survey_id), file.read_bytes(),
                                cipher=FieldCipher.from_settings(settings), actor=_cli_actor(), source=source,
                                follow_up=follow_up)
    out.print(report.summary(), highlight=False, soft_wrap=True)
    for line, message in report.problems[:20]:
        err.print(f"line {line}: {message}", highlight=False, soft_wrap=True)


@survey_app.command("results")
@friendly
def survey_results_cmd(survey_id: Annotated[int, typer.Argument(help="The survey's id.")],
                       as_of: SnapshotDate = None) -> None:
    """The NPS (with its interval) or CSAT share (Wilson interval), per month and per RFM group."""
    from kehu.surveys import get_survey, survey_results

    with _store_session() as session:
        survey = get_survey(session, survey_id)
        r = survey_results(session, survey, parse_as_of(as_of) if as_of else None)
    nps = survey.kind == "nps"

    def fmt(iv: Any) -> str:  # noqa: ANN401
        return _interval_text(iv) if nps else _interval_text(iv, 100, "%")

    out.print(f"{survey.kind.upper()} {fmt(r.overall.value)} from {r.overall.n} answers; "
              f"{r.follow_ups} call-backs opened", highlight=False, soft_wrap=True)
    for title, groups in (("Month 月份", r.monthly), (f"RFM group 分组 ({r.as_of})", r.by_group),
                          ("Segment 分群", r.by_segment)):
        if not groups:
            continue
        table = Table(title=title, title_justify="left")
        for column in ("group", "answers", survey.kind.upper() + " [95%]"):
            table.add_column(column)
        for g in groups:
            table.add_row(g.key, str(g.score.n), fmt(g.score.value))
        out.print(table)


# --- feedback and tasks (kehu.feedback, kehu.tasks) -------------------------------------------------------------

feedback_app = typer.Typer(help="Customer feedback: complaints and reviews with category, sentiment and keywords.",
                           no_args_is_help=True)
tasks_app = typer.Typer(help="Agents' tasks: call-backs and follow-ups.", no_args_is_help=True)
app.add_typer(feedback_app, name="feedback")
app.add_typer(tasks_app, name="tasks")


@feedback_app.command("import")
@friendly
def feedback_import(file: Annotated[Path, typer.Argument(help="The feedback file (CSV or XLSX).")],
                    source: Source = None, rejects: Rejects = None) -> None:
    """Import complaints and reviews (columns customer_id, created_at, kind, rating, text, channel; see
    docs/feedback.md). Texts are encrypted; re-importing a file changes nothing."""
    from kehu.feedback import import_feedback

    report = import_feedback(settings=_settings(), path=file, source=source, rejects=rejects,
                             username=_cli_actor().username, via="cli")
    out.print(report.summary(), highlight=False, soft_wrap=True)


@tasks_app.command("list")
@friendly
def tasks_list(
    mine: Annotated[bool, typer.Option("--mine", help="Only the tasks of --user (default: your login name).")] = False,
    user: Annotated[str | None, typer.Option("--user", help="The kehu user whose tasks --mine lists.")] = None,
    status: Annotated[str, typer.Option(help="open (open or in progress), all, open, in_progress, done or "
                                        "cancelled.")] = "open",
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many tasks.")] = 100,
) -> None:
    """List tasks, overdue first, then by due date."""
    from sqlalchemy import select

    from kehu.feedback import local_now
    from kehu.store import Customer, User
    from kehu.tasks import TaskFilter, is_overdue, list_tasks

    now = local_now()
    with _store_session() as session:
        owner_id = None
        if mine:
            name = user or _cli_actor().username
            owner_id = session.scalar(select(User.id).where(User.username == name))
            if owner_id is None:
                raise KehuError(f"no kehu user named {name!r}; pass --user NAME (see `kehu user list`)")
        tasks, total = list_tasks(session, now=now, filters=TaskFilter(owner_id=owner_id, status=status, limit=limit))
        users = {uid: name for uid, name in session.execute(select(User.id, User.username))}
        customers = {cid: ext for cid, ext in session.execute(select(Customer.id, Customer.external_id).where(
            Customer.id.in_({t.customer_id for t in tasks})))}
        table = Table(title=f"Tasks 任务 ({len(tasks)} of {total})", title_justify="left")
        for column in ("id", "due", "status", "kind", "customer", "owner", "title"):
            table.add_column(column, justify="right" if column == "id" else "left")
        for t in tasks:
            due = t.due_at.strftime("%Y-%m-%d %H:%M") + (" OVERDUE 逾期" if is_overdue(t, now) else "")
            table.add_row(str(t.id), due, t.status, t.kind, customers.get(t.customer_id, str(t.customer_id)),
                          users.get(t.owner_id, "—") if t.owner_id else "—", t.title)
    out.print(table)


# --- membership: tiers and points (kehu.membership) ---------------------------------------------------------------

members_app = typer.Typer(help="Membership tiers (普通/银卡/金卡/钻石 by trailing-12-month paid spend) and points.",
                          no_args_is_help=True)
points_app = typer.Typer(help="The points ledger: redeem a customer's points.", no_args_is_help=True)
app.add_typer(members_app, name="members")
app.add_typer(points_app, name="points")


@members_app.command("refresh")
@friendly
def members_refresh(as_of: AsOf = None) -> None:
    """Recompute tiers and tier history as of a date and bring the points ledger up to it (earn on paid orders,
    reverse refunds, expire old points). Running it again changes nothing."""
    from kehu.membership import membership_refresh, tier_name

    report = membership_refresh(_settings(), parse_as_of(as_of))
    table = Table(title=f"Membership 会员 as of {report.as_of}", title_justify="left")
    for column in ("tier", "等级", "members", "share"):
        table.add_column(column, justify="right" if column in ("members", "share") else "left")
    for tier, n in report.by_tier.items():
        share = n / report.members if report.members else 0
        table.add_row(tier, tier_name(tier, "zh"), f"{n:,}", f"{share:.1%}")
    out.print(table)
    points = report.points
    out.print(f"{report.members:,} members; {report.upgrades:,} upgrades and {report.downgrades:,} downgrades in their "
              f"history ({report.changes_written:,} tier-change rows written)", highlight=False, soft_wrap=True)
    out.print(f"points rows added: {report.rows:,} (earned {points.get('earn', 0):,}, reversed "
              f"{-points.get('reverse', 0):,}, expired {-points.get('expire', 0):,})", highlight=False, soft_wrap=True)


@members_app.command("show")
@friendly
def members_show(customer: Annotated[str, typer.Argument(help="The customer's source-system id.")],
                 source: Source = None,
                 rows: Annotated[int, typer.Option(min=1, max=10_000, help="Ledger rows to list (newest first).")] = 20,
                 ) -> None:
    """One customer's tier, spend, next tier, points balance, what expires next, tier history and ledger."""
    from kehu.membership import customer_ledger, membership_summary, tier_name
    from kehu.privacy.subject import find_customer
    from kehu.web.present import yuan

    with _store_session() as session:
        found = find_customer(session, customer, source)
        card = membership_summary(session, found.id)
        ledger = customer_ledger(session, found.id, limit=rows)
    if card.as_of is None:
        out.print("membership has not been computed yet: run kehu members refresh", highlight=False, soft_wrap=True)
    else:
        tier = f"{card.tier} {tier_name(card.tier, 'zh')} since {card.since}" if card.tier else "none (no purchase)"
        out.print(f"customer {customer}: tier {tier} (as of {card.as_of}); spend of the last "
                  f"{card.window_months} months {yuan(card.spend_cents)}", highlight=False, soft_wrap=True)
        if card.next_tier and card.to_next_cents is not None:
            out.print(f"next tier: {card.next_tier} {tier_name(card.next_tier, 'zh')}, {yuan(card.to_next_cents)} "
                      "to go", highlight=False, soft_wrap=True)
    out.print(f"points balance {card.balance:,} (earned {card.earned:,}, redeemed {card.redeemed:,}, expired "
              f"{card.expired:,}, reversed {card.reversed:,})", highlight=False, soft_wrap=True)
    for day, points in card.expiring:
        out.print(f"  {points:,} points expire on {day}", highlight=False, soft_wrap=True)
    for change in reversed(card.changes):
        out.print(f"  {change.changed_on} {change.direction}: {change.from_tier} → {change.to_tier} "
                  f"(spend {yuan(change.spend_cents)})", highlight=False, soft_wrap=True)
    table = Table(title=f"Points ledger 积分明细 (newest {len(ledger)})", title_justify="left")
    for column in ("#", "time", "kind", "points", "balance", "detail"):
        table.add_column(column, justify="right" if column in ("#", "points", "balance") else "left")
    for row in ledger:
        detail = row.reason or (f"order {row.order_ref}" if row.order_ref else "")
        if row.uncovered:
            detail += f" ({row.uncovered:,} not taken back)"
        table.add_row(str(row.seq), row.at.strftime("%Y-%m-%d %H:%M"), row.kind, f"{row.points:+,}",
                      f"{row.balance:,}", detail)
    out.print(table)


@points_app.command("redeem")
@friendly
def points_redeem(customer: Annotated[str, typer.Argument(help="The customer's source-system id.")],
                  points: Annotated[int, typer.Argument(help="Points to redeem (a whole number above 0).")],
                  reason: Annotated[str, typer.Option("--reason", "-r", help="Why, as a short label (e.g. 兑换优惠券); "
                                                      "no phone numbers, e-mails or ID numbers.")],
                  source: Source = None) -> None:
    """Redeem points of a customer's balance, oldest points first; more than the balance is refused. Audited."""
    from kehu.membership import redeem_points
    from kehu.privacy.subject import find_customer

    settings = _settings()
    actor = _cli_actor()
    with _store_session() as session:
        found = find_customer(session, customer, source)
        result = redeem_points(session, settings=settings, customer_id=found.id, points=points, reason=reason,
                               username=actor.username, via="cli")
    out.print(f"redeemed {result.points:,} points of customer {customer}; balance now {result.balance:,}",
              highlight=False, soft_wrap=True)


report_app = typer.Typer(help="Reports: the monthly customer report as XLSX or a printable HTML page.",
                         no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("monthly")
@friendly
def report_monthly_cmd(
    month: Annotated[str, typer.Option("--month", help="The month, YYYY-MM (compared with the month before).")],
    out_file: Annotated[Path, typer.Option("--out", help="The file to write: .xlsx or .html (printable page).")],
    lang: Annotated[str, typer.Option("--lang", help="Language of the report: zh or en.")] = "zh",
) -> None:
    """Write the monthly customer report: key figures, RFM classes, lifecycle, migration, CLV, churn, campaigns, NPS."""
    from kehu.reports import monthly_report, parse_month, report_html, report_xlsx

    parse_month(month)
    suffix = out_file.suffix.lower()
    if suffix not in (".xlsx", ".html"):
        raise KehuError(f"{out_file}: unknown report format {suffix or '(no suffix)'}; use .xlsx or .html")
    if lang not in ("zh", "en"):
        raise KehuError(f"--lang {lang!r}: choose zh or en")
    settings = _settings()
    with _store_session() as session:
        report = monthly_report(session, month, churn_threshold=settings.churn_risk_threshold)
        body: bytes = report_xlsx(report, lang) if suffix == ".xlsx" else report_html(report, lang).encode("utf-8")
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_bytes(body)
    out.print(f"wrote the report of {report.month} (snapshot {report.as_of}) to {out_file}", highlight=False,
              soft_wrap=True)


@app.command()
def version() -> None:
    """Print kehu's version."""
    out.print(__version__)


def main() -> None:
    """Console-script entry point."""
    app()
