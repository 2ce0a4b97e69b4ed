"""``lkg import plan.xlsx``: import the project plan (《重大产业项目推进计划》) with a progress bar.

Mounted into the ``lkg`` command by :mod:`lkg.common.runtime.cli` (the ``lkg.<service>.cli:app`` of every
installed service). Like ``lkg seed`` and ``lkg replay`` it works on the deployment directly, not through
HTTP: the registry's database (``DATABASE_URL``, or the embedded servers ``lkg run`` started under
``--data-dir``) and NATS only to read the shared clock. So a district operator on the embedded default
runs it with no token and no server address, and it works even while the services are stopped (the events
wait in the outbox until the registry's relay runs). Whoever can reach the database is an operator; through
HTTP, ``POST /api/v1/projects/plan-imports`` is 重大项目办's with a token. The rows go through the same use
cases as the HTTP import (:func:`lkg.registry.plan.service.import_plan`) in one transaction.
"""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from lkg.common.clock import Clock
    from lkg.registry.plan.reading import ParsedPlan
    from lkg.registry.plan.schemas import PlanImportMode
    from lkg.registry.plan.service import ImportReport

app = typer.Typer(help="Registry commands.")
console = Console()


@app.command("import")
def import_plan(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The .xlsx file.")],
    valid_rows: Annotated[
        bool,
        typer.Option(
            "--valid-rows",
            help="Import the valid rows and report the others (default: all-or-nothing).",
        ),
    ] = False,
    actor: Annotated[
        str | None, typer.Option(help="Who imports, kept in each project's history (default: cli:<user>).")
    ] = None,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", envvar="LKG_DATA_DIR", help="Embedded servers' data.")
    ] = Path(".lkg"),
) -> None:
    """Import the project plan workbook: new projects are registered, existing ones (by 项目ID, else
    项目代码) updated; a bad row is reported with its row number, column and reason."""
    from lkg.registry.plan.reading import read_plan
    from lkg.registry.plan.schemas import PlanImportMode
    from lkg.registry.plan.service import PlanImportRejected
    from lkg.registry.plan.workbook import PlanWorkbookUnreadable

    mode = PlanImportMode.VALID_ROWS if valid_rows else PlanImportMode.ALL
    try:
        plan = read_plan(path.read_bytes())
    except PlanWorkbookUnreadable as exc:
        console.print(f"[red]{exc.detail}[/] ({exc.code})")
        raise typer.Exit(2) from None
    who = actor or f"cli:{getpass.getuser()}"
    try:
        report = asyncio.run(_import(plan, mode=mode, actor=who, data_dir=data_dir))
    except PlanImportRejected as exc:
        _print_errors(exc.extra["row_errors"])
        console.print(f"[red]{exc.detail}[/]")
        raise typer.Exit(1) from None
    _print_errors([e.as_dict() for e in report.errors])
    console.print(
        f"{path.name}: {report.rows} 行；新建 {report.count('created')}，更新 {report.count('updated')}，"
        f"未变 {report.count('unchanged')}，错误 {report.rejected}"
    )


async def _import(plan: ParsedPlan, *, mode: PlanImportMode, actor: str, data_dir: Path) -> ImportReport:
    from lkg.common.db import Database
    from lkg.common.runtime.deployments import endpoints_of as _endpoints
    from lkg.common.runtime.deployments import service_url as _service_url
    from lkg.registry.plan.service import import_plan as run_import

    endpoints = _endpoints(data_dir)
    clock = await _deployment_clock(endpoints.nats_url, endpoints.prefix)
    db = Database(_service_url(endpoints, "registry", targets_all=endpoints.embedded), pool_size=1)
    columns = (
        TextColumn("[bold]导入推进计划"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("第 {task.fields[row]} 行"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("import", total=len(plan.rows), row="-")

            def advance(row: int) -> None:
                progress.update(task, advance=1, row=row)

            async with db.transaction() as session:
                return await run_import(session, clock, plan, mode=mode, actor=actor, progress=advance)
    finally:
        await db.dispose()


async def _deployment_clock(nats_url: str, prefix: str) -> Clock:
    """The deployment's time: its shared simulated clock when it has one (the embedded demo), else the
    system clock (production). Read only: the bucket is never created here."""
    import nats
    from nats.js.errors import BucketNotFoundError

    from lkg.common.clock import SimulatedClock, SystemClock
    from lkg.common.events.bus import Names
    from lkg.common.runtime import shared_time

    nc = await nats.connect(nats_url, name="lkg-import", connect_timeout=5, max_reconnect_attempts=0)
    try:
        try:
            kv = await nc.jetstream().key_value(Names(prefix).bucket("clock"))
        except BucketNotFoundError:
            return SystemClock()
        now = await shared_time.read_now(kv)
        return SimulatedClock(now) if now is not None else SystemClock()
    finally:
        await nc.close()


def _print_errors(errors: list[dict]) -> None:
    if not errors:
        return
    table = Table("行", "列", "表头", "代码", "原因", title="错误行")
    for e in errors:
        table.add_row(str(e["row"]), e["column"] or "", e["header"] or "", e["code"], e["message"])
    console.print(table)
