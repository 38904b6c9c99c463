# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""partition_sync on exchanges recorded from the emulated fleet (fixtures/partition_sync)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.hsmops.luna.plugins.module_utils import luna_partitions, sff_rules
from ansible_collections.hsmops.luna.plugins.modules import partition_sync
from ansible_collections.hsmops.luna.tests.unit.fixtures.partition import harness

TARGET = "https://hsm154702.test"
PEER = "https://hsm154701.test"
SYNC = "/api/lunasa/hsms/154702/partitions/1000008/synchronize"


@pytest.fixture
def run(monkeypatch, capsys):
    def _run(fixture, **kwargs):
        return harness.run(partition_sync, monkeypatch, capsys, fixture, **kwargs)
    return _run


def test_check_mode_reports_what_would_be_cloned(run):
    res = run("partition_sync/sync_check")
    assert res.rc == 0 and res.result["changed"] is True
    assert res.result["cloned"] == 2 and res.result["object_count"] == 2
    assert sorted((o["fingerprint"], o["from"]) for o in res.result["objects"]) == [
        ("e1-pay-kek", "154701"), ("e1-pay-sign", "154701")]
    assert res.result["peers"] == [{"peer": "154701", "partition": "payments", "possible": True, "return_code": None,
                                    "reasons": []}]
    assert res.writes() == [] and res.so_logins() == []
    assert res.result["diff"]["before"] == {"objects": []}
    assert res.result["diff"]["after"] == {"objects": ["e1-pay-kek", "e1-pay-sign"]}


def test_real_run_synchronises_from_the_peer_partition(run):
    res = run("partition_sync/sync_real")
    assert res.rc == 0 and res.result["changed"] is True
    assert res.writes() == [("POST", SYNC, {"peers": [{"hsm": "154701", "partition": "1000000"}]})]
    assert res.writes(PEER) == []  # the peer is only read
    assert res.result["cloned"] == 2 and res.result["object_count"] == 2
    assert res.result["partition"] == {"serial": "1000008", "label": "payments"}
    assert harness.SO_PW not in res.out and harness.ADMIN_PW not in res.out


def test_second_run_changes_nothing(run):
    res = run("partition_sync/sync_again")
    assert res.rc == 0 and res.result["changed"] is False
    assert res.result["cloned"] == 0 and res.result["object_count"] == 2 and res.result["objects"] == []
    assert res.writes() == [] and res.so_logins() == []


def test_sff_mismatch_is_refused_with_ckr_data_invalid_before_cloning(run):
    res = run("partition_sync/sff_mismatch")
    assert res.rc == 1
    assert res.result["return_code"] == "CKR_DATA_INVALID"
    assert [(r["code"], r["serial"], r["peer"]) for r in res.result["refusals"]] == [
        ("SFF_MISMATCH", "154701", "154740")]
    msg = res.result["msg"]
    assert "HSM 154701" in msg and "HSM 154740" in msg and "SFF_MISMATCH CKR_DATA_INVALID" in msg
    assert "nothing was cloned" in msg
    assert res.writes() == [] and res.so_logins() == []


def test_appliance_refusing_the_synchronisation_fails_with_its_code(run):
    fixture = harness.load("partition_sync/sync_real")
    sync = harness.exchange(fixture, TARGET, "POST", "/synchronize")
    sync.update(status=422, body=harness.error_body("HSMPLUGIN_CLONING_FAILED", "Cloning failed.", "SFF_MISMATCH",
                                                    "CKR_DATA_INVALID"))
    res = run(fixture)
    assert res.rc == 1
    assert res.result["return_code"] == "CKR_DATA_INVALID" and res.result["error_id"] == "HSMPLUGIN_CLONING_FAILED"
    assert res.result["msg"].startswith("Partition payments: HSM 154702")


def test_peer_password_is_never_shown(run):
    fixture = harness.load("partition_sync/sync_check")
    args = harness.fixture_args(fixture)
    args["peers"][0]["password"] = "unit-peer-pw-99"
    res = run(fixture, args=args)
    assert res.rc == 0
    assert "unit-peer-pw-99" not in res.out
    peer_logins = [c for c in res.replay.calls if c["base"] == PEER and c["path"] == "/auth/session"
                   and c["method"] == "POST"]
    assert peer_logins[0]["kwargs"]["url_password"] == "unit-peer-pw-99"


def test_missing_peer_partition_names_the_peer(run):
    fixture = harness.load("partition_sync/sync_check")
    args = harness.fixture_args(fixture)
    args["peers"][0]["partition"] = "elsewhere"
    res = run(fixture, args=args)
    assert res.rc == 1
    assert res.result["msg"].startswith("peers[0]: HSM 154701 (https://hsm154701.test) has no partition")
    assert res.writes() == []


def test_empty_peers(run):
    res = run("partition_sync/sync_check", update={"peers": []})
    assert res.rc == 1 and "option 'peers' is empty" in res.result["msg"]
    assert res.replay.calls == []


# The plan itself, on facts: every decision is the engine's.


def hsm(serial, **extra):
    facts = {"serial": serial, "firmware": "6.22.0", "auth": "ped", "cloning": True, "sff_capability": False,
             "sff_policy": False, "cloning_domain": "d", "sim_secret": "s", "partitions": []}
    facts.update(extra)
    return sff_rules.validate_hsm(facts)


def part(label, *objects, **policies):
    return {"serial": "1", "label": label, "policies": policies,
            "objects": [dict({"class": "secret_key", "extractable": False, "off_board": False}, **o) for o in objects]}


def test_sync_plan_dedupes_objects_across_peers_and_skips_what_is_there():
    target = part("p", {"label": "a", "fingerprint": "fa"})
    peers = [(hsm("2"), part("p", {"label": "a", "fingerprint": "fa"}, {"label": "b", "fingerprint": "fb"})),
             (hsm("3"), part("p", {"label": "b", "fingerprint": "fb"}, {"label": "c", "fingerprint": "fc"}))]
    plan = luna_partitions.sync_plan(hsm("1"), target, peers)
    assert plan["refusals"] == []
    assert [(m["fingerprint"], m["from"]) for m in plan["missing"]] == [("fb", "2"), ("fc", "3")]


def test_sync_plan_object_rules_off_board_and_partition_policy():
    target = part("p", secret_key_cloning=False)
    peers = [(hsm("2"), part("p", {"label": "tok", "fingerprint": "ft", "off_board": True},
                             {"label": "kek", "fingerprint": "fk"},
                             {"label": "sig", "class": "private_key", "fingerprint": "fs"}))]
    plan = luna_partitions.sync_plan(hsm("1"), target, peers)
    assert [(r["code"], r["return_code"]) for r in plan["refusals"]] == [
        ("OBJECT_STORED_OFF_BOARD", "CKR_DATA_INVALID"), ("PARTITION_CLONING_FORBIDDEN", "CKR_OPERATION_NOT_ALLOWED")]
    assert [m["fingerprint"] for m in plan["missing"]] == ["fs"]


def test_sync_plan_domain_mismatch():
    plan = luna_partitions.sync_plan(hsm("1"), part("p"), [(hsm("2", cloning_domain="other"), part("p"))])
    assert [(r["code"], r["return_code"], r["peer"]) for r in plan["refusals"]] == [
        ("DOMAIN_MISMATCH", "CKR_CERTIFICATE_INVALID", "2")]
