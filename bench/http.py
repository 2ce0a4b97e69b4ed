"""Requests per second and p99 of one authenticated JSON route through the common HTTP stack, next to a
bare FastAPI route.

Why: every service request pays for the edge ``create_http_app`` gives it (correlation id, access log
line, latency histogram, body size limit, problem+json errors, token check). The target is that this
edge keeps at least 0.7× the bare rate; below that, the stack, not the use case, is what a small route
waits on.

How: both apps (``bench/_http_apps.py``) run under uvicorn with uvloop and httptools, one worker, pinned to
one core with ``taskset``; ``wrk`` (Debian's, installed here if missing) runs pinned to another core and
sends the same ``Authorization: Bearer`` header (a real HS256 token) to both. After a warm-up, runs
alternate bare, stack, bare, stack… so background noise falls on both; the figures are medians.

    .venv/bin/python bench/http.py                          # 10 s runs, 50 connections, 3 runs each
    .venv/bin/python bench/http.py --duration 3 --runs 1    # a quick look

Exit status: 0 whether the target is met or not (the figure is the result, printed as MET/MISSED); 1 when
the run itself failed (a server did not start, a sanity check or a wrk run went wrong); 2 when wrk or
taskset is missing and cannot be installed.
"""

# ruff: noqa: E402 - the imports below must follow the sys.path fix.
import os
import sys

# This file is bench/http.py: with bench/ first on sys.path it would shadow the standard library's `http`
# package (urllib, FastAPI and uvicorn all import it). Keep bench/ on the path, but last.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.append(_HERE)

import argparse
import json
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import _http_apps as apps

#: The stack must keep at least this share of the bare route's requests per second.
TARGET_RATIO = 0.7

APPS_SCRIPT = Path(_HERE) / "_http_apps.py"
READY_TIMEOUT_S = 30.0


class BenchError(RuntimeError):
    """The run itself failed (as opposed to the target being missed)."""


class MissingTool(RuntimeError):
    """A required program is missing and could not be installed."""


# ---- tools ---------------------------------------------------------------------------------------


