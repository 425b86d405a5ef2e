#!/usr/bin/env python3
"""Overhead benchmark: every workload in four configurations, interleaved.

Configurations:
  plain   the workload alone
  trace   `sentrace trace --probe-addr` with a separate `sentrace probe`
          (built-in policy)
  run     `sentrace run` (tracer and probe in one process)
  strace  `strace -f -qq --seccomp-bpf -o /dev/null -e trace=SET`, where SET
          is the syscall set sentrace traces for the built-in policy

Rounds run the configurations in turn (plain, trace, run, strace, plain, ...)
so that slow drifts of a shared machine hit every configuration alike. The
report gives the median, minimum and maximum of each cell, and the ratio of
medians against plain and against strace.

Every server binds to 127.0.0.1 only and is stopped before the harness exits.
"""

import argparse
import calendar
import contextlib
import json
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIGS = ["plain", "trace", "run", "strace"]
REPO = Path(__file__).resolve().parents[2]


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class Bench:
    """The shared state of one harness run: binaries, the probe, temp dirs."""

    def __init__(self, args):
        self.args = args
        self.sentrace = str(Path(args.sentrace).resolve())
        self.work = Path(tempfile.mkdtemp(prefix="sentrace-bench-"))
        os.chmod(self.work, 0o755)
        self.probe = None
        self.probe_port = None
        self.syscall_set = self.traced_syscalls()

    def traced_syscalls(self):
        output = subprocess.run(
            [self.sentrace, "rules", "syscalls"], check=True, capture_output=True, text=True
        ).stdout
        return output.strip()

    def start_probe(self):
        self.probe_port = free_port()
        alerts = self.work / "probe-alerts.jsonl"
        self.probe = subprocess.Popen(
            [self.sentrace, "probe", "--listen", f"127.0.0.1:{self.probe_port}",
             "--alerts", f"file:{alerts}"],
            stdout=subprocess.DEVNULL, stderr=open(self.work / "probe.log", "w"),
        )
        wait_for_port(self.probe_port, 20)

    def stop_probe(self):
        if self.probe:
            self.probe.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.probe.wait(10)
            if self.probe.poll() is None:
                self.probe.kill()

    def wrap(self, config, command, user=None):
        """Returns the argv that runs `command` in `config`, as `user` if given."""
        if config == "plain":
            wrapped = command
        elif config == "trace":
            wrapped = [self.sentrace, "trace", "--probe-addr", f"127.0.0.1:{self.probe_port}",
                       "--"] + command
        elif config == "run":
            wrapped = [self.sentrace, "run", "--alerts", f"file:{self.work}/run-alerts.jsonl",
                       "--"] + command
        elif config == "strace":
            # A `?` before a name makes strace skip syscalls it does not know
            # (Debian 12's strace 6.1 predates fchmodat2, for one).
            names = ",".join(f"?{name}" for name in self.syscall_set.split(","))
            wrapped = ["strace", "-f", "-qq", "--seccomp-bpf", "-o", "/dev/null",
                       "-e", f"trace={names}"] + command
        else:
            raise ValueError(f"unknown configuration {config!r}")
        if user:
            return ["runuser", "-u", user, "--"] + wrapped
        return wrapped

    def cleanup(self):
        self.stop_probe()
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)


# === workloads ===
#
# Each workload has setup(bench) once, then measure(bench, config) per round,
# returning (value, unit, higher_is_better).


