# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.hsmops.luna.tests.unit.fixtures.replay import load, replay_runs, run_module


def args(**extra):
    recorded = load("fleet_info_demo")["runs"][0]["args"]
    recorded.update(extra)
    return recorded


@pytest.mark.parametrize("workers", [1, 4])
def test_fleet_info_keeps_the_others_and_names_the_failures(monkeypatch, workers):
    replay = replay_runs(monkeypatch, load("fleet_info_demo"))
    result, raw = run_module("fleet_info", args(workers=workers))
    assert "failed" not in result and result["changed"] is False
    assert [h["name"] for h in result["hsms"]] == ["east_1", "west_2", "vault_1"]
    assert sorted(result["by_serial"]) == ["154701", "154712", "154740"]
    assert result["by_serial"]["154740"]["sff_status"]["sff_active"] is True
    assert "unreachable" not in result
    failures = dict((u["name"], u) for u in result["unreachable_appliances"])
    assert sorted(failures) == ["east_2", "gone_1"]
    assert "cannot connect" in failures["gone_1"]["msg"] and failures["gone_1"]["url"] == "https://gone.hsm.test"
    assert "HTTP 401" in failures["east_2"]["msg"] and "password" in failures["east_2"]["msg"]
    # One session per appliance.
    for base in ("https://east-1.hsm.test", "https://west-2.hsm.test", "https://vault-1.hsm.test"):
        posts = [c for c in replay.calls if c["base"] == base and c["path"] == "/auth/session" and c["method"] == "POST"]
        assert len(posts) == 1
    assert "not-the-password" not in raw and "demo-admin-pw" not in raw


def test_fleet_info_fail_on_unreachable_still_returns_facts(monkeypatch):
    replay_runs(monkeypatch, load("fleet_info_demo"))
    result = run_module("fleet_info", args(fail_on_unreachable=True))[0]
    assert result["failed"] is True
    assert "2 of 5" in result["msg"] and "gone_1" in result["msg"] and "east_2" in result["msg"]
    assert len(result["hsms"]) == 3


def test_fleet_info_duplicate_appliance_is_reported(monkeypatch):
    fixture = load("fleet_info_demo")
    fixture["appliances"]["https://east-1.hsm.test"] *= 2
    replay_runs(monkeypatch, fixture)
    appliances = [{"name": "a", "url": "https://east-1.hsm.test"}, {"name": "b", "url": "https://east-1.hsm.test"}]
    result = run_module("fleet_info", args(appliances=appliances, workers=1))[0]
    assert [h["name"] for h in result["hsms"]] == ["a"]
    assert "listed twice" in result["unreachable_appliances"][0]["msg"]


def test_fleet_info_workers_must_be_positive():
    result = run_module("fleet_info", args(workers=0))[0]
    assert result["failed"] is True and "workers" in result["msg"]
