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
def classify(as_of: AsOf = None) -> None:
    """Classify every customer (RFM scores, 8 classes, grid groups, lifecycle; with KEHU_PREDICT also CLV, P(alive),
    churn risk and reasons, clusters, recommendations) and write a dated snapshot."""
    from kehu.analytics import classify as run_classify

    settings = _settings()
    names = {"read": "reading orders", "compute": "classifying", "predict": "predicting", "clv": "fitting BG/NBD "
             "and Gamma-Gamma", "churn": "training the churn model", "clusters": "clustering",
             "recommendations": "recommending products", "write": "writing the snapshot"}
    with err.status("classifying…", spinner="dots") if err.is_terminal else nullcontext() as status:
        def step(name: str) -> None:
            if status is not None:
                status.update(f"{names.get(name, name)}…")

        report = run_classify(settings=settings, as_of=parse_as_of(as_of), step=step)
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
          port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None) -> None:
    """Start the web app."""
    settings = _settings()
    _serve(settings, host or settings.host, port or settings.port)


def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from kehu.store import open_store
    from kehu.web.app import create_app
    from kehu.web.auth import ensure_admin

    open_store(settings.store_url)
    password = ensure_admin(settings)  # a store without users gets its admin here (as `kehu init` does)
    if password:
        out.print(f"admin user created — login: admin / {password}  (shown once)", highlight=False)
    out.print(f"serving on http://{host}:{port}/", highlight=False)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


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
    _print_classification(run_classify(settings=settings, as_of=last_order_date(settings.store_url)))
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


@app.command()
def version() -> None:
    """Print kehu's version."""
    out.print(__version__)


def main() -> None:
    """Console-script entry point."""
    app()