def ensure_tool(program: str, debian_package: str) -> str:
    """The path of ``program``, installing its Debian package first when root with apt (CI machines are
    fresh: the benchmark brings what it needs)."""
    found = shutil.which(program)
    if found:
        return found
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        raise MissingTool(
            f"`{program}` is not installed and this is not root with apt-get: "
            f"install the Debian package `{debian_package}` (apt-get install -y {debian_package})"
        )
    print(f"installing {debian_package} (apt-get install -y {debian_package}) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-q", debian_package]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        # A fresh machine may have no package lists yet.
        subprocess.run([apt, "update", "-q"], env=env, capture_output=True)
        done = subprocess.run(install, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise MissingTool(f"apt-get install {debian_package} failed:\n{done.stderr[-2000:]}")
    found = shutil.which(program)
    if not found:
        raise MissingTool(f"`{program}` is still missing after installing {debian_package}")
    return found


def pick_cpus() -> tuple[int, int]:
    """Two distinct CPUs this process may run on: the server's and the load generator's."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise BenchError(
            f"need two CPUs to pin server and wrk apart, this process may use only {cpus}; "
            "figures from one shared core would measure wrk as much as the server"
        )
    return cpus[0], cpus[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- the servers ---------------------------------------------------------------------------------


class Server:
    """One app under uvicorn in a subprocess pinned to one CPU; its stderr (the JSON logs) goes to a file."""

    def __init__(
        self,
        app: str,
        *,
        cpu: int,
        taskset: str,
        log_path: Path,
        wrapper: Sequence[str] = (),
        ready_timeout: float = READY_TIMEOUT_S,
    ) -> None:
        self.app = app
        self.ready_timeout = ready_timeout
        self.cpu = cpu
        self.port = free_port()
        self.log_path = log_path
        self.path = apps.BARE_PATH if app == "bare" else apps.STACK_PATH
        self.url = f"http://127.0.0.1:{self.port}{self.path}"
        self._log_offset = 0
        # A wrapper (valgrind) execs the server in the same process, so the pid stays the server's.
        command = [taskset, "-c", str(cpu), *wrapper, sys.executable, "-P", str(APPS_SCRIPT)]
        command += ["--app", app, "--port", str(self.port)]
        # Opened for appending, so that reading the file while the server writes is safe.
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, stdout=self._log, stderr=self._log, cwd=_HERE)

    def wait_ready(self, headers: dict[str, str]) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise BenchError(f"{self.app} server exited with {code}:\n{self.log_tail()}")
            try:
                status, _, _ = http_get(self.url, headers)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchError(f"{self.app} server not ready after {self.ready_timeout:.0f} s:\n{self.log_tail()}")

    def new_log_lines(self) -> list[bytes]:
        """The log lines written since the last call."""
        with open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # a line being written stays for next time
        self._log_offset += end
        return data[:end].splitlines()

    def count_new_log_lines(self, marker: bytes) -> int:
        """How many lines containing ``marker`` were written since the last call (streamed: runs write
        megabytes)."""
        count = 0
        with open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            tail = b""
            while chunk := f.read(1 << 20):
                lines = (tail + chunk).split(b"\n")
                tail = lines.pop()
                count += sum(1 for line in lines if marker in line)
                self._log_offset += sum(len(line) + 1 for line in lines)
        return count

    def cpu_seconds(self) -> float | None:
        """User + system CPU time the server has used (Linux ``/proc``; ``None`` elsewhere). ``taskset``
        execs the server, so the pid is the server's."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # After the command name: state is field 3, utime 14 and stime 15 (proc(5)).
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
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def http_get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def sanity_check(bare: Server, stack: Server, auth: dict[str, str]) -> None:
    """Both routes answer the same body; the stack really demands the token and really logs."""
    for server in (bare, stack):
        status, _, body = http_get(server.url, auth)
        if status != 200 or json.loads(body) != apps.PAYLOAD:
            raise BenchError(f"{server.app}: GET {server.path} gave {status} {body[:200]!r}")
    status, headers, body = http_get(stack.url, {})
    if status != 401 or "problem+json" not in headers.get("content-type", ""):
        raise BenchError(f"stack without a token gave {status} {body[:200]!r}, expected a 401 problem")
    if not any(b'"event":"http_request"' in line for line in stack.new_log_lines()):
        raise BenchError(f"stack wrote no access log line; its log ends with:\n{stack.log_tail()}")


# ---- wrk -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: str


_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_P99 = re.compile(r"^\s*99(?:\.000)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
_TOTAL = re.compile(r"^\s*(\d+) requests in", re.M)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: (.+)")


def parse_wrk(text: str) -> WrkResult:
    """Requests/sec and the 99th percentile of ``wrk --latency`` output."""
    rps, p99, total = _RPS.search(text), _P99.search(text), _TOTAL.search(text)
    if rps is None or p99 is None or total is None:
        raise BenchError(f"could not read wrk's output:\n{text}")
    non_2xx = _NON_2XX.search(text)
    errors = _SOCKET_ERRORS.search(text)
    return WrkResult(
        requests_per_s=float(rps.group(1)),
        p99_ms=float(p99.group(1)) * _UNIT_MS[p99.group(2)],
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=errors.group(1).strip() if errors else "",
    )


def run_wrk(
    wrk: str, taskset: str, *, cpu: int, url: str, auth: dict[str, str], duration: float, connections: int
) -> WrkResult:
    command = [taskset, "-c", str(cpu), wrk, "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency"]
    for name, value in auth.items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = parse_wrk(done.stdout)
    if result.non_2xx or result.requests == 0:
        raise BenchError(f"wrk got {result.non_2xx} non-2xx responses of {result.requests}:\n{done.stdout}")
    return result


# ---- main ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One measured wrk run, with the server's CPU time per request over the same interval."""

    wrk: WrkResult
    cpu_us_per_request: float | None


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if len(present) == len(values) else None


def _cpu(value: float | None) -> str:
    return f"{value:>10.1f}" if value is not None else f"{'n/a':>10}"


_HEADER = f"{'app':<6} {'run':>6} {'req/s':>10} {'p99 ms':>9} {'cpu us/req':>10}"


def _print_row(app: str, run: str, r: Run, extra: str = "") -> None:
    line = (
        f"{app:<6} {run:>6} {r.wrk.requests_per_s:>10.0f} {r.wrk.p99_ms:>9.2f} {_cpu(r.cpu_us_per_request)}"
    )
    print(f"{line} {extra}".rstrip(), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0].replace("\n", " "))
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per app (default 3)")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count each server's user-space instructions per request under callgrind (valgrind): "
        "a figure other work on the machine does not move (a few minutes more)",
    )
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.connections <= 0 or args.runs <= 0:
        parser.error("--duration, --connections and --runs must be positive")

    try:
        wrk = ensure_tool("wrk", "wrk")
        taskset = ensure_tool("taskset", "util-linux")
    except MissingTool as exc:
        print(f"bench/http.py: {exc}", file=sys.stderr)
        return 2

    try:
        server_cpu, load_cpu = pick_cpus()
        token = apps.bench_token(apps.bench_settings())
        auth = {"Authorization": f"Bearer {token}"}
        load = os.getloadavg()
        print(
            f"server on CPU {server_cpu}, wrk on CPU {load_cpu}; wrk -t1 -c{args.connections} "
            f"-d{args.duration:g}s --latency; {args.runs} run(s) each after a warm-up",
            flush=True,
        )
        print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", end="")
        if load[0] > 0.5:
            print(" (other work is running: figures will be noisy; compare the two ratios below)", end="")
        print(flush=True)
        with tempfile.TemporaryDirectory(prefix="lkg-bench-http-") as tmp:
            servers = {
                name: Server(name, cpu=server_cpu, taskset=taskset, log_path=Path(tmp) / f"{name}.log")
                for name in apps.APPS
            }
            try:
                status = _measure(servers, wrk, taskset, load_cpu, auth, args)
            finally:
                for server in servers.values():
                    server.stop()
            if args.instructions:
                _count_instructions(Path(tmp), wrk, taskset, server_cpu, load_cpu, auth, args)
            load = os.getloadavg()
            print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
            return status
    except BenchError as exc:
        print(f"bench/http.py: FAILED: {exc}", file=sys.stderr)
        return 1


