# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The user-facing playbooks (hsmops.luna.sff_rollout, sff_preflight) run with ansible-playbook
against the emulated demo fleet (fixture ``emulator``): outcomes checked on the appliances."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os
import re
import shutil
import subprocess

import yaml
from ansible.release import __version__ as ansible_release

from ansible_collections.hsmops.luna.plugins.module_utils.chrystoki_conf import read_ha_groups
from conftest import Result, _tool, ansible_env

# The ansible-core the tests' ansible-playbook comes from (the same venv).
ANSIBLE_CORE = tuple(int(part) for part in ansible_release.split(".")[:2])

TARGET_GROUPS = "ha_east:ha_west"
TARGETS = ["154701", "154702", "154711", "154712", "154713"]


def mint_all(emulator, tmp_path):
    out = str(tmp_path / "cuf")
    subprocess.run([_tool("luna-emulator"), "mint-cuf", "--state-dir", emulator.state_dir, "--all", "--out", out],
                   check=True, capture_output=True)
    codes = []
    for path in glob.glob(os.path.join(out, "*.authcode")):
        with open(path) as handle:
            codes.append(handle.read().strip())
    return out, codes


def rollout(emulator, tmp_path, cuf_dir, *args, **extra):
    report = str(tmp_path / "report.json")
    if os.path.exists(report):
        os.remove(report)
    extra_vars = {"sff_rollout_hosts": TARGET_GROUPS, "sff_rollout_cuf_dir": cuf_dir,
                  "sff_rollout_report_path": report}
    extra_vars.update(extra)
    inventories = ["-i", emulator.inventory]
    for overlay in extra_vars.pop("inventories", []):
        inventories += ["-i", overlay]
    playbook = extra_vars.pop("playbook", "hsmops.luna.sff_rollout")
    # A collection playbook by name, as users run it.
    proc = subprocess.run([_tool("ansible-playbook"), playbook] + inventories + ["-e", json.dumps(extra_vars)] + list(args),
                          capture_output=True, text=True, env=ansible_env(), cwd=str(tmp_path), timeout=1200, check=False)
    result = Result(proc.returncode, proc.stdout, proc.stderr)
    with open(report) if os.path.exists(report) else open(os.devnull) as handle:
        text = handle.read()
    return result, (json.loads(text) if text else None)


def recap_changes(stdout):
    return sum(int(n) for n in re.findall(r"changed=(\d+)", stdout))


def objects_of(facts):
    return sorted(o["fingerprint"] for p in facts["partitions"] for o in p["objects"])


def client_ha_members(conf):
    """HA group name -> member partition serials, read as ha_group_info reads a Chrystoki.conf."""
    return {g["name"]: sorted(g["partitions"]) for g in read_ha_groups(conf)["ha_groups"]}


def ha_partition_serials(emulator, members, label):
    return sorted(p["serial"] for s in members for p in emulator.facts(s, gather_objects=False)["partitions"]
                  if p["label"] == label)


def test_rollout_switches_whole_groups_then_finds_nothing_to_do_and_never_shows_a_secret(emulator, tmp_path):
    cuf_dir, auth_codes = mint_all(emulator, tmp_path)
    before = {s: emulator.facts(s) for s in TARGETS}
    # HA groups also from a Luna client, whose member lists must follow the recreated partitions.
    conf = str(tmp_path / "Chrystoki.conf")
    shutil.copy(os.path.join(emulator.state_dir, "Chrystoki.conf"), conf)
    members_before = client_ha_members(conf)
    ha_members = {"ha_east": ["154701", "154702"], "ha_west": ["154711", "154712", "154713"]}
    label = before["154701"]["partitions"][0]["label"]
    assert members_before["ha_east"] == ha_partition_serials(emulator, ha_members["ha_east"], label)

    first, report = rollout(emulator, tmp_path, cuf_dir, "-vvv", sff_rollout_luna_conf=conf)
    assert first.rc == 0, first.output[-4000:]
    assert report["status"] == "changed"
    assert sorted(h["serial"] for h in report["hsms"] if h["status"] == "changed") == TARGETS
    groups = {g["name"]: g for g in report["ha_groups"]}
    assert groups["ha_east"]["status"] == groups["ha_west"]["status"] == "done"
    assert groups["ha_east"]["after"]["compatible"] and groups["ha_west"]["after"]["compatible"]
    # The mixed window is measured by ha_group_policy: milliseconds, not task gaps.
    assert 0 <= groups["ha_west"]["mixed_window_ms"] < 5000
    for serial in TARGETS:
        after = emulator.facts(serial)
        assert after["sff_capability"] and after["sff_policy"], serial
        assert objects_of(after) == objects_of(before[serial]), serial
        assert [p["label"] for p in after["partitions"]] == [p["label"] for p in before[serial]["partitions"]]
    # The Luna client's HA groups name the recreated partitions (new serials), the others unchanged.
    members_after = client_ha_members(conf)
    for name, members in ha_members.items():
        label = before[members[0]]["partitions"][0]["label"]
        assert members_after[name] == ha_partition_serials(emulator, members, label), name
    assert members_after["ha_east"] != members_before["ha_east"]
    assert members_after["ha_legacy"] == members_before["ha_legacy"]
    # HSMs outside the targeted groups are untouched.
    assert emulator.facts("150001")["partitions"][0]["object_count"] == 1
    assert not emulator.facts("154720")["sff_capability"]

    # -vvv: where ansible-core shows the modules' arguments (2.19 does; 2.21 no longer prints
    # them), the secrets among them are masked, not absent. Either way no secret appears.
    if ANSIBLE_CORE < (2, 21):
        assert '"module_args"' in first.output, "ansible-core %s should show module arguments at -vvv" % ansible_release
    if '"module_args"' in first.output:
        assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in first.output
    secrets = [emulator.admin_password, emulator.so_password] + auth_codes
    for secret in secrets:
        assert secret not in first.output, "a secret appeared in the -vvv output"
        with open(str(tmp_path / "report.json")) as handle:
            assert secret not in handle.read()

    # The second run reads the HA groups from the client too: they resolve to the partitions that exist.
    second, report = rollout(emulator, tmp_path, cuf_dir, sff_rollout_luna_conf=conf)
    assert second.rc == 0, second.output[-4000:]
    assert report["status"] == "nothing_to_do"
    assert "Nothing to do" in second.stdout
    assert recap_changes(second.stdout) == 0


