# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.hsmops.luna.tests.unit.fixtures.replay import load, replay_runs, run_module

BASE = "https://east-1.hsm.test"
ARGS = {"url": BASE, "password": "demo-admin-pw"}


def test_hsm_info_returns_facts_and_sff_status(monkeypatch):
    replay = replay_runs(monkeypatch, load("hsm_info_154701"))
    result, raw = run_module("hsm_info", ARGS, check=True)
    assert result["changed"] is False and "failed" not in result
    hsm = result["hsm"]
    assert (hsm["serial"], hsm["firmware"], hsm["auth"], hsm["cloning"]) == ("154701", "6.22.0", "ped", True)
    assert hsm["sff_capability"] is False and hsm["sff_policy"] is False and hsm["url"] == BASE
    assert hsm["sff_status"]["sff_capable"] is True
    assert hsm["sff_status"]["reasons"] == ["CUF_NOT_APPLIED", "SFF_POLICY_OFF"]
    [part] = hsm["partitions"]
    assert part["label"] == "payments" and part["object_count"] == 2
    assert sorted(o["fingerprint"] for o in part["objects"]) == ["e1-pay-kek", "e1-pay-sign"]
    assert hsm["policies"]["sff_backup"] is False and hsm["capabilities"]["cloning"] is True
    # One session for the run, closed at the end; nothing changed.
    logins = [c for c in replay.calls if c["path"] == "/auth/session"]
    assert [c["method"] for c in logins] == ["POST", "DELETE"]
    assert replay.writes() == []
    assert "demo-admin-pw" not in raw


def test_hsm_info_connection_failure_is_a_clean_error(monkeypatch):
    fixture = {"appliances": {BASE: [{"method": "POST", "path": "/auth/session", "raise": "refused"}] * 4}}
    replay_runs(monkeypatch, fixture)
    result, raw = run_module("hsm_info", ARGS)
    assert result["failed"] is True
    assert BASE in result["msg"] and "cannot connect" in result["msg"] and "Traceback" not in raw


def test_hsm_info_malformed_firmware_names_field_and_hsm(monkeypatch):
    fixture = load("hsm_info_154701")
    for item in fixture["appliances"][BASE]:
        if item["path"] == "/api/lunasa/hsms/154701" and item["method"] == "GET":
            item["body"]["firmwareVersion"] = "6.2.2-5"
    replay_runs(monkeypatch, fixture)
    result, raw = run_module("hsm_info", ARGS)
    assert result["failed"] is True
    assert "HSM 154701" in result["msg"] and "firmware" in result["msg"] and "6.2.2-5" in result["msg"]


def test_hsm_info_without_objects_skips_object_calls(monkeypatch):
    replay = replay_runs(monkeypatch, load("hsm_info_154701"))
    result = run_module("hsm_info", dict(ARGS, gather_objects=False))[0]
    [part] = result["hsm"]["partitions"]
    assert part["objects"] == [] and part["object_count"] == 2
    assert not [c for c in replay.calls if c["path"].endswith("/objects")]