def _measure(
    servers: dict[str, Server],
    wrk: str,
    taskset: str,
    load_cpu: int,
    auth: dict[str, str],
    args: argparse.Namespace,
) -> int:
    for server in servers.values():
        server.wait_ready(auth)
    sanity_check(servers["bare"], servers["stack"], auth)

    def bench(name: str, duration: float) -> Run:
        server = servers[name]
        cpu_before = server.cpu_seconds()
        result = run_wrk(
            wrk,
            taskset,
            cpu=load_cpu,
            url=server.url,
            auth=auth,
            duration=duration,
            connections=args.connections,
        )
        time.sleep(0.2)  # the last responses' log lines follow their send
        cpu_after = server.cpu_seconds()
        per_request = None
        if cpu_before is not None and cpu_after is not None:
            per_request = (cpu_after - cpu_before) / result.requests * 1e6
        return Run(result, per_request)

    print(_HEADER, flush=True)
    warmup = min(args.duration, 3.0)
    for name in apps.APPS:
        _print_row(name, "warmup", bench(name, warmup))
    servers["stack"].count_new_log_lines(b"")  # count log lines from here on

    runs: dict[str, list[Run]] = {name: [] for name in apps.APPS}
    logged = answered = 0
    for number in range(1, args.runs + 1):
        for name in apps.APPS:  # interleaved: bare, stack, bare, stack…
            run = bench(name, args.duration)
            runs[name].append(run)
            extra = f"socket errors: {run.wrk.socket_errors}" if run.wrk.socket_errors else ""
            if name == "stack":
                lines = servers["stack"].count_new_log_lines(b'"event":"http_request"')
                logged += lines
                answered += run.wrk.requests
                extra = f"{lines} access log lines {extra}"
            _print_row(name, str(number), run, extra)

    rps = {name: statistics.median(r.wrk.requests_per_s for r in rs) for name, rs in runs.items()}
    p99 = {name: statistics.median(r.wrk.p99_ms for r in rs) for name, rs in runs.items()}
    cpu = {name: _median([r.cpu_us_per_request for r in rs]) for name, rs in runs.items()}
    print(f"\n{'median':<6} {'':>6} {'req/s':>10} {'p99 ms':>9} {'cpu us/req':>10}")
    for name in apps.APPS:
        print(f"{name:<6} {'':>6} {rps[name]:>10.0f} {p99[name]:>9.2f} {_cpu(cpu[name])}")

    ratio = rps["stack"] / rps["bare"]
    verdict = "MET" if ratio >= TARGET_RATIO else "MISSED"
    pairs = zip(runs["bare"], runs["stack"], strict=True)
    per_run = ", ".join(f"{s.wrk.requests_per_s / b.wrk.requests_per_s:.2f}" for b, s in pairs)
    print(f"\nstack/bare requests per second: {ratio:.2f} (per run: {per_run})")
    cpu_ratio = None
    if cpu["bare"] is not None and cpu["stack"] is not None:
        # On a core of its own the server is CPU-bound, so this is the rate ratio without the noise of
        # being descheduled by other work.
        cpu_ratio = cpu["bare"] / cpu["stack"]
        print(f"bare/stack server CPU per request: {cpu_ratio:.2f} (the rate ratio on an idle core)")
    print(f"target: stack keeps ≥ {TARGET_RATIO}× the bare rate: {verdict}")
    if cpu_ratio is not None and abs(cpu_ratio - ratio) > 0.1:
        print("the two ratios disagree: other work competed for the server's core; rerun on a quiet machine")
    print(f"stack access log lines written while measured: {logged} (wrk counted {answered} responses)")
    if logged < answered:
        raise BenchError("the stack logged fewer lines than it answered: not every request was logged")
    return 0