class Postgres:
    """pgbench against a PostgreSQL server that runs under the configuration."""

    def __init__(self, name, pgbench_args):
        self.name = name
        self.pgbench_args = pgbench_args
        self.bin = Path("/usr/lib/postgresql/15/bin")

    def setup(self, bench):
        self.data = bench.work / "pgdata"
        self.sockets = bench.work / "pgsock"
        if not self.data.exists():
            self.sockets.mkdir()
            for path in (self.data.parent, self.sockets):
                shutil.chown(path, "postgres", "postgres")
            subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / "initdb"),
                            "-D", str(self.data), "-A", "trust", "-U", "postgres"],
                           check=True, capture_output=True)
            server = self.start(bench, "plain")
            try:
                subprocess.run(self.pgbench(["-i", "-s", str(bench.args.pg_scale), "-q"]),
                               check=True, capture_output=True)
            finally:
                self.stop(server)

    def pgbench(self, extra):
        return ["runuser", "-u", "postgres", "--", str(self.bin / "pgbench"), "-h", "127.0.0.1",
                "-p", str(self.port), "-U", "postgres"] + extra + ["postgres"]

    def start(self, bench, config):
        self.port = free_port()
        command = [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
                   "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.sockets}",
                   "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        server = subprocess.Popen(bench.wrap(config, command, user="postgres"),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready = subprocess.run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p",
                                    str(self.port)], capture_output=True)
            if ready.returncode == 0:
                return server
            if server.poll() is not None:
                raise RuntimeError(f"postgres under {config} exited with {server.returncode}")
            time.sleep(0.2)
        raise RuntimeError(f"postgres under {config} not ready after 60 s")

    def stop(self, server):
        # SIGINT is PostgreSQL's fast shutdown; sentrace and strace forward it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()

    def measure(self, bench, config):
        server = self.start(bench, config)
        try:
            result = subprocess.run(
                self.pgbench(self.pgbench_args + ["-c", "4", "-j", "2", "-T",
                                                  str(bench.args.duration)]),
                check=True, capture_output=True, text=True)
        finally:
            self.stop(server)
        match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", result.stdout)
        if not match:
            match = re.search(r"tps = ([0-9.]+)", result.stdout)
        if not match:
            raise RuntimeError(f"no tps in pgbench output: {result.stdout[-400:]}")
        return float(match.group(1)), "tps", True


class Redis:
    """redis-benchmark GET and SET against a Redis server under the configuration."""

    def __init__(self, name, keepalive):
        self.name = name
        self.keepalive = keepalive

    def setup(self, bench):
        pass

    def measure(self, bench, config):
        port = free_port()
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--daemonize", "no", "--dir", str(bench.work)]
        server = subprocess.Popen(bench.wrap(config, command), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for_port(port, 30)
            requests = bench.args.redis_requests
            result = subprocess.run(
                ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "50", "-n",
                 str(requests), "-t", "get,set", "-k", "1" if self.keepalive else "0", "--csv"],
                check=True, capture_output=True, text=True)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)
        rates = [float(row.split(",")[1].strip('"')) for row in result.stdout.splitlines()
                 if row.startswith('"GET"') or row.startswith('"SET"')]
        if len(rates) != 2:
            raise RuntimeError(f"unexpected redis-benchmark output: {result.stdout[-400:]}")
        return statistics.mean(rates), "requests/s", True


