#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How long sff_change_plan takes on large fleets, and what the same decision costs in plain Jinja.

Run from the repository root after `make venv collection`:

    .venv/bin/python benchmarks/change_plan.py [--sizes 1000,10000,100000] [--no-playbooks]

For each fleet size it generates a seeded, realistic fleet (HA groups of 2..8, shared cloning
domains, a mix of firmware, authentication, cloning and SFF states, 1-3 partitions with a few
replicated objects per HSM) and prints:

- engine: sff_change_plan called from Python, best of 3, for a safe rollout (whole capable HA
  groups: every check, waves computed) and for the same targets plus ~1% mistakes (refused);
- playbooks (real ansible-playbook, localhost, the fleet in a JSON vars file; best of 2 up to
  10,000 HSMs for the first two, one run otherwise):
  loading the vars alone, the sff_change_plan filter, and the same decision written as a user
  would without this collection (firmware via the `version` test, group consistency with
  selectattr/map loops). The plain-Jinja version leaves out the key-loss check, so it does less
  than the filter; both must refuse the same HSMs for the other reasons ("agree"). Above 10,000
  HSMs each playbook has a 2-minute budget and is skipped, with the reason printed, when its
  10,000-HSM run shows it cannot fit.

Figures only: nothing here asserts a time.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
COLLECTIONS = os.path.join(REPO, ".build", "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.hsmops.luna.plugins.module_utils.sff_plan import sff_change_plan  # noqa: E402
from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import sff_status  # noqa: E402

NEW_FIRMWARE = ["6.21.0", "6.22.0", "6.22.0", "6.24.1"]
OLD_FIRMWARE = ["6.0.8", "6.2.1", "6.3.0", "6.10.9", "6.20.99"]
PLAYBOOK_BUDGET_100K = 120.0  # seconds: the plain-Jinja run at 100,000 HSMs only if it fits

# ---------------------------------------------------------------------------------- fleets


def generate_fleet(size, seed=20260101):
    """(hsms, ha_groups), seeded: the same size always gives the same fleet."""
    rnd = random.Random(seed + size)
    hsms, groups = [], []
    serial = 100000
    group_no = 0
    while len(hsms) < size:
        members = rnd.randint(2, 8) if rnd.random() < 0.85 else 1
        members = min(members, size - len(hsms))
        group_no += 1
        domain = "dom_%d" % (group_no // 3)  # about three HA groups (or lone HSMs) per cloning domain
        firmware = rnd.choice(NEW_FIRMWARE) if rnd.random() < 0.75 else rnd.choice(OLD_FIRMWARE)
        auth = "ped" if rnd.random() < 0.92 else "password"
        group_active = firmware in NEW_FIRMWARE and auth == "ped" and rnd.random() < 0.08
        # Replicas: every member of an HA group holds the same objects.
        layout = []
        for p in range(rnd.randint(1, 3)):
            layout.append(["g%d-p%d-k%d" % (group_no, p, k) for k in range(rnd.randint(1, 4))])
        names = []
        for _ in range(members):
            serial += 1
            fw = firmware if rnd.random() < 0.95 else rnd.choice(NEW_FIRMWARE + OLD_FIRMWARE)
            cloning = rnd.random() < 0.97
            active = group_active and cloning and fw in NEW_FIRMWARE
            cuf_only = not active and fw in NEW_FIRMWARE and rnd.random() < 0.05
            partitions = []
            for p, fingerprints in enumerate(layout):
                objects = [{"label": fp.rsplit("-", 1)[1], "class": "secret_key" if i % 2 else "private_key",
                            "fingerprint": fp} for i, fp in enumerate(fingerprints)]
                if members > 1 and rnd.random() < 0.02:
                    objects = objects[:-1]  # a replica that has not caught up yet
                partitions.append({"label": "part%d" % p,
                                   "policies": {"private_key_cloning": True, "secret_key_cloning": True,
                                                "high_availability": members > 1},
                                   "objects": objects})
            hsms.append({
                "serial": str(serial), "label": "hsm_%d" % serial, "model": "Luna K6", "firmware": fw, "auth": auth,
                "cloning": cloning, "sff_capability": active or cuf_only, "sff_policy": active,
                "cloning_domain": domain, "sim_secret": "sim_%s" % domain, "partitions": partitions,
            })
            names.append(str(serial))
        if members > 1:
            groups.append({"name": "ha_%d" % group_no, "members": names})
    return hsms, groups


def safe_targets(hsms, groups):
    """Whole HA groups whose members can all get SFF and none has it yet, minus any group the
    plan still refuses (e.g. a replica lagging behind): the rollout an operator would run."""
    status = {h["serial"]: sff_status(h) for h in hsms}
    chosen = [g for g in groups
              if all(status[m]["sff_capable"] and not status[m]["sff_active"] for m in g["members"])]
    while True:
        targets = [m for g in chosen for m in g["members"]]
        plan = sff_change_plan(hsms, targets, groups)
        if plan["safe"]:
            return targets
        refused = {r["serial"] for r in plan["refusals"]}
        chosen = [g for g in chosen if not refused.intersection(g["members"])]


def with_mistakes(hsms, groups, targets, seed):
    """The safe targets plus ~1% mistakes: lone HSMs, single members of other groups, unknown serials."""
    rnd = random.Random(seed)
    in_groups = {m for g in groups for m in g["members"]}
    chosen = set(targets)
    lone = [h["serial"] for h in hsms if h["serial"] not in in_groups]
    others = [g for g in groups if not chosen.intersection(g["members"])]
    extra = max(3, len(hsms) // 100)
    mistakes = rnd.sample(lone, min(len(lone), extra // 3))
    mistakes += [rnd.choice(g["members"]) for g in rnd.sample(others, min(len(others), extra // 3))]
    mistakes += ["9%09d" % i for i in range(max(1, extra // 10))]
    return list(targets) + mistakes


# ---------------------------------------------------------------------------------- timing


def best_of(runs, func):
    """(best wall seconds, best CPU seconds of this process, result). CPU time is printed too
    because wall time on a shared machine also counts other processes' turns."""
    wall = cpu = result = None
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = func()
        elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
        wall = elapsed if wall is None else min(wall, elapsed)
        cpu = elapsed_cpu if cpu is None else min(cpu, elapsed_cpu)
    return wall, cpu, result


PLAYBOOK_HEAD = """---
- name: {name}
  hosts: localhost
  connection: local
  gather_facts: false
  vars_files:
    - fleet.json
  tasks:
"""

BASELINE = PLAYBOOK_HEAD + """
    - name: Write nothing but the result file
      ansible.builtin.copy:
        content: "{{{{ {{'hsms': fleet | length}} | to_json }}}}"
        dest: "{out}"
        mode: "0600"
"""

WITH_FILTER = PLAYBOOK_HEAD + """
    - name: Plan with the collection
      ansible.builtin.set_fact:
        plan: "{{{{ fleet | hsmops.luna.sff_change_plan(targets=targets, ha_groups=ha_groups) }}}}"

    - name: Write the result
      ansible.builtin.copy:
        content: >-
          {{{{ {{'refused': plan.refusals | rejectattr('code', 'eq', 'KEYS_WOULD_BE_LOST')
                                          | map(attribute='serial') | unique | sort,
                'safe': plan.safe}} | to_json }}}}
        dest: "{out}"
        mode: "0600"
"""

# The same decision as a user would write it without the collection.
PLAIN_JINJA = PLAYBOOK_HEAD + """
    - name: Targets that are not in the fleet
      ansible.builtin.set_fact:
        unknown: "{{{{ targets | difference(fleet | map(attribute='serial')) }}}}"

    - name: Targets that cannot get the capability (firmware, Key Export, password)
      ansible.builtin.set_fact:
        refused_capability: >-
          {{{{ (fleet | selectattr('serial', 'in', targets) | selectattr('firmware', 'version', '6.21.0', '<')
                    | map(attribute='serial') | list)
            + (fleet | selectattr('serial', 'in', targets) | rejectattr('cloning') | map(attribute='serial') | list)
            + (fleet | selectattr('serial', 'in', targets) | rejectattr('auth', 'eq', 'ped')
                    | map(attribute='serial') | list) }}}}
        active_now: >-
          {{{{ fleet | selectattr('firmware', 'version', '6.21.0', '>=') | selectattr('sff_capability')
                    | selectattr('sff_policy') | map(attribute='serial') | list }}}}

    - name: SFF state of every HSM after the change
      ansible.builtin.set_fact:
        active_after: "{{{{ (active_now + (targets | difference(refused_capability) | difference(unknown))) | unique }}}}"

    # A template with statements renders to a string: pass the list on as JSON.
    - name: HA groups that would end mixed
      ansible.builtin.set_fact:
        diverging: >-
          {{% set ns = namespace(out=[]) %}}
          {{% for group in ha_groups %}}
          {{%   set on = group.members | select('in', active_after) | list %}}
          {{%   if group.members | select('in', targets) | list | length > 0
                 and on | length > 0 and on | length < group.members | length %}}
          {{%     set ns.out = ns.out + (group.members | reject('in', active_after) | list) %}}
          {{%   endif %}}
          {{% endfor %}}
          {{{{ ns.out | to_json }}}}

    - name: Write the result
      ansible.builtin.copy:
        content: >-
          {{{{ {{'refused': (unknown + refused_capability + diverging | from_json) | unique | sort,
                'safe': (unknown + refused_capability + diverging | from_json) | length == 0}} | to_json }}}}
        dest: "{out}"
        mode: "0600"
"""


def run_playbook(workdir, name, text, timeout):
    """(seconds, result dict) or (None, reason)."""
    out = os.path.join(workdir, name + ".out.json")
    path = os.path.join(workdir, name + ".yml")
    with open(path, "w") as handle:
        handle.write(text.format(name=name, out=out))
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS, "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "ANSIBLE_NOCOLOR": "1",
    })
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), path]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "did not finish within %d s" % timeout
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        return None, "failed (rc %d): %s" % (done.returncode, (done.stdout + done.stderr)[-400:])
    with open(out) as handle:
        return elapsed, json.load(handle)


def min_time(times):
    times = [t for t in times if t is not None]
    return min(times) if times else None


# ---------------------------------------------------------------------------------- main


def fmt(value, pattern="%.3f"):
    return "-" if value is None else pattern % value


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--no-playbooks", action="store_true", help="time the engine only")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if not os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections", "hsmops", "luna")):
        sys.exit("run `make collection` first: %s/ansible_collections/hsmops/luna is missing" % COLLECTIONS)

    rows, notes = [], []
    previous = {}  # size -> playbook times, to skip what cannot fit the budget
    for size in sizes:
        hsms, groups = generate_fleet(size)
        targets = safe_targets(hsms, groups)
        mistaken = with_mistakes(hsms, groups, targets, seed=size)
        t_safe, cpu_safe, plan = best_of(3, lambda: sff_change_plan(hsms, targets, groups))
        t_bad, _, bad_plan = best_of(3, lambda: sff_change_plan(hsms, mistaken, groups))
        assert plan["safe"] and not bad_plan["safe"]
        row = {"size": size, "groups": len(groups), "targets": len(targets), "waves": len(plan["waves"]),
               "t_safe": t_safe, "cpu_safe": cpu_safe, "t_bad": t_bad, "refusals": len(bad_plan["refusals"]),
               "base": None, "filter": None, "jinja": None, "agree": "-"}
        rows.append(row)
        if args.no_playbooks:
            continue
        workdir = tempfile.mkdtemp(prefix="hsmops-bench-")
        try:
            with open(os.path.join(workdir, "fleet.json"), "w") as handle:
                json.dump({"fleet": hsms, "ha_groups": groups, "targets": mistaken}, handle)
            # Start-up dominates the small runs and the machine may be shared: best of 2 up to 10,000.
            # Beyond 10,000 HSMs every playbook gets the 2-minute budget, and is skipped when the
            # 10,000-HSM run of the same playbook already shows it cannot fit (each grows at least linearly).
            repeat = 2 if size <= 10000 else 1
            results = {}
            for key, name, text in (("base", "baseline", BASELINE), ("filter", "with_filter", WITH_FILTER),
                                    ("jinja", "plain_jinja", PLAIN_JINJA)):
                budget = 1800
                if size > 10000:
                    budget = PLAYBOOK_BUDGET_100K
                    at_10k = previous.get(10000, {}).get(key)
                    if at_10k is not None and at_10k * size / 10000 > budget:
                        notes.append("%s HSMs: %s playbook skipped: it took %.0f s at 10,000 HSMs and grows at least "
                                     "linearly, so it would need over %.0f s, beyond the %.0f s budget"
                                     % ("{:,}".format(size), name, at_10k, at_10k * size / 10000, budget))
                        continue
                runs = [run_playbook(workdir, name, text, timeout=budget) for _ in range(1 if key == "jinja" else repeat)]
                row[key] = min_time(r[0] for r in runs)
                if row[key] is None:
                    notes.append("%s HSMs: %s playbook %s" % ("{:,}".format(size), name, runs[-1][1]))
                else:
                    results[key] = runs[-1][1]
            previous[size] = {k: row[k] for k in ("base", "filter", "jinja")}
            if "filter" in results and "jinja" in results:
                row["agree"] = "yes" if results["jinja"]["refused"] == results["filter"]["refused"] else "NO"
            sys.stderr.write("measured %s HSMs: %r\n" % ("{:,}".format(size), row))
            sys.stderr.flush()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print("sff_change_plan benchmark (Python %s, %d CPU, load average %.1f at the end)"
          % (sys.version.split()[0], os.cpu_count() or 0, load))
    print("engine: best of 3, called from Python. playbooks: ansible-playbook wall time incl. start-up and loading the"
          " fleet (load only and filter: best of 2 up to 10,000 HSMs; plain Jinja: one run); 'load only' runs the same"
          " play without deciding anything.")
    print()
    header = ("HSMs", "HA groups", "targets", "waves", "engine safe s", "us/HSM", "CPU s", "CPU us/HSM",
              "engine +1% mistakes s",
              "refusals", "playbook load only s", "playbook filter s", "playbook plain Jinja s",
              "Jinja/filter", "Jinja-filter net ratio", "agree")
    table = [header]
    for r in rows:
        ratio = net = None
        if r["jinja"] is not None and r["filter"] is not None:
            ratio = r["jinja"] / r["filter"]
            if r["base"] is not None and r["filter"] - r["base"] > 0:
                net = (r["jinja"] - r["base"]) / (r["filter"] - r["base"])
        table.append((
            "{:,}".format(r["size"]), "{:,}".format(r["groups"]), "{:,}".format(r["targets"]), str(r["waves"]),
            fmt(r["t_safe"]), fmt(r["t_safe"] / r["size"] * 1e6, "%.1f"), fmt(r["cpu_safe"]),
            fmt(r["cpu_safe"] / r["size"] * 1e6, "%.1f"), fmt(r["t_bad"]), "{:,}".format(r["refusals"]),
            fmt(r["base"], "%.1f"), fmt(r["filter"], "%.1f"), fmt(r["jinja"], "%.1f"),
            fmt(ratio, "%.1fx"), fmt(net, "%.0fx"), r["agree"],
        ))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for index, row in enumerate(table):
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths)))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    if len(rows) > 1:
        print()
        base = rows[0]
        for r in rows[1:]:
            print("growth %s -> %s HSMs: x%.1f size, x%.1f engine wall time, x%.1f engine CPU time (safe plan)"
                  % ("{:,}".format(base["size"]), "{:,}".format(r["size"]), r["size"] / base["size"],
                     r["t_safe"] / base["t_safe"], r["cpu_safe"] / base["cpu_safe"]))
    print()
    print("'net ratio' subtracts the load-only run from both playbooks. The plain-Jinja play does not check for keys the")
    print("CUF would wipe (KEYS_WOULD_BE_LOST); 'agree' compares the HSMs both refuse for the other reasons.")
    for note in notes:
        print("note: " + note)


if __name__ == "__main__":
    main()
