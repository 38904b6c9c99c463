# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""hsm_info and fleet_info against the emulated demo fleet, through the real ansible CLI."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket


def free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_hsm_info_returns_the_fact_schema_and_sff_status(emulator, ansible):
    run = ansible.module("hsm_info", emulator.conn("154712"), check=True)
    assert run.rc == 0, run
    hsm = run.result["hsm"]
    assert run.result["changed"] is False
    assert hsm["serial"] == "154712" and hsm["firmware"] == "6.22.0" and hsm["auth"] == "ped"
    assert hsm["cloning"] is True and hsm["sff_capability"] is True and hsm["sff_policy"] is False
    assert hsm["cloning_domain"] and hsm["url"] == emulator.urls["154712"]
    assert hsm["sff_status"]["sff_capable"] is True and hsm["sff_status"]["sff_active"] is False
    assert hsm["sff_status"]["reasons"] == ["SFF_POLICY_OFF"]
    [part] = hsm["partitions"]
    assert part["label"] == "tokens" and part["object_count"] == 1
    assert part["objects"][0]["fingerprint"] == "w-tok-master"
    assert part["policies"]["private_key_cloning"] is True


def test_hsm_info_without_objects_keeps_counts(emulator, ansible):
    run = ansible.module("hsm_info", dict(emulator.conn("154701"), gather_objects=False))
    assert run.rc == 0, run
    [part] = run.result["hsm"]["partitions"]
    assert part["objects"] == [] and part["object_count"] == 2


def test_hsm_info_wrong_password_names_the_appliance(emulator, ansible):
    run = ansible.module("hsm_info", emulator.conn("154701", password="not-the-password"))
    assert run.rc != 0
    msg = run.result["msg"]
    assert emulator.urls["154701"] in msg and "401" in msg and "password" in msg
    assert "Traceback" not in run.output and "not-the-password" not in run.output


def test_hsm_info_bad_ca_says_ca_path(emulator, ansible, tmp_path):
    args = emulator.conn("154701")
    del args["ca_path"]
    run = ansible.module("hsm_info", args)
    assert run.rc != 0 and "ca_path" in run.result["msg"] and "Traceback" not in run.output


def test_fleet_info_reports_unreachable_by_name_and_keeps_the_rest(emulator, ansible):
    appliances = [{"name": emulator.hosts[s], "url": emulator.urls[s]} for s in sorted(emulator.urls)]
    appliances.append({"name": "gone_1", "url": "https://127.0.0.1:%d" % free_port()})
    appliances.append({"name": "wrong_pw", "url": emulator.urls["154701"], "password": "nope"})
    args = {"appliances": appliances, "password": emulator.admin_password, "ca_path": emulator.ca_path, "workers": 4,
            "timeout": 5}
    run = ansible.module("fleet_info", args)
    assert run.rc == 0, run
    res = run.result
    assert sorted(res["by_serial"]) == sorted(emulator.urls)
    assert [h["name"] for h in res["hsms"]] == [a["name"] for a in appliances[:-2]]
    assert "unreachable" not in res  # Ansible would mark localhost unreachable
    unreachable = dict((u["name"], u["msg"]) for u in res["unreachable_appliances"])
    assert sorted(unreachable) == ["gone_1", "wrong_pw"]
    assert "cannot connect" in unreachable["gone_1"] and "401" in unreachable["wrong_pw"]
    assert res["by_serial"]["154740"]["sff_status"]["sff_active"] is True
    assert "nope" not in run.output


def test_fleet_info_fail_on_unreachable(emulator, ansible):
    appliances = [{"name": "east_1", "url": emulator.urls["154701"]},
                  {"name": "gone_1", "url": "https://127.0.0.1:%d" % free_port()}]
    args = {"appliances": appliances, "password": emulator.admin_password, "ca_path": emulator.ca_path,
            "fail_on_unreachable": True, "timeout": 5}
    run = ansible.module("fleet_info", args)
    assert run.rc != 0
    assert "gone_1" in run.result["msg"] and run.result["hsms"][0]["serial"] == "154701"


def test_module_defaults_group_sets_the_connection_once(emulator, ansible):
    play = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/hsmops.luna.luna:
      password: "%s"
      ca_path: "%s"
  tasks:
    - hsmops.luna.hsm_info:
        url: "%s"
      register: one
    - ansible.builtin.assert:
        that: one.hsm.serial == "154701"
""" % (emulator.admin_password, emulator.ca_path, emulator.urls["154701"])
    run = ansible.playbook(play)
    assert run.rc == 0, run.output[-3000:]


def test_environment_variables_set_the_connection(emulator, ansible):
    env = {"LUNA_URL": emulator.urls["154702"], "LUNA_PASSWORD": emulator.admin_password,
           "LUNA_CA_PATH": emulator.ca_path}
    run = ansible.module("hsm_info", {"gather_objects": False}, env=env)
    assert run.rc == 0, run
    assert run.result["hsm"]["serial"] == "154702"