def test_check_mode_prints_the_plan_and_changes_nothing(emulator, tmp_path):
    cuf_dir = mint_all(emulator, tmp_path)[0]
    before = {s: emulator.facts(s) for s in emulator.urls}

    result, report = rollout(emulator, tmp_path, cuf_dir, "--check")
    assert result.rc == 0, result.output[-4000:]
    assert report["status"] == "planned" and report["check_mode"]
    assert "wave 1: apply_cuf on 154701, 154711" in result.stdout
    assert "enable_policy on 154701, 154702, 154711, 154712, 154713" in result.stdout
    assert {s: emulator.facts(s) for s in emulator.urls} == before


def test_preflight_gate_exits_non_zero_with_every_reason_and_changes_nothing(emulator, tmp_path):
    cuf_dir = mint_all(emulator, tmp_path)[0]
    os.remove(os.path.join(cuf_dir, "154702.cuf"))
    before = {s: emulator.facts(s) for s in emulator.urls}

    result, report = rollout(emulator, tmp_path, cuf_dir, playbook="hsmops.luna.sff_preflight",
                             sff_rollout_hosts="luna_appliances",
                             sff_rollout_targets=["east_1", "east_2", "west_1", "pw_1", "ke_1", "legacy_1", "424242"])
    assert result.rc != 0
    codes = sorted((r["code"], r["serial"]) for r in report["refusals"])
    assert codes == sorted([
        ("TARGET_NOT_IN_INVENTORY", "424242"),
        ("NOT_PED_AUTHENTICATED", "154720"),
        ("NOT_CLONING_HSM", "154730"),
        ("FIRMWARE_TOO_OLD", "150001"),
        ("HA_PEER_WOULD_DIVERGE", "154712"),
        ("HA_PEER_WOULD_DIVERGE", "154713"),
        ("CUF_MISSING", "154702"),
    ]), codes
    assert "HSM 154720 (pw_1): NOT_PED_AUTHENTICATED" in result.output
    assert {s: emulator.facts(s) for s in emulator.urls} == before


def test_a_failing_member_stops_its_group_only_and_a_rerun_finishes(emulator, tmp_path):
    cuf_dir = mint_all(emulator, tmp_path)[0]
    wrong = str(tmp_path / "wrong-so.yml")
    with open(wrong, "w") as handle:
        yaml.safe_dump({"all": {"hosts": {"east_1": {"luna_so_password": "not-the-so-password"}}}}, handle)
    before = {s: emulator.facts(s) for s in TARGETS}

    # One HA group per batch, stop after the first failed group: ha_west is never started.
    halted, report = rollout(emulator, tmp_path, cuf_dir, inventories=[wrong], sff_rollout_batch=1,
                             sff_rollout_max_failed_groups=0)
    assert halted.rc != 0
    groups = {g["name"]: g for g in report["ha_groups"]}
    assert groups["ha_east"]["status"] == "failed" and groups["ha_west"]["status"] == "not_started"
    assert "Not started" in groups["ha_west"]["how_to_finish"]
    assert {s: emulator.facts(s) for s in TARGETS} == before

    failed, report = rollout(emulator, tmp_path, cuf_dir, inventories=[wrong])
    assert failed.rc != 0
    groups = {g["name"]: g for g in report["ha_groups"]}
    assert groups["ha_east"]["status"] == "failed"
    assert groups["ha_east"]["failure"]["hsm"] == "east_1"
    assert "run the rollout again" in groups["ha_east"]["how_to_finish"]
    assert not groups["ha_east"]["mixed"] and groups["ha_east"]["after"]["compatible"]
    assert groups["ha_west"]["status"] == "done" and groups["ha_west"]["after"]["compatible"]
    for serial in ("154701", "154702"):  # the SO login failed before anything was uploaded
        assert emulator.facts(serial) == before[serial]
    assert "not-the-so-password" not in failed.output

    rerun, report = rollout(emulator, tmp_path, cuf_dir)
    assert rerun.rc == 0, rerun.output[-4000:]
    assert [h["serial"] for h in report["hsms"] if h["status"] == "changed"] == ["154701", "154702"]
    for serial in TARGETS:
        after = emulator.facts(serial)
        assert after["sff_policy"] and objects_of(after) == objects_of(before[serial])
