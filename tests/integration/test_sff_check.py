# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pre-change guard as users run it: ansible-playbook gathers the emulated fleet
(fleet_info), reads the client's HA groups (ha_group_info on the emulator's Chrystoki.conf)
and asks sff_check whether a change is safe."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import yaml

# Refusals the demo fleet must give for switching SFF on for these targets (emulator/fleets/demo.yml):
# old firmware, password HSM, Key Export HSM, and the HA groups split by a lone target.
UNSAFE_TARGETS = ["154701", "150001", "154720", "154730", "154711"]
UNSAFE_REFUSALS = [
    ("150001", "FIRMWARE_TOO_OLD"),
    ("154720", "NOT_PED_AUTHENTICATED"),
    ("154730", "NOT_CLONING_HSM"),
    ("154702", "HA_PEER_WOULD_DIVERGE"),
    ("154712", "HA_PEER_WOULD_DIVERGE"),
    ("154713", "HA_PEER_WOULD_DIVERGE"),
]


def playbook(emulator, targets, state="on"):
    appliances = [{"url": url, "name": "hsm_%s" % serial} for serial, url in sorted(emulator.urls.items())]
    play = [{
        "name": "Pre-change guard",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [
            {"name": "Gather the fleet", "register": "fleet",
             "hsmops.luna.fleet_info": {"appliances": appliances, "url": appliances[0]["url"],
                                        "password": emulator.admin_password, "ca_path": emulator.ca_path}},
            {"name": "Read the client's HA groups", "register": "client_ha",
             "hsmops.luna.ha_group_info": {"conf": os.path.join(emulator.state_dir, "Chrystoki.conf"),
                                           "facts": "{{ fleet.hsms }}"}},
            {"name": "Every member is known", "ansible.builtin.assert": {
                "that": ["client_ha.ha_groups | map(attribute='unmapped') | flatten | length == 0"]}},
            {"name": "Check the change", "register": "plan",
             "hsmops.luna.sff_check": {"fleet": "{{ fleet.hsms }}", "ha_groups": "{{ client_ha.ha_groups }}",
                                       "targets": targets, "state": state}},
            {"name": "Show the plan", "ansible.builtin.debug": {"msg": "PLAN {{ plan.plan.wave_details | to_json }}"}},
        ],
    }]
    return yaml.safe_dump(play, sort_keys=False)


def test_unsafe_change_fails_the_playbook_listing_every_refusal(emulator, ansible):
    before = dict((s, emulator.facts(s)) for s in emulator.urls)
    run = ansible.playbook(playbook(emulator, UNSAFE_TARGETS))
    assert run.rc != 0, run
    assert "Check the change" in run.stdout and "Show the plan" not in run.stdout
    assert "%d refusal(s)" % len(UNSAFE_REFUSALS) in run.stdout
    for serial, code in UNSAFE_REFUSALS:
        assert "HSM %s %s: " % (serial, code) in run.stdout, (serial, code, run.stdout[-3000:])
    # sff_check never changes anything
    for serial, facts in before.items():
        assert emulator.facts(serial) == facts


def test_safe_change_passes_with_waves(emulator, ansible):
    run = ansible.playbook(playbook(emulator, ["154711", "154712", "154713"]))
    assert run.rc == 0, run
    line = [x for x in run.stdout.splitlines() if "PLAN " in x][0]
    waves = json.loads(line.split("PLAN ", 1)[1].rstrip('"').replace('\\"', '"'))
    # 154712 already has the CUF: CUFs for the other two, one per wave (same HA group), then all policies.
    assert waves == [
        {"wave": 1, "action": "apply_cuf", "serials": ["154711"]},
        {"wave": 2, "action": "apply_cuf", "serials": ["154713"]},
        {"wave": 3, "action": "enable_policy", "serials": ["154711", "154712", "154713"]},
    ]


def test_ha_group_info_reads_the_emulators_client_config(emulator, ansible):
    facts = [emulator.facts(s, gather_objects=False) for s in emulator.urls]
    run = ansible.module("ha_group_info", {"conf": os.path.join(emulator.state_dir, "Chrystoki.conf"),
                                           "facts": facts})
    assert run.rc == 0, run
    groups = dict((g["name"], g) for g in run.result["ha_groups"])
    for group in emulator.fleet["ha_groups"]:
        assert sorted(groups[group["name"]]["members"]) == sorted(group["members"]), groups
        assert groups[group["name"]]["unmapped"] == []
