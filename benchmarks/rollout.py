#!/usr/bin/env python3
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SFF rollout on the 120-HSM sample fleet, next to the floor: Ansible doing nothing.

    .venv/bin/python benchmarks/rollout.py [--fleet emulator/fleets/large.yml] [--forks 16]
                                           [--rounds 3] [--keep DIR]

1. Starts the emulated fleet (emulator/fleets/large.yml) in a fresh state dir, mints every CUF.
2. Picks the targets as an operator would: every HA group all of whose members the rules engine
   finds SFF capable (sff_rules.capability_refusals); groups already SFF active are targeted too
   (nothing to do for them).
3. Times `ansible-playbook hsmops.luna.sff_rollout` on them (wall clock, whole run, --forks).
4. The floor, in the same run: the same inventory and forks, a playbook in which every host
   runs as many tasks as it ran in the rollout, each doing nothing -- ansible.builtin.ping for
   each module the rollout ran on that host (a module execution, delegated to localhost like the
   rollout's), ansible.builtin.assert (controller-only) for each of its other tasks, strategy
   free. Counts come from the rollout's own output (a loop item counts as a task). Two forms:
   "tasks": one task per counted task, each host including its own task file (the floor as the
   target defines it: the same number of tasks per host); "looped": one looped task per kind,
   the least overhead Ansible offers (a loop item costs less than a task), a stricter floor.
5. Steps 1-4 run --rounds times (default 3), each on a fresh fleet, because two runs of the same
   playbook on a busy 2-core machine differ by 10-20 %; the ratio quoted is the median of the
   rounds' ratios, and every round is printed. The last round also runs the rollout a second
   time: it must find nothing to do.
6. Prints wall times, per-HSM cost, the ratio to each floor (target: within 1.5x of the first),
   the CPU time Ansible and the emulated appliances spent in each run (they share the machine's
   cores), and the mixed windows from the rollout's report. Never asserts anything about time.
7. With --account, the rollout and the first floor run with benchmarks/worker_rusage on
   PYTHONPATH, which logs each forked worker's CPU and that of the module run it started; the
   last round then prints where each side's CPU went (controller process, workers, module runs)
   and the rollout's tasks that cost the most. It adds a little to both runs.
"""

import argparse
import collections
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, os.path.join(REPO, ".build", "collections"))

from conftest import _tool, ansible_env, start_emulator  # noqa: E402  (the tests' emulator helpers)
from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import (  # noqa: E402
    capability_refusals,
    sff_active,
    validate_fleet,
)

# "ok: [host -> localhost]" (delegated: a module ran) or "ok: [host]" (controller-only task),
# optionally "=> (item=...)" for each loop item.
RESULT_RE = re.compile(r"^(ok|changed|failed|fatal): \[([^\]\s]+)( -> [^\]]+)?\]")


def pick_targets(fleet_doc):
    """HA groups whose every member the rules engine finds capable (or already SFF active)."""
    hsms = validate_fleet(fleet_doc["hsms"])
    chosen, skipped = [], []
    for group in fleet_doc.get("ha_groups") or []:
        members = [hsms[s] for s in group["members"]]
        if all(sff_active(m) or not capability_refusals(m) for m in members):
            chosen.append(group["name"])
        else:
            skipped.append(group["name"])
    return chosen, skipped, sum(len(g["members"]) for g in fleet_doc["ha_groups"] if g["name"] in chosen)


def cpu_seconds(pid):
    """User + system CPU seconds a running process has used (Linux /proc)."""
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def accounted_env(env, log):
    """env with benchmarks/worker_rusage on PYTHONPATH, logging to `log`."""
    env = dict(env, HSMOPS_WORKER_RUSAGE=log)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.path.join(REPO, "benchmarks", "worker_rusage"),
                                                     env.get("PYTHONPATH")) if p)
    return env


def read_accounting(log):
    """worker_rusage log -> {'main': s, 'workers': s, 'modules': s, 'forks': n, 'tasks': {name: [w, m, n]}}."""
    totals = {"main": 0.0, "workers": 0.0, "modules": 0.0, "forks": 0, "tasks": collections.defaultdict(lambda: [0.0, 0.0, 0])}
    if not os.path.exists(log):
        return None
    with open(log) as handle:
        for line in handle:
            worker, children, host, task = line.rstrip("\n").split("\t", 3)
            if host == "MAIN":
                totals["main"] += float(worker)
                continue
            totals["workers"] += float(worker)
            totals["modules"] += float(children)
            totals["forks"] += 1
            entry = totals["tasks"][task]
            entry[0] += float(worker)
            entry[1] += float(children)
            entry[2] += 1
    return totals


def run(cmd, env, cwd, emulator_pid):
    """-> (wall s, Ansible's CPU s (ansible-playbook and its workers), the appliances' CPU s, result)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    appliances = cpu_seconds(emulator_pid)
    started = time.monotonic()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    ansible_cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    return wall, ansible_cpu, cpu_seconds(emulator_pid) - appliances, proc


def task_counts(stdout):
    """Per host: (module executions, controller-only tasks) the run went through."""
    counts = collections.defaultdict(lambda: [0, 0])
    for line in stdout.splitlines():
        match = RESULT_RE.match(line)
        if match:
            counts[match.group(2)][0 if match.group(3) else 1] += 1
    return {host: tuple(value) for host, value in counts.items()}


def floor_task_files(counts, folder):
    """The floor as tasks: one tasks file per host with one do-nothing task per task it ran."""
    os.makedirs(folder)
    for host, (modules, others) in counts.items():
        tasks = [{"name": "Module %d: does nothing" % i, "ansible.builtin.ping": None, "delegate_to": "localhost"}
                 for i in range(modules)]
        tasks += [{"name": "Controller task %d: does nothing" % i, "ansible.builtin.assert": {"that": True, "quiet": True}}
                  for i in range(others)]
        with open(os.path.join(folder, "%s.yml" % host), "w") as handle:
            yaml.safe_dump(tasks, handle, sort_keys=False)
    return [{"name": "The floor: the rollout's task counts per host, one task each, doing nothing",
             "hosts": ":".join(sorted(counts)), "gather_facts": False, "strategy": "free",
             "tasks": [{"name": "This host's tasks", "ansible.builtin.include_tasks": os.path.join(folder, "{{ inventory_hostname }}.yml")}]}]


def floor_playbook(counts):
    """As many do-nothing module runs and controller tasks per host as the rollout ran there.

    The cheapest way Ansible runs them: strategy free, and one looped task per kind (a loop item
    costs less than a task), so this floor is if anything lower than the rollout's own overhead.
    """
    return [{"name": "The floor: the rollout's task counts per host, doing nothing",
             "hosts": ":".join(sorted(counts)), "gather_facts": False, "strategy": "free",
             "tasks": [
                 {"name": "A module that does nothing, once per module the rollout ran on this host",
                  "ansible.builtin.ping": None, "delegate_to": "localhost",
                  "loop": "{{ range(floor_counts[inventory_hostname][0]) | list }}"},
                 {"name": "A controller-only task, once per other task the rollout ran on this host",
                  "ansible.builtin.assert": {"that": True, "quiet": True},
                  "loop": "{{ range(floor_counts[inventory_hostname][1]) | list }}"},
             ]}]


def one_round(args, groups, work, rerun):
    """Fresh emulated fleet and CUFs; the rollout, then both floors with its task counts, then
    (rerun) the rollout again, which must find nothing to do. -> dict of figures."""
    os.makedirs(work)
    state = os.path.join(work, "state")
    env = ansible_env()
    emu = start_emulator(args.fleet, state)
    try:
        subprocess.run([_tool("luna-emulator"), "mint-cuf", "--state-dir", state, "--all",
                        "--out", os.path.join(work, "cuf")], check=True, capture_output=True)
        report_path = os.path.join(work, "report.json")
        extra = {"sff_rollout_hosts": ":".join(groups), "sff_rollout_cuf_dir": os.path.join(work, "cuf"),
                 "sff_rollout_report_path": report_path}
        rollout_cmd = [_tool("ansible-playbook"), "-i", emu.inventory, "hsmops.luna.sff_rollout",
                       "--forks", str(args.forks), "-e", json.dumps(extra)]
        logs = {kind: os.path.join(work, "%s.rusage" % kind) for kind in ("rollout", "tasks")} if args.account else {}
        rollout_s, rollout_cpu, rollout_emu, proc = run(
            rollout_cmd, accounted_env(env, logs["rollout"]) if logs else env, work, emu.proc.pid)
        with open(os.path.join(work, "rollout.out"), "w") as handle:
            handle.write(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            raise SystemExit("the rollout failed (exit %d); output in %s/rollout.out\n%s"
                             % (proc.returncode, work, proc.stdout[-3000:]))
        with open(report_path) as handle:
            report = json.load(handle)

        counts = task_counts(proc.stdout)
        floors = {}
        for kind, playbook in (("tasks", floor_task_files(counts, os.path.join(work, "floor_tasks"))),
                               ("looped", floor_playbook(counts))):
            floor_path = os.path.join(work, "floor_%s.yml" % kind)
            with open(floor_path, "w") as handle:
                yaml.safe_dump(playbook, handle, sort_keys=False)
            floors[kind] = run(
                [_tool("ansible-playbook"), "-i", emu.inventory, floor_path, "--forks", str(args.forks),
                 "-e", json.dumps({"floor_counts": counts})],
                accounted_env(env, logs[kind]) if kind in logs else env, work, emu.proc.pid)
            if floors[kind][3].returncode != 0:
                raise SystemExit("the %s floor playbook failed:\n%s" % (kind, floors[kind][3].stdout[-3000:]))
        second = run(rollout_cmd, env, work, emu.proc.pid) if rerun else None
    finally:
        emu.stop()
    return {"rollout": (rollout_s, rollout_cpu, rollout_emu), "report": report, "counts": counts,
            "accounting": {kind: read_accounting(log) for kind, log in logs.items()},
            "floors": {kind: value[:3] for kind, value in floors.items()},
            "rerun": (second[0], second[3]) if second else None}


def print_accounting(accounting, round_number, top=12):
    """Where each side's CPU went, from the worker_rusage logs of one round."""
    rollout, floor = accounting.get("rollout"), accounting.get("tasks")
    if not rollout or not floor or not rollout["forks"]:
        print("accounting: no worker_rusage figures (see the runs' stderr)")
        return
    print("")
    print("CPU by part, round %d (--account)         %10s %10s" % (round_number, "rollout", "floor"))
    for key, label in (("main", "controller process (strategy, results)"), ("workers", "forked workers (templating, arguments)"),
                       ("modules", "module runs (interpreter + shell)")):
        print("  %-45s %9.1fs %9.1fs" % (label, rollout[key], floor[key]))
    print("  %-45s %10d %10d" % ("workers forked", rollout["forks"], floor["forks"]))
    print("  %-45s %8.0fms %8.0fms" % ("worker CPU per fork", rollout["workers"] / rollout["forks"] * 1000,
                                        floor["workers"] / max(floor["forks"], 1) * 1000))
    print("rollout tasks costing the most CPU (worker + module runs):")
    ranked = sorted(rollout["tasks"].items(), key=lambda item: -(item[1][0] + item[1][1]))[:top]
    for name, (worker, modules, forks) in ranked:
        print("  %6.1fs  %4d forks  %4.0f ms worker/fork  %6.1fs modules  %s"
              % (worker + modules, forks, worker / forks * 1000, modules, name[:80]))


def median(values):
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", default=os.path.join(REPO, "emulator", "fleets", "large.yml"))
    parser.add_argument("--forks", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3,
                        help="rollout + floors this many times, each on a fresh fleet; the ratio is their median")
    parser.add_argument("--account", action="store_true",
                        help="log each worker's and module run's CPU (benchmarks/worker_rusage) and print where it went")
    parser.add_argument("--keep", help="keep the work directory (state, outputs) here instead of a temp dir")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    work = args.keep or tempfile.mkdtemp(prefix="hsmops-rollout-bench-")
    if args.keep:
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
    with open(args.fleet) as handle:
        fleet_doc = yaml.safe_load(handle)
    groups, skipped, target_count = pick_targets(fleet_doc)
    rounds = [one_round(args, groups, os.path.join(work, "round%d" % (i + 1)), rerun=i == args.rounds - 1)
              for i in range(args.rounds)]

    last = rounds[-1]
    report, counts = last["report"], last["counts"]
    changed = [h for h in report["hsms"] if h["status"] == "changed"]
    modules = sum(c[0] for c in counts.values())
    others = sum(c[1] for c in counts.values())
    print("fleet: %s, %d HSMs in %d HA groups; forks %d; %d round(s), each on a fresh fleet"
          % (os.path.relpath(args.fleet, REPO), len(fleet_doc["hsms"]), len(fleet_doc["ha_groups"]), args.forks,
             args.rounds))
    print("targets: %d HA groups (%d HSMs); %d groups left out (members the rules engine finds not capable)"
          % (len(groups), target_count, len(skipped)))
    print("rollout: %s; %d HSMs changed" % (report["summary"], len(changed)))
    print("tasks the rollout ran: %d module executions + %d controller-only tasks over %d hosts"
          % (modules, others, len(counts)))
    print("")
    print("%-6s %-40s %9s %12s %13s %15s" % ("round", "", "wall (s)", "per HSM (s)", "Ansible CPU", "appliances CPU"))
    labels = [("rollout", "rollout (hsmops.luna.sff_rollout)"), ("tasks", "floor: same tasks per host, doing nothing"),
              ("looped", "floor, looped (stricter)")]
    ratios = {"tasks": [], "looped": []}
    for number, figures in enumerate(rounds, 1):
        for key, label in labels:
            wall, cpu, appliances = figures["rollout"] if key == "rollout" else figures["floors"][key]
            print("%-6s %-40s %9.1f %12.2f %12.0fs %14.0fs" % (number, label, wall, wall / max(len(changed), 1),
                                                              cpu, appliances))
        for kind in ratios:
            ratios[kind].append(figures["rollout"][0] / figures["floors"][kind][0])
        print("%-6s %-40s %9.2f   (looped: %.2f)" % (number, "rollout / floor", ratios["tasks"][-1],
                                                    ratios["looped"][-1]))
    print("")
    print("%-47s %9.2f   (rounds: %s)" % ("rollout / floor, median (target <= 1.5)", median(ratios["tasks"]),
                                         ", ".join("%.2f" % r for r in ratios["tasks"])))
    print("%-47s %9.2f" % ("rollout / looped floor, median", median(ratios["looped"])))
    rerun_s, rerun = last["rerun"]
    print("%-47s %9.1f   (exit %d, %s)" % ("second rollout run (nothing to do)", rerun_s, rerun.returncode,
                                            "changed=0 everywhere" if not re.search(r"changed=[1-9]", rerun.stdout)
                                            else "SOMETHING CHANGED"))
    windows = [g["mixed_window_ms"] for figures in rounds for g in figures["report"]["ha_groups"]
               if g["mixed_window_ms"] is not None]
    if windows:
        print("mixed window per HA group (ms): min %.1f, median %.1f, max %.1f over %d group flips"
              % (min(windows), median(windows), max(windows), len(windows)))
    if args.account:
        print_accounting(last["accounting"], len(rounds))
    print("machine: %d CPU(s); Ansible CPU = ansible-playbook and its workers (module runs included), appliances"
          " CPU = the emulated fleet's process, which real appliances would not take from the controller"
          % os.cpu_count())
    print("work dir: %s" % work)


if __name__ == "__main__":
    main()
