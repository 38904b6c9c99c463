#!/usr/bin/env python3
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load figures for the emulated fleet (prints figures; asserts nothing about timing).

    .venv/bin/python benchmarks/emulator_load.py [--fleet emulator/fleets/large.yml] [--startup-count 1000]
        [--clients 32] [--requests 4000] [--seconds 20] [--access-log]

1. Startup: time from `luna-emulator serve` to DIR/ready for the large fleet (and, with
   --startup-count N, for an N-HSM fleet generated on the fly).
2. GET /api/lunasa/hsms/{id}/policies and PUT /api/lunasa/hsms/{id}/policies/16 from
   --clients concurrent clients (threads, one keep-alive HTTPS connection each, spread over
   the appliances), bounded by --requests per phase and --seconds per phase:
   requests/s, p50 and p99 latency.
"""

import argparse
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import httpx
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "emulator", "fleets"))

import generate_large  # noqa: E402


def emulator_exe():
    return shutil.which("luna-emulator", path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])


def start(fleet, state_dir, access_log):
    args = [emulator_exe(), "serve", "--fleet", fleet, "--state-dir", state_dir]
    if not access_log:
        args.append("--no-access-log")
    log = open(state_dir + ".log", "wb")
    began = time.monotonic()
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    ready = os.path.join(state_dir, "ready")
    while not os.path.exists(ready):
        if proc.poll() is not None:
            raise SystemExit("luna-emulator exited (%s); see %s.log" % (proc.returncode, state_dir))
        if time.monotonic() - began > 300:
            proc.kill()
            raise SystemExit("luna-emulator not ready after 300s")
        time.sleep(0.01)
    return proc, time.monotonic() - began


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def cpu_seconds(pid):
    """User + system CPU time of a process (Linux /proc), to tell server cost from client cost."""
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def percentile(values, pct):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(pct / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def run_phase(name, hosts, ctx, clients, requests, seconds, make_request, prepare=None, server_pid=None):
    """clients threads share a request budget and a deadline; -> figures dict."""
    latencies = [[] for _ in range(clients)]
    failures = [0] * clients
    budget = [requests]
    lock = threading.Lock()
    deadline = [0.0]
    barrier = threading.Barrier(clients + 1)

    def worker(index):
        host = hosts[index % len(hosts)]
        with httpx.Client(base_url=host["luna_url"], verify=ctx, auth=("admin", host["luna_password"]),
                          timeout=30) as client:
            if prepare:
                prepare(client, host)
            client.get("/api/lunasa/hsms")  # connect (TLS) before the clock starts
            barrier.wait()
            n = 0
            while time.monotonic() < deadline[0]:
                with lock:
                    if budget[0] <= 0:
                        break
                    budget[0] -= 1
                began = time.perf_counter()
                ok = make_request(client, host, n)
                latencies[index].append(time.perf_counter() - began)
                if not ok:
                    failures[index] += 1
                n += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.monotonic() + 3600
    barrier.wait()
    began = time.monotonic()
    cpu_before = cpu_seconds(server_pid) if server_pid else float("nan")
    deadline[0] = began + seconds
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    flat = [x for per in latencies for x in per]
    server_cpu = cpu_seconds(server_pid) - cpu_before if server_pid else float("nan")
    return {"phase": name, "requests": len(flat), "failures": sum(failures), "seconds": elapsed,
            "server_cpu_ms": server_cpu * 1000 / len(flat) if flat else float("nan"),
            "rps": len(flat) / elapsed if elapsed else 0.0,
            "p50_ms": percentile(flat, 50) * 1000, "p99_ms": percentile(flat, 99) * 1000}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", default=os.path.join(ROOT, "emulator", "fleets", "large.yml"))
    parser.add_argument("--startup-count", type=int, default=1000,
                        help="also time the startup of a generated fleet of this many HSMs (0: skip)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=4000, help="at most this many requests per phase")
    parser.add_argument("--seconds", type=float, default=20.0, help="at most this long per phase")
    parser.add_argument("--access-log", action="store_true", help="run the emulator with its access log on")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="emulator-load-")
    try:
        figures = []
        if args.startup_count:
            fleet_n = os.path.join(work, "fleet_%d.yml" % args.startup_count)
            generate_large.write(fleet_n, args.startup_count)
            proc, first = start(fleet_n, os.path.join(work, "big"), args.access_log)
            stop(proc)
            proc, again = start(fleet_n, os.path.join(work, "big"), args.access_log)
            stop(proc)
            print("startup, %d HSMs: first start (builds state, certificates) %.2fs; restart %.2fs"
                  % (args.startup_count, first, again))

        state = os.path.join(work, "large")
        proc, took = start(args.fleet, state, args.access_log)
        try:
            with open(args.fleet, encoding="utf-8") as handle:
                count = len(yaml.safe_load(handle)["hsms"])
            print("startup, %s (%d HSMs): %.2fs until ready" % (os.path.basename(args.fleet), count, took))
            with open(os.path.join(state, "inventory.yml"), encoding="utf-8") as handle:
                inventory = yaml.safe_load(handle)
            hosts = list(inventory["all"]["children"]["luna_appliances"]["hosts"].values())
            ctx = ssl.create_default_context(cafile=os.path.join(state, "ca.pem"))

            def get_policies(client, host, n):
                resp = client.get("/api/lunasa/hsms/%s/policies" % host["luna_serial"])
                return resp.status_code == 200

            figures.append(run_phase("GET policies", hosts, ctx, args.clients, args.requests, args.seconds,
                                     get_policies, server_pid=proc.pid))

            def so_login(client, host):
                resp = client.post("/api/lunasa/hsms/%s/login" % host["luna_serial"],
                                   json={"ped": "0", "password": host["luna_so_password"], "role": "so"})
                assert resp.status_code == 204, resp.text

            def put_policy(client, host, n):
                resp = client.put("/api/lunasa/hsms/%s/policies/16" % host["luna_serial"], json={"value": n % 2})
                return resp.status_code == 204

            # Key Export HSMs lack capability 16 (network replication): they would refuse the change.
            writable = []
            for host in hosts:
                with httpx.Client(base_url=host["luna_url"], verify=ctx, auth=("admin", host["luna_password"])) as c:
                    caps = c.get("/api/lunasa/hsms/%s/capabilities" % host["luna_serial"]).json()["capabilities"]
                if any(cap["code"] == 16 and cap["value"] == 1 for cap in caps):
                    writable.append(host)
            figures.append(run_phase("PUT policy 16", writable, ctx, args.clients, args.requests, args.seconds,
                                     put_policy, so_login, server_pid=proc.pid))
        finally:
            stop(proc)
        print("%d concurrent clients, loopback HTTPS, access log %s:" % (args.clients, "on" if args.access_log else "off"))
        for f in figures:
            print("  %-14s %6d requests in %5.1fs: %7.0f req/s  p50 %6.1f ms  p99 %6.1f ms  failures %d  "
                  "server CPU %.2f ms/request"
                  % (f["phase"], f["requests"], f["seconds"], f["rps"], f["p50_ms"], f["p99_ms"], f["failures"],
                     f["server_cpu_ms"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
