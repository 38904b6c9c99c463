# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.hsmops.luna.tests.unit.fixtures.replay import FIXTURES, load, replay_runs, run_module

BASE = "https://east-1.hsm.test"


def args(**extra):
    fixture = load("hsm_capability_154701")
    out = {"url": BASE, "password": "demo-admin-pw", "so_password": "demo-so-pw",
           "src": os.path.join(FIXTURES, "cuf_154701.json"), "auth_code": fixture["auth_codes"]["154701"],
           "allow_zeroize": True}
    out.update(extra)
    return out


def test_capability_check_real_again(monkeypatch):
    replay = replay_runs(monkeypatch, load("hsm_capability_154701"))
    code = args()["auth_code"]
    check, raw = run_module("hsm_capability", args(), check=True, diff=True)
    assert check["changed"] is True and replay.writes() == []
    assert check["wiped"] == [{"serial": "1000000", "label": "payments", "object_count": 2}]
    assert check["capabilities_before"]["sff_backup"] is False and check["capabilities_after"]["sff_backup"] is True
    assert check["diff"]["after"]["capabilities"]["sff_backup"] is True
    assert code not in raw

    real, raw = run_module("hsm_capability", args(), diff=True)
    assert real["changed"] is True and real["wiped"] == check["wiped"]
    assert real["capabilities_after"]["sff_backup"] is True
    upload, apply_cuf = replay.writes()
    with open(os.path.join(FIXTURES, "cuf_154701.json"), "rb") as handle:
        assert upload["raw"] == handle.read()
    assert upload["headers"]["X-Luna-File-Name"] == "cuf_154701.json"
    assert apply_cuf["path"] == "/api/lunasa/hsms/154701/capabilityUpdates"
    assert apply_cuf["body"] == {"file": "cuf_154701.json", "authCode": code}
    assert [c for c in replay.calls if c["path"].startswith("/tasks/")]
    assert code not in raw

    again = run_module("hsm_capability", args())[0]
    assert again["changed"] is False and again["wiped"] == [] and len(replay.writes()) == 2


def refused(monkeypatch, needle, check_too=True, **extra):
    for check in (True, False) if check_too else (False,):
        replay = replay_runs(monkeypatch, load("hsm_capability_154701"))
        result, raw = run_module("hsm_capability", args(**extra), check=check)
        assert result["failed"] is True, result
        assert "HSM 154701" in result["msg"] and needle in result["msg"], result["msg"]
        assert replay.writes() == [], "nothing may be uploaded or changed"
        assert "Traceback" not in raw
    return result


def test_refuses_a_cuf_for_another_serial(monkeypatch):
    refused(monkeypatch, "made for HSM 154702", src=os.path.join(FIXTURES, "cuf_154702.json"))


def test_refuses_without_allow_zeroize_and_says_what_would_be_wiped(monkeypatch):
    result = refused(monkeypatch, "allow_zeroize", allow_zeroize=False)
    assert "payments" in result["msg"] and "2 object(s)" in result["msg"]


def test_missing_and_unreadable_files(monkeypatch, tmp_path):
    refused(monkeypatch, "cannot read the CUF file", src=str(tmp_path / "missing.cuf"))
    bad = tmp_path / "bad.cuf"
    bad.write_text("{}")
    refused(monkeypatch, "not a capability update file", src=str(bad))
    refused(monkeypatch, "give src", src=None)


def test_auth_code_checked_locally(monkeypatch):
    refused(monkeypatch, "auth_code does not match", auth_code="WRONG-CODE")
    refused(monkeypatch, "auth_code is needed", auth_code=None)


def test_not_capable_hsm_is_refused_with_the_engine_reasons(monkeypatch):
    fixture = load("hsm_capability_154701")
    for item in fixture["appliances"][BASE]:
        if item["method"] == "GET" and item["path"] == "/api/lunasa/hsms/154701":
            item["body"].update(firmwareVersion="6.10.9", authenticationMethod="password")
    replay = replay_runs(monkeypatch, fixture)
    result = run_module("hsm_capability", args())[0]
    assert result["failed"] is True
    assert "FIRMWARE_TOO_OLD" in result["msg"] and "NOT_PED_AUTHENTICATED" in result["msg"]
    assert "Nothing was uploaded" in result["msg"] and replay.writes() == []
