# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.hsmops.luna.tests.unit.fixtures.replay import load, replay_runs, run_module

EAST1 = "https://east-1.hsm.test"
EAST2 = "https://east-2.hsm.test"


def args(**extra):
    out = {"group": "ha_east", "members": [{"name": "east_1", "url": EAST1}, {"name": "east_2", "url": EAST2}],
           "password": "demo-admin-pw", "so_password": "demo-so-pw", "sff_backup": True}
    out.update(extra)
    return out


def test_check_real_again(monkeypatch):
    replay = replay_runs(monkeypatch, load("ha_group_policy_ha_east"))
    check, raw = run_module("ha_group_policy", args(), check=True, diff=True)
    assert check["changed"] is True and check["plan"]["safe"] is True and check["mixed_window_ms"] is None
    assert replay.writes() == [] and not [c for c in replay.calls if c["path"].endswith("/login")]
    assert [m["after"]["sff_active"] for m in check["members"]] == [True, True]
    assert check["diff"]["after"]["sff_policy"] == {"east_1": True, "east_2": True}

    real, raw = run_module("ha_group_policy", args())
    assert real["changed"] is True and real["flipped"] == ["east_1", "east_2"]
    assert real["mixed_window_ms"] >= 0
    assert [m["before"]["sff_policy"] for m in real["members"]] == [False, False]
    assert [m["after"]["sff_policy"] for m in real["members"]] == [True, True]
    # Every SO login happens before the first flip.
    calls = [(c["base"], c["method"], c["path"]) for c in replay.calls]
    so_logins = [i for i, c in enumerate(calls) if c[1] == "POST" and c[2].endswith("/login")]
    flips = [i for i, c in enumerate(calls) if c[1] == "PUT"]
    assert len(so_logins) == 2 and len(flips) == 2 and max(so_logins) < min(flips)
    assert "demo-so-pw" not in raw

    again = run_module("ha_group_policy", args())[0]
    assert again["changed"] is False and again["flipped"] == [] and again["mixed_window_ms"] == 0
    assert len(replay.writes()) == 2


def _real_run_fixture():
    """The recording from the real run on (its check-mode part skipped by a first replayed run)."""
    return load("ha_group_policy_ha_east")


def test_failure_midway_names_changed_members_and_how_to_finish(monkeypatch):
    fixture = _real_run_fixture()
    for item in fixture["appliances"][EAST2]:
        if item["method"] == "PUT":
            item.update(status=503, headers={}, body={"id": "FRAMEWORK_SERVICE_UNAVAILABLE", "message": "busy",
                                                      "details": "", "returnCode": 0, "status": "ERROR", "type": "e"})
            break
    replay = replay_runs(monkeypatch, fixture)
    run_module("ha_group_policy", args(), check=True)
    result = run_module("ha_group_policy", args())[0]
    assert result["failed"] is True and result["changed"] is True
    assert result["flipped"] == ["east_1"]
    msg = result["msg"]
    assert "MIXED" in msg and "on east_1 but not on east_2" in msg and "Run this task again" in msg
    assert "HTTP 503" in msg and "CKR_DATA_INVALID" in msg
    # The write was not retried.
    assert len([w for w in replay.writes() if w["base"] == EAST2]) == 1


def test_so_login_failure_changes_no_member(monkeypatch):
    fixture = _real_run_fixture()
    for item in fixture["appliances"][EAST2]:
        if item["method"] == "POST" and item["path"].endswith("/login"):
            item.update(status=401, headers={}, body={"id": "HSMPLUGIN_LOGIN_FAILED", "message": "SO login failed",
                                                      "details": "", "returnCode": 0, "status": "ERROR", "type": "e"})
            break
    replay = replay_runs(monkeypatch, fixture)
    run_module("ha_group_policy", args(), check=True)
    result = run_module("ha_group_policy", args())[0]
    assert result["failed"] is True and result["changed"] is False and result["flipped"] == []
    assert "no member was changed" in result["msg"] and "HSM 154702" in result["msg"]
    assert replay.writes() == []


def test_member_without_cuf_is_refused(monkeypatch):
    fixture = _real_run_fixture()
    for item in fixture["appliances"][EAST2]:
        if item["path"].endswith("/capabilities"):
            for cap in item["body"]["capabilities"]:
                if cap["code"] == 38:
                    cap["value"] = 0
    replay = replay_runs(monkeypatch, fixture)
    result = run_module("ha_group_policy", args())[0]
    assert result["failed"] is True and "154702" in result["msg"] and "CUF_NOT_APPLIED" in result["msg"]
    assert "nothing was changed" in result["msg"] and replay.writes() == []
    steps = dict((step["serial"], step["actions"]) for step in result["plan"]["steps"])
    assert steps == {"154701": ["enable_policy"], "154702": ["apply_cuf", "enable_policy"]}


def test_unreachable_member_changes_nothing(monkeypatch):
    fixture = _real_run_fixture()
    fixture["appliances"][EAST2] = [{"method": "POST", "path": "/auth/session", "raise": "refused"}] * 4
    replay = replay_runs(monkeypatch, fixture)
    result = run_module("ha_group_policy", args())[0]
    assert result["failed"] is True and "east_2" in result["msg"] and "nothing was changed" in result["msg"]
    assert replay.writes() == []


def test_flips_are_sent_together_not_one_after_the_other(monkeypatch):
    """No member's flip is answered before every member's flip has been sent: one after the other,
    the first would wait for the second forever (here: until the 5 s guard), and the test fails."""
    import threading

    replay = replay_runs(monkeypatch, _real_run_fixture())
    run_module("ha_group_policy", args(), check=True)
    all_sent = threading.Barrier(2)
    seen = {"waited": 0, "broken": 0}

    def answer_when_all_sent(url, **kwargs):
        if kwargs.get("method") == "PUT":
            try:
                all_sent.wait(timeout=5)
                seen["waited"] += 1
            except threading.BrokenBarrierError:
                seen["broken"] += 1
        return replay(url, **kwargs)

    from ansible_collections.hsmops.luna.plugins.module_utils import luna_client

    monkeypatch.setattr(luna_client, "http_open", answer_when_all_sent)
    result = run_module("ha_group_policy", args())[0]
    assert seen == {"waited": 2, "broken": 0}
    assert result["changed"] is True and sorted(result["flipped"]) == ["east_1", "east_2"]
    assert result["mixed_window_ms"] >= 0
