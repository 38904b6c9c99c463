#!/usr/bin/env python3
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one appliance request costs the controller: a kept-alive connection against one per request.

    .venv/bin/python benchmarks/client_transport.py [--requests 200]

Starts the demo fleet (emulator/fleets/demo.yml) in a temp dir and, against one appliance over
HTTPS with its CA, sends the same GET through luna_client.http_open twice: with the client's
kept-alive Connections, and without (one TLS connection per request, ansible-core's open_url,
which is what the client did before). Then one whole HSM read (gather_hsm_facts) each way and
the import time of the client module. Prints CPU and wall per request; asserts nothing.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, os.path.join(REPO, ".build", "collections"))

from conftest import DEMO_FLEET, start_emulator  # noqa: E402  (the tests' emulator helper)
from ansible_collections.hsmops.luna.plugins.module_utils import luna_client  # noqa: E402
from ansible_collections.hsmops.luna.plugins.module_utils.luna_facts import gather_hsm_facts  # noqa: E402


def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(count, func):
    started_cpu, started = cpu(), time.monotonic()
    for _ in range(count):
        func()
    return (cpu() - started_cpu) / count * 1000.0, (time.monotonic() - started) / count * 1000.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="hsmops-transport-bench-")
    emu = start_emulator(DEMO_FLEET, os.path.join(work, "state"))
    try:
        with open(emu.inventory) as handle:
            hosts = yaml.safe_load(handle)["all"]["children"]["luna_appliances"]["hosts"]
        host = hosts[sorted(hosts)[0]]
        url, ca_path, password = host["luna_url"], host["luna_ca_path"], host["luna_password"]
        auth = dict(url_username="admin", url_password=password, force_basic_auth=True)
        kept = luna_client.Connections(ca_path=ca_path)
        rows = [
            ("GET /api/lunasa/hsms, kept-alive connection",
             timed(args.requests, lambda: luna_client.http_open(url + "/api/lunasa/hsms", ca_path=ca_path,
                                                                 connections=kept, **auth).read())),
            ("GET /api/lunasa/hsms, new TLS connection (open_url)",
             timed(args.requests, lambda: luna_client.http_open(url + "/api/lunasa/hsms", ca_path=ca_path,
                                                                 connections=None, **auth).read())),
        ]
        kept.close()

        def read_kept():
            with luna_client.LunaClient(url, password=password, ca_path=ca_path) as client:
                gather_hsm_facts(client)
                return client.requests

        def read_per_request():
            real = luna_client.http_open
            luna_client.http_open = lambda u, connections=None, **kw: real(u, connections=None, **kw)
            try:
                return read_kept()
            finally:
                luna_client.http_open = real

        reads = max(1, args.requests // 10)
        per_read = read_kept()
        rows.append(("one HSM read (%d requests), kept-alive" % per_read, timed(reads, read_kept)))
        rows.append(("one HSM read (%d requests), connection per request" % per_read, timed(reads, read_per_request)))
    finally:
        emu.stop()

    print("appliance: %s (emulated, HTTPS, loopback); %d requests / %d reads each way" % (url, args.requests, reads))
    print("%-58s %12s %12s" % ("", "CPU (ms)", "wall (ms)"))
    for name, (cpu_ms, wall_ms) in rows:
        print("%-58s %12.2f %12.2f" % (name, cpu_ms, wall_ms))
    for module in ("ansible.module_utils.urls", "ansible_collections.hsmops.luna.plugins.module_utils.luna_client"):
        code = ("import sys, time; sys.path.insert(0, %r); import ansible.module_utils.basic; t = time.process_time(); "
                "import %s; print(round((time.process_time() - t) * 1000, 1))" % (os.path.join(REPO, ".build", "collections"),
                                                                                 module))
        spent = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        print("import %-51s %12s" % (module, spent))
    print("CPU: this process only (the emulated appliance's own TLS work is not counted)")


if __name__ == "__main__":
    main()