class Timed:
    """A command whose wall-clock time is measured under the configuration."""

    def __init__(self, name, prepare):
        self.name = name
        self.prepare = prepare

    def setup(self, bench):
        self.command, self.cwd, self.reset = self.prepare(bench)

    def measure(self, bench, config):
        if self.reset:
            self.reset()
        start = time.monotonic()
        subprocess.run(bench.wrap(config, self.command), cwd=self.cwd, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.monotonic() - start, "s", False


def prepare_exec_loop(bench):
    count = bench.args.exec_count
    script = f"i=0; while [ $i -lt {count} ]; do /bin/true; i=$((i+1)); done"
    return ["sh", "-c", script], None, None


OPEN_LOOP_C = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 100000;
    for (long i = 0; i < count; i++) {
        int fd = open("/etc/hostname", O_RDONLY);
        if (fd < 0) return 1;
        close(fd);
    }
    return 0;
}
"""


def prepare_open_loop(bench):
    source = bench.work / "open_loop.c"
    binary = bench.work / "open_loop"
    source.write_text(OPEN_LOOP_C)
    subprocess.run(["gcc", "-O2", "-o", str(binary), str(source)], check=True)
    return [str(binary), str(bench.args.open_count)], None, None


SYSCALL_LOOP_C = r"""
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 5000000;
    for (long i = 0; i < count; i++)
        syscall(SYS_getppid);
    return 0;
}
"""


def prepare_syscall_loop(bench):
    """A syscall that no rule traces, called in a loop: it measures what the
    seccomp filter costs every syscall of the workload."""
    source = bench.work / "syscall_loop.c"
    binary = bench.work / "syscall_loop"
    source.write_text(SYSCALL_LOOP_C)
    subprocess.run(["gcc", "-O2", "-o", str(binary), str(source)], check=True)
    return [str(binary), str(bench.args.syscall_count)], None, None


def prepare_build(bench):
    """Lua 5.4 from Debian's source package, built with `make -j2 linux`."""
    cache = Path(bench.args.cache) / "lua"
    tarballs = list(cache.glob("lua5.4_*.orig.tar.gz"))
    if not tarballs:
        fetch_lua_source(cache)
        tarballs = list(cache.glob("lua5.4_*.orig.tar.gz"))
    source = bench.work / "lua-src"
    source.mkdir(exist_ok=True)
    subprocess.run(["tar", "xzf", str(tarballs[0]), "-C", str(source), "--strip-components=1"],
                   check=True)

    def reset():
        subprocess.run(["make", "-s", "clean"], cwd=source, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    return ["make", "-s", "-j2", "linux"], source, reset


def fetch_lua_source(cache):
    cache.mkdir(parents=True, exist_ok=True)
    lists = cache / "lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    sources = cache / "src.sources"
    sources.write_text(
        "Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    # apt downloads and checks signatures as user _apt, which fails where
    # that user cannot write the temporary directory (a /tmp without the
    # sticky world-writable mode, as on the CI machine), so it stays root.
    options = ["-o", f"Dir::Etc::SourceList={sources}", "-o", "Dir::Etc::SourceParts=/dev/null",
               "-o", f"Dir::State::Lists={lists}", "-o", "APT::Sandbox::User=root"]
    subprocess.run(["apt-get", *options, "update", "-qq"], check=True)
    subprocess.run(["apt-get", *options, "source", "--download-only", "-qq", "lua5.4"],
                   cwd=cache, check=True)


WORKLOADS = {
    "pgbench-tpcb": lambda: Postgres("pgbench-tpcb", []),
    "pgbench-select": lambda: Postgres("pgbench-select", ["-S"]),
    "pgbench-churn": lambda: Postgres("pgbench-churn", ["-S", "-C"]),
    "redis": lambda: Redis("redis", keepalive=True),
    "redis-reconnect": lambda: Redis("redis-reconnect", keepalive=False),
    "exec-loop": lambda: Timed("exec-loop", prepare_exec_loop),
    "open-loop": lambda: Timed("open-loop", prepare_open_loop),
    "syscall-loop": lambda: Timed("syscall-loop", prepare_syscall_loop),
    "build": lambda: Timed("build", prepare_build),
}


# === memory and rule throughput ===


def peak_rss_kib(pid):
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def measure_tracer_rss(bench):
    """Peak RSS of `sentrace trace` while its workload runs cat 200 times."""
    command = bench.wrap("trace", ["sh", "-c", "for i in $(seq 200); do cat /etc/hostname; done"])
    tracer = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while tracer.poll() is None:
        peak = max(peak, peak_rss_kib(tracer.pid))
        time.sleep(0.01)
    return peak


def measure_probe_load(bench, sessions, events):
    """Peak RSS and events/s of a fresh probe fed by `sessions` simulated tracers."""
    port = free_port()
    probe = subprocess.Popen([bench.sentrace, "probe", "--listen", f"127.0.0.1:{port}",
                              "--alerts", f"file:{bench.work}/rss-alerts.jsonl"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, 20)
        load = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("sessions.py")), "--port", str(port),
             "--sessions", str(sessions), "--events", str(events)],
            capture_output=True, text=True, timeout=600)
        if load.returncode != 0:
            raise RuntimeError(f"session load failed: {load.stderr[-400:]}")
        return peak_rss_kib(probe.pid), json.loads(load.stdout)["events_per_second"]
    finally:
        probe.terminate()
        probe.wait(10)