# ---- instructions per request (callgrind) ---------------------------------------------------------

_CALLGRIND_TOTAL = re.compile(rb"^(?:summary|totals): (\d+)", re.M)
#: Under valgrind a server starts and serves some 50 times slower.
CALLGRIND_READY_TIMEOUT_S = 600.0


def _count_instructions(
    tmp: Path,
    wrk: str,
    taskset: str,
    server_cpu: int,
    load_cpu: int,
    auth: dict[str, str],
    args: argparse.Namespace,
) -> None:
    """Each app once more, under callgrind: counters zeroed after a warm-up, one wrk run, counters dumped.
    Instructions are what the server executes whoever else runs on the machine, so their ratio holds when
    the requests-per-second figures are noisy. Only user space is counted: the kernel's share (sockets),
    alike for both apps, is left out, which puts this ratio a little below the rate ratio of a quiet core.
    """
    try:
        valgrind = ensure_tool("valgrind", "valgrind")
        control = ensure_tool("callgrind_control", "valgrind")
    except MissingTool as exc:
        print(f"instructions: skipped ({exc})")
        return
    print("\ninstructions per request (callgrind; each server alone, wrk -c4)", flush=True)
    per_request: dict[str, float] = {}
    for name in apps.APPS:
        out = tmp / f"callgrind.{name}.out"
        server = Server(
            name,
            cpu=server_cpu,
            taskset=taskset,
            log_path=tmp / f"{name}.callgrind.log",
            wrapper=[valgrind, "--tool=callgrind", f"--callgrind-out-file={out}"],
            ready_timeout=CALLGRIND_READY_TIMEOUT_S,
        )
        try:
            server.wait_ready(auth)
            run_wrk(wrk, taskset, cpu=load_cpu, url=server.url, auth=auth, duration=3, connections=4)
            subprocess.run([control, "--zero", str(server.process.pid)], capture_output=True, check=True)
            # At least 10 s: a slowed-down server answers few requests, and a garbage collection among
            # few would weigh on the average.
            duration = max(args.duration, 10.0)
            result = run_wrk(
                wrk, taskset, cpu=load_cpu, url=server.url, auth=auth, duration=duration, connections=4
            )
            subprocess.run([control, "--dump", str(server.process.pid)], capture_output=True, check=True)
        finally:
            server.stop()
        dumps = sorted(tmp.glob(f"callgrind.{name}.out.*"), key=lambda p: int(p.suffix[1:]))
        found = _CALLGRIND_TOTAL.search(dumps[0].read_bytes()) if dumps else None
        if found is None:
            raise BenchError(f"no callgrind dump for {name} in {tmp}")
        per_request[name] = int(found.group(1)) / result.requests
        count = per_request[name] / 1000
        print(f"{name:<6} {count:>10.0f} k instructions/request ({result.requests} requests)", flush=True)
    ratio = per_request["bare"] / per_request["stack"]
    verdict = "MET" if ratio >= TARGET_RATIO else "MISSED"
    print(f"bare/stack instructions per request: {ratio:.2f} (≥ {TARGET_RATIO}: {verdict})")


if __name__ == "__main__":
    sys.exit(main())
