# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.hsmops.luna.tests.unit.fixtures.replay import Replay, load, replay_runs, run_module

SO = "demo-so-pw"


def conn(host, **extra):
    args = {"url": "https://%s.hsm.test" % host, "password": "demo-admin-pw", "so_password": SO}
    args.update(extra)
    return args


def test_sff_on_check_real_again(monkeypatch):
    replay = replay_runs(monkeypatch, load("hsm_policy_sff_on_154712"))
    args = conn("west-2", policies={"38": 1})
    check = run_module("hsm_policy", args, check=True, diff=True)[0]
    assert check["changed"] is True and replay.writes() == []
    assert not [c for c in replay.calls if c["path"].endswith("/login")]  # no SO login in check mode
    assert check["changes"] == [{"code": 38, "name": "sff_backup", "from": False, "to": True}]
    assert check["after"]["sff_backup"] is True and check["diff"]["before"]["policies"]["sff_backup"] is False

    real, raw = run_module("hsm_policy", args, diff=True)
    assert real["changed"] is True and real["after"]["sff_backup"] is True
    writes = replay.writes()
    assert [(w["method"], w["path"], w["body"]) for w in writes] == [
        ("PUT", "/api/lunasa/hsms/154712/policies/38", {"value": 1})]
    so_logins = [c for c in replay.calls if c["path"] == "/api/lunasa/hsms/154712/login" and c["method"] == "POST"]
    assert len(so_logins) == 1
    assert SO not in raw

    again = run_module("hsm_policy", args)[0]
    assert again["changed"] is False and again["changes"] == [] and len(replay.writes()) == 1
    assert replay.unused() == []


def test_sff_on_without_cuf_is_refused_with_the_engine_reason(monkeypatch):
    replay = replay_runs(monkeypatch, load("hsm_policy_sff_without_cuf_154701"))
    result = run_module("hsm_policy", conn("east-1", policies={"sff_backup": True}))[0]
    assert result["failed"] is True
    assert "HSM 154701" in result["msg"] and "CUF_NOT_APPLIED" in result["msg"] and "hsm_capability" in result["msg"]
    assert replay.writes() == []


def test_destructive_policy_waits_for_the_task_and_reports_what_was_wiped(monkeypatch):
    replay = replay_runs(monkeypatch, load("hsm_policy_destructive_154713"))
    args = conn("west-3", policies={"non_fips_algorithms": True}, allow_zeroize=True)
    result = run_module("hsm_policy", args)[0]
    assert result["changed"] is True and [w["label"] for w in result["wiped"]] == ["tokens"]
    [put] = replay.writes()
    assert put["body"] == {"value": 1, "confirm": "proceed"}
    assert [c for c in replay.calls if c["path"].startswith("/tasks/")]
    assert result["after"]["non_fips_algorithms"] is True


def test_destructive_policy_without_allow_zeroize_is_refused(monkeypatch):
    for check in (True, False):
        replay = replay_runs(monkeypatch, load("hsm_policy_destructive_154713"))
        result = run_module("hsm_policy", conn("west-3", policies={"12": True}), check=check)[0]
        assert result["failed"] is True
        assert "HSM 154713" in result["msg"] and "allow_zeroize" in result["msg"] and "tokens" in result["msg"]
        assert replay.writes() == []


@pytest.mark.parametrize("policies,needle", [
    ({"turbo": True}, "unknown HSM policy 'turbo'; valid policies are pin_authentication (0), ped_authentication (1)"),
    ({"99": 1}, "unknown HSM policy '99'"),
    ({"sff_backup": "maybe"}, "policies.sff_backup: expected true/false"),
    ({"sff_backup": True, "38": 0}, "given twice with different values"),
])
def test_bad_policies_are_refused_before_any_call(monkeypatch, policies, needle):
    replay = replay_runs(monkeypatch, {"appliances": {}})
    result = run_module("hsm_policy", conn("west-3", policies=policies))[0]
    assert result["failed"] is True and needle in result["msg"]
    assert replay.calls == []


def test_fixed_policies_cannot_change(monkeypatch):
    replay = replay_runs(monkeypatch, load("hsm_policy_sff_without_cuf_154701"))
    result = run_module("hsm_policy", conn("east-1", policies={"pin_authentication": True}))[0]
    assert result["failed"] is True and "fixed at manufacture" in result["msg"] and "HSM 154701" in result["msg"]
    assert replay.writes() == []
    # Asking for the value it already has is fine.
    replay = replay_runs(monkeypatch, load("hsm_policy_sff_without_cuf_154701"))
    result = run_module("hsm_policy", conn("east-1", policies={"ped_authentication": True}))[0]
    assert result["changed"] is False and "failed" not in result


def test_refused_change_by_the_appliance_is_reported(monkeypatch):
    fixture = load("hsm_policy_sff_on_154712")
    for item in fixture["appliances"]["https://west-2.hsm.test"]:
        if item["method"] == "PUT":
            item.update(status=422, headers={}, body={
                "id": "HSMPLUGIN_OPERATION_NOT_ALLOWED", "message": "refused by rule", "details": "SOME_REASON",
                "returnCode": 0, "status": "ERROR", "type": "error"})
    monkeypatch.setattr(
        "ansible_collections.hsmops.luna.plugins.module_utils.luna_client.http_open", Replay(fixture=fixture))
    run_module("hsm_policy", conn("west-2", policies={"38": 1}), check=True)
    result = run_module("hsm_policy", conn("west-2", policies={"38": 1}))[0]
    assert result["failed"] is True
    for part in ("HSM 154712", "HTTP 422", "HSMPLUGIN_OPERATION_NOT_ALLOWED", "SOME_REASON", "What to do"):
        assert part in result["msg"]