WATCHED_OPEN_C = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long count = atol(argv[2]), pause_us = atol(argv[3]);
    struct timespec pause = {pause_us / 1000000, (pause_us % 1000000) * 1000};
    for (long i = 0; i < count; i++) {
        int fd = open(argv[1], O_RDONLY);
        if (fd < 0) return 1;
        close(fd);
        if (pause_us > 0) nanosleep(&pause, NULL);
    }
    return 0;
}
"""

# (name, opens, microseconds between opens)
LATENCY_PATTERNS = [("burst", 1000, 0), ("paced", 200, 10000)]


def parse_time(text):
    """Seconds since the epoch of an RFC 3339 UTC time with up to 9 decimals."""
    stamp, _, fraction = text.rstrip("Z").partition(".")
    whole = calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))
    return whole + (float(f"0.{fraction}") if fraction else 0.0)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure_alert_latency(bench):
    """Syscall-to-alert latency: alert time minus event time, per configuration.

    A program opens a watched file in a burst and then paced, under `trace`
    (separate probe) and `run`, with a policy whose one rule matches that
    file. Returns {config: {pattern: {p50_ms, p99_ms, alerts}}}.
    """
    source = bench.work / "watched_open.c"
    binary = bench.work / "watched_open"
    source.write_text(WATCHED_OPEN_C)
    subprocess.run(["gcc", "-O2", "-o", str(binary), str(source)], check=True)
    watched = bench.work / "watched"
    watched.write_text("x")
    policy = bench.work / "latency.policy"
    policy.write_text("rules:\n  - id: latency_watch\n"
                      f"    expression: open.file.path == \"{watched}\"\n")
    port = free_port()
    probe_alerts = bench.work / "latency-probe.jsonl"
    probe = subprocess.Popen([bench.sentrace, "probe", "--listen", f"127.0.0.1:{port}",
                              "--policy", str(policy), "--alerts", f"file:{probe_alerts}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {}
    try:
        wait_for_port(port, 20)
        for config in ("trace", "run"):
            results[config] = {}
            for name, count, pause in LATENCY_PATTERNS:
                command = [str(binary), str(watched), str(count), str(pause)]
                if config == "trace":
                    alerts = probe_alerts
                    alerts.write_text("")
                    argv = [bench.sentrace, "trace", "--probe-addr", f"127.0.0.1:{port}",
                            "--"] + command
                else:
                    alerts = bench.work / "latency-run.jsonl"
                    alerts.write_text("")
                    argv = [bench.sentrace, "run", "--policy", str(policy), "--alerts",
                            f"file:{alerts}", "--"] + command
                subprocess.run(argv, check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=300)
                # The probe writes its last alerts shortly after the tracer exits.
                deadline = time.monotonic() + 10
                lines = []
                while time.monotonic() < deadline:
                    lines = alerts.read_text().splitlines()
                    if len(lines) >= count:
                        break
                    time.sleep(0.1)
                delays = []
                for line in lines:
                    alert = json.loads(line)
                    delays.append(parse_time(alert["timestamp"])
                                  - parse_time(alert["event"]["timestamp"]))
                if not delays:
                    raise RuntimeError(f"latency {config} {name}: no alert arrived")
                results[config][name] = {
                    "p50_ms": round(percentile(delays, 0.50) * 1000, 3),
                    "p99_ms": round(percentile(delays, 0.99) * 1000, 3),
                    "alerts": len(delays), "opens": count}
                log(f"latency {config} {name}: {results[config][name]}")
    finally:
        probe.terminate()
        probe.wait(10)
    return results


def measure_rule_throughput(bench):
    """Events per second per core of rule evaluation, from the rules crate's benchmark.

    Returns the benchmark's result lines: one per policy set (the Datadog
    default policy with the built-in policy, then each alone).
    """
    seconds = "1" if bench.args.short else "3"
    result = subprocess.run(
        ["cargo", "run", "--quiet", "--release", "-p", "sentrace-rules", "--example", "bench",
         "--", str(REPO / "rules/benches/events.jsonl"), seconds],
        cwd=REPO, check=True, capture_output=True, text=True, timeout=1800)
    return [line for line in result.stdout.splitlines() if "events per CPU second" in line]


# === report ===


def summarize(samples, unit, higher_is_better):
    cells = {}
    for config, values in samples.items():
        if values:
            cells[config] = {"median": statistics.median(values), "min": min(values),
                             "max": max(values), "n": len(values), "unit": unit}
    for config, cell in cells.items():
        for base in ("plain", "strace"):
            if base in cells and cells[base]["median"] and config != base:
                ratio = cell["median"] / cells[base]["median"]
                # A ratio above 1 is always "better than the base" in throughput
                # terms: for times, invert so that 0.95 means 5 % slower.
                cell[f"vs_{base}"] = ratio if higher_is_better else 1 / ratio
    return cells


def print_table(results):
    print("| workload | config | median | min | max | n | vs plain | vs strace |")
    print("|---|---|---|---|---|---|---|---|")
    for workload, cells in results.items():
        for config in CONFIGS:
            cell = cells.get(config)
            if not cell:
                continue
            vs_plain = f"{cell['vs_plain']:.3f}" if "vs_plain" in cell else ""
            vs_strace = f"{cell['vs_strace']:.2f}" if "vs_strace" in cell else ""
            print(f"| {workload} | {config} | {cell['median']:.4g} {cell['unit']} | "
                  f"{cell['min']:.4g} | {cell['max']:.4g} | {cell['n']} | {vs_plain} | "
                  f"{vs_strace} |")


def machine_description():
    return {
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "cpu": next((line.split(":", 1)[1].strip() for line in
                     Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name")), "unknown"),
        "strace": subprocess.run(["strace", "-V"], capture_output=True, text=True)
        .stdout.splitlines()[0],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentrace", default=str(REPO / "target/release/sentrace"))
    parser.add_argument("--rounds", type=int, default=5, help="rounds per workload")
    parser.add_argument("--short", action="store_true",
                        help="one short round per workload (CI smoke run)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help="comma-separated subset of: " + ", ".join(WORKLOADS))
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--duration", type=int, default=20, help="pgbench seconds per run")
    parser.add_argument("--pg-scale", type=int, default=10)
    parser.add_argument("--redis-requests", type=int, default=200000)
    parser.add_argument("--exec-count", type=int, default=500)
    parser.add_argument("--open-count", type=int, default=100000)
    parser.add_argument("--syscall-count", type=int, default=5000000)
    parser.add_argument("--sessions", default="1,10,100,1000",
                        help="simulated tracer counts for probe RSS and throughput")
    parser.add_argument("--probe-events", type=int, default=200000,
                        help="events sent to the probe in all, split across the sessions")
    parser.add_argument("--cache", default=str(REPO / "target/bench-cache"))
    parser.add_argument("--json", help="write results as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if args.short:
        args.rounds, args.duration, args.pg_scale = 1, 3, 1
        args.redis_requests, args.exec_count, args.open_count = 20000, 50, 10000
        args.syscall_count = 500000
        args.sessions, args.probe_events = "1,100", 5000

    if os.geteuid() != 0:
        sys.exit("bench: run as root (PostgreSQL runs as user postgres through runuser)")
    pwd.getpwnam("postgres")

    bench = Bench(args)
    configs = args.configs.split(",")
    results = {}
    try:
        bench.start_probe()
        for name in args.workloads.split(","):
            workload = WORKLOADS[name]()
            log(f"{name}: setup")
            workload.setup(bench)
            samples = {config: [] for config in configs}
            unit, higher = "", True
            for round_index in range(args.rounds):
                for config in configs:
                    value, unit, higher = workload.measure(bench, config)
                    samples[config].append(value)
                    log(f"{name} round {round_index + 1} {config}: {value:.4g} {unit}")
            results[name] = summarize(samples, unit, higher)
        memory = {"tracer_peak_rss_kib": measure_tracer_rss(bench)}
        throughput = {}
        for sessions in (int(count) for count in args.sessions.split(",")):
            events = max(50, args.probe_events // sessions)
            rss, rate = measure_probe_load(bench, sessions, events)
            memory[f"probe_peak_rss_kib_{sessions}_sessions"] = rss
            throughput[f"probe_events_per_second_{sessions}_sessions"] = round(rate)
        latency = measure_alert_latency(bench)
        rules = measure_rule_throughput(bench)
    finally:
        bench.cleanup()

    print_table(results)
    print()
    for key, value in memory.items():
        print(f"{key}: {value} KiB ({value / 1024:.1f} MiB)")
    for key, value in throughput.items():
        print(f"{key}: {value}")
    for config, patterns in latency.items():
        for name, figures in patterns.items():
            print(f"alert latency {config} {name}: p50 {figures['p50_ms']} ms, "
                  f"p99 {figures['p99_ms']} ms ({figures['alerts']} alerts of "
                  f"{figures['opens']} opens)")
    for line in rules:
        print(f"rule evaluation: {line}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"machine": machine_description(), "args": vars(args), "results": results,
             "memory": memory, "throughput": throughput, "latency": latency, "rules": rules, "syscalls": bench.syscall_set}, indent=2))


if __name__ == "__main__":
    main()
