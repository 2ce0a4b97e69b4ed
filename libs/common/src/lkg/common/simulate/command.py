"""``lkg simulate``: a fresh deployment of its own (``lkg run`` on a new data directory) or ``--url``."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lkg.common.simulate.api import Api, ApiError
from lkg.common.simulate.options import MIXES, Options
from lkg.common.simulate.run import NotSimulated, Simulation
from lkg.common.simulate.summary import Summary


def simulate(
    start: Annotated[str, typer.Option(help="First day (ISO date).")] = "2020-05-01",
    end: Annotated[str, typer.Option(help="Last day (ISO date).")] = "2020-12-31",
    projects: Annotated[int, typer.Option(help="Projects registered on the first day.")] = 245,
    mix: Annotated[str, typer.Option(help=f"Behaviour mix: {', '.join(MIXES)}.")] = "typical",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same run.")] = 2020,
    pace: Annotated[float, typer.Option(help="At least this many seconds per working day.")] = 0.0,
    url: Annotated[
        str | None, typer.Option(help="A running deployment (simulated clock only); default: a fresh one.")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Where the fresh deployment lives (default: a new temp dir)."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the summary as JSON here.")
    ] = None,
) -> None:
    """Simulate months of the district's life through the public API (docs/simulate.md)."""
    if mix not in MIXES:
        raise typer.BadParameter(f"--mix: one of {', '.join(MIXES)}")
    try:
        options = Options(
            date.fromisoformat(start), date.fromisoformat(end), projects, MIXES[mix], seed, pace
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    console = Console()
    process = None
    if url is None:
        directory = data_dir or Path(tempfile.mkdtemp(prefix="lkg-simulate-"))
        if (directory / "runtime.json").exists() or any(directory.glob("pg*")):
            raise typer.BadParameter(
                f"--data-dir {directory} is not fresh: the simulator writes only into its own"
            )
        process, url = _start(directory, console)
    try:
        summary = asyncio.run(_simulate(url, options, console))
    except NotSimulated as exc:
        console.print(f"[red]refused:[/] {exc}")
        raise typer.Exit(2) from None
    except ApiError as exc:
        console.print(f"[red]stopped:[/] {exc}")
        raise typer.Exit(1) from None
    finally:
        if process is not None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
    summary.render(console)
    if json_out is not None:
        json_out.write_text(summary.to_json())


async def _simulate(url: str, options: Options, console: Console) -> Summary:
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("working days", total=None)

            def on_day(day: date, done: int, total: int) -> None:
                progress.update(task, completed=done, total=total, description=f"{day.isoformat()}")

            return await Simulation(Api(client), options, on_day=on_day).run()


def _start(directory: Path, console: Console) -> tuple[subprocess.Popen[bytes], str]:
    """``lkg run --no-demo-portfolio`` on ``directory`` (embedded PostgreSQL and NATS, simulated clock),
    ready to serve."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL", "LKG_CLOCK")}
    env.setdefault("LKG_LOG_LEVEL", "WARNING")
    lkg = str(Path(sys.executable).with_name("lkg"))
    console.print(f"starting a fresh deployment on --data-dir {directory} (port {port})")
    # The directory and the demo accounts, not the 245 【演示】 projects: the run's figures are its own.
    process = subprocess.Popen(
        [lkg, "run", "--data-dir", str(directory), "--port", str(port), "--no-demo-portfolio"], env=env
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise typer.Exit(1)
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    raise typer.Exit(1)
