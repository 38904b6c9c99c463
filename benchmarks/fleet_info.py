#!/usr/bin/env python3
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How long gathering a fleet's facts takes: one fleet_info task vs an hsm_info play per host.

    .venv/bin/python benchmarks/fleet_info.py [--sizes 100 1000] [--forks 10] [--workers 16]
                                              [--per-host-limit 600]

For each size it generates a fleet file, starts the emulated fleet (same machine), then times
(wall clock, whole ansible-playbook runs):
  A. one play, one task: hsmops.luna.fleet_info over every appliance (thread pool, --workers);
  B. one play over every inventory host with hsmops.luna.hsm_info, forks --forks.
B runs only when the estimate from the previous size says it finishes within
--per-host-limit seconds; otherwise its time is extrapolated linearly (and marked so).
Prints a table; never asserts anything about time.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from conftest import ansible_env, start_emulator  # noqa: E402  (the tests' emulator fixture, reused)

VENV_BIN = os.path.dirname(sys.executable)


def make_fleet(size, path):
    hsms = []
    for index in range(size):
        serial = str(500000 + index)
        hsms.append({
            "serial": serial, "label": "bench_%d" % index, "model": "Luna K6", "firmware": "6.22.0", "auth": "ped",
            "cloning": True, "sff_capability": index % 3 == 0, "sff_policy": False,
            "cloning_domain": "dom_%d" % (index // 10), "sim_secret": "sim_%d" % (index // 10),
            "partitions": [{"label": "p%d" % index, "objects": [
                {"label": "k1", "class": "secret_key", "fingerprint": "f%d-1" % index},
                {"label": "k2", "class": "private_key", "fingerprint": "f%d-2" % index}]}],
        })
    fleet = {"fleet": {"name": "bench%d" % size},
             "appliance": {"users": {"admin": "bench-admin-pw", "monitor": "bench-monitor-pw"}},
             "so_password": "bench-so-pw", "hsms": hsms}
    with open(path, "w") as handle:
        yaml.safe_dump(fleet, handle)


def run(cmd, cwd, env):
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit("command failed (%s): %s\n%s" % (proc.returncode, " ".join(cmd), proc.stdout[-3000:]))
    return elapsed, proc.stdout


# ansible.builtin filters only: [{name, url}] from the emulator's inventory.
FLEET_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Facts of every appliance in one task
      hsmops.luna.fleet_info:
        appliances: "{{ dict(hosts | zip(hosts | map('extract', hostvars, 'luna_url')))
                        | dict2items(key_name='name', value_name='url') }}"
        password: "{{ hostvars[groups['luna_appliances'][0]].luna_password }}"
        ca_path: "{{ hostvars[groups['luna_appliances'][0]].luna_ca_path }}"
        workers: %(workers)d
        fail_on_unreachable: true
      vars:
        hosts: "{{ groups['luna_appliances'] }}"
      register: fleet
    - ansible.builtin.assert:
        that: (fleet.hsms | length) == %(size)d
"""

HOST_PLAY = """
- hosts: luna_appliances
  gather_facts: false
  tasks:
    - name: Facts of this appliance
      hsmops.luna.hsm_info:
        url: "{{ luna_url }}"
        password: "{{ luna_password }}"
        ca_path: "{{ luna_ca_path }}"
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--per-host-limit", type=float, default=600.0)
    opts = parser.parse_args()

    rows = []
    per_host_rate = None  # seconds per host of the per-host play, from the last measured size
    for size in opts.sizes:
        work = tempfile.mkdtemp(prefix="luna-bench-%d-" % size)
        fleet = os.path.join(work, "fleet.yml")
        make_fleet(size, fleet)
        started = time.monotonic()
        emu = start_emulator(fleet, os.path.join(work, "state"), timeout=600)
        startup = time.monotonic() - started
        env = ansible_env({"ANSIBLE_FORKS": str(opts.forks), "ANSIBLE_HOST_KEY_CHECKING": "false"})
        try:
            play = os.path.join(work, "fleet.yml.play")
            with open(play, "w") as handle:
                handle.write(FLEET_PLAY % {"workers": opts.workers, "size": size})
            fleet_s, _ = run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", "localhost,", "-i", emu.inventory,
                              "-c", "local", play], work, env)
            estimate = per_host_rate * size if per_host_rate else None
            if estimate is None or estimate <= opts.per_host_limit:
                play = os.path.join(work, "host.yml.play")
                with open(play, "w") as handle:
                    handle.write(HOST_PLAY)
                host_s, _ = run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", emu.inventory, "-f",
                                 str(opts.forks), play], work, env)
                per_host_rate = host_s / size
                host_note = "measured"
            else:
                host_s = estimate
                host_note = "extrapolated from %d-host run (%.3f s/host)" % (rows[-1][0], per_host_rate)
            rows.append((size, startup, fleet_s, host_s, host_note))
        finally:
            emu.stop()
            shutil.rmtree(work, ignore_errors=True)

    print()
    print("fleet_info (1 task, %d workers) vs hsm_info per host (forks %d), same machine, wall clock" %
          (opts.workers, opts.forks))
    print("%6s | %12s | %16s | %18s | %7s | %s" % ("HSMs", "emulator up", "fleet_info task", "per-host hsm_info",
                                                  "speedup", "per-host figure"))
    print("-" * 100)
    for size, startup, fleet_s, host_s, note in rows:
        print("%6d | %10.1f s | %14.1f s | %16.1f s | %6.1fx | %s" % (size, startup, fleet_s, host_s,
                                                                     host_s / fleet_s, note))


if __name__ == "__main__":
    main()
