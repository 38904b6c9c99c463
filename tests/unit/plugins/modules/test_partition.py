# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""partition on exchanges recorded from the emulated fleet (fixtures/partition)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.hsmops.luna.plugins.modules import partition
from ansible_collections.hsmops.luna.tests.unit.fixtures.partition import harness

BASE = "https://hsm154701.test"
HSM = "/api/lunasa/hsms/154701"


@pytest.fixture
def run(monkeypatch, capsys):
    def _run(fixture, **kwargs):
        return harness.run(partition, monkeypatch, capsys, fixture, **kwargs)
    return _run


def test_create_check_mode_predicts_and_writes_nothing(run):
    res = run("partition/create_check")
    assert res.rc == 0 and res.result["changed"] is True
    assert res.result["partition"] == {"serial": None, "label": "scratch", "object_count": 0, "objects": [],
                                       "policies": {"high_availability": True, "private_key_cloning": False}}
    assert res.result["before"] == {}
    assert res.writes() == [] and res.so_logins() == []


def test_create_sets_only_the_policies_that_differ_from_the_new_partitions(run):
    res = run("partition/create_real")
    assert res.rc == 0 and res.result["changed"] is True
    assert res.writes() == [("POST", HSM + "/partitions", {"name": "scratch"}),
                            ("PUT", HSM + "/partitions/1000008/policies/0", {"value": 0})]
    part = res.result["partition"]
    assert part["serial"] == "1000008" and part["label"] == "scratch" and part["object_count"] == 0
    assert part["policies"]["private_key_cloning"] is False and part["policies"]["high_availability"] is True
    assert res.result["diff"]["before"] == {} and res.result["diff"]["after"]["serial"] == "1000008"
    assert harness.SO_PW not in res.out and harness.ADMIN_PW not in res.out


def test_existing_partition_is_left_alone(run):
    res = run("partition/create_again")
    assert res.rc == 0 and res.result["changed"] is False
    assert res.writes() == [] and res.so_logins() == []
    assert res.result["partition"] == res.result["before"]
    assert "warnings" not in res.result


def test_existing_partition_with_other_policies_warns(run):
    fixture = harness.load("partition/create_again")
    args = harness.fixture_args(fixture)
    args["policies"] = {"high_availability": False}
    res = run(fixture, args=args)
    assert res.rc == 0 and res.result["changed"] is False and res.writes() == []
    assert len(res.result["warnings"]) == 1
    text = str(res.result["warnings"][0])  # ansible-core 2.19 wraps warnings in a summary dict
    assert "partition scratch exists" in text and "high_availability" in text and "partition_policy" in text


def test_create_refused_before_anything_when_the_hsm_does_not_allow_a_policy(run):
    res = run("partition/create_refused")
    assert res.rc == 1
    assert [r["code"] for r in res.result["refusals"]] == ["HSM_POLICY_FORBIDS"]
    assert "HSM 154701" in res.result["msg"] and "archive2 not created" in res.result["msg"]
    assert res.writes() == [] and res.so_logins() == []


def test_policy_refused_after_creation_deletes_the_new_partition(run):
    fixture = harness.load("partition/create_real")
    put = harness.exchange(fixture, BASE, "PUT", "/policies/0")
    put.update(status=422, body=harness.error_body("HSMPLUGIN_OPERATION_NOT_ALLOWED", "Refused.", "HSM_POLICY_FORBIDS"))
    fixture["appliances"][BASE].append({"method": "DELETE", "path": HSM + "/partitions/1000008", "status": 204,
                                        "body": None})
    res = run(fixture)
    assert res.rc == 1
    assert "the new partition 1000008 was deleted again" in res.result["msg"]
    assert [w[0] for w in res.writes()] == ["POST", "PUT", "DELETE"]


def test_appliance_failing_after_creation_says_what_is_left(run):
    res = run("partition/create_policy_fails")
    assert res.rc == 1
    msg = res.result["msg"]
    assert "HSM 154701" in msg and "new partition scratch" in msg and "HTTP 503" in msg
    assert "deleting the half-made partition 1000008 failed too" in msg and "delete it by hand" in msg
    assert [w[0] for w in res.writes()] == ["POST", "DELETE"]


def test_absent_refuses_a_partition_with_objects(run):
    res = run("partition/absent_refused")
    assert res.rc == 1
    assert "holds 2 object(s)" in res.result["msg"] and "allow_delete: true" in res.result["msg"]
    assert res.result["partition"]["label"] == "payments"
    assert res.writes() == [] and res.so_logins() == []


def test_absent_with_allow_delete(run):
    res = run("partition/absent_real")
    assert res.rc == 0 and res.result["changed"] is True
    assert res.writes() == [("DELETE", HSM + "/partitions/1000000", None)]
    assert res.result["partition"] == {} and res.result["before"]["object_count"] == 2


def test_absent_check_mode_deletes_nothing(run):
    res = run("partition/absent_real", check=True)
    assert res.rc == 0 and res.result["changed"] is True
    assert res.writes() == [] and res.so_logins() == []


def test_absent_when_missing(run):
    res = run("partition/absent_missing")
    assert res.rc == 0 and res.result["changed"] is False and res.result["before"] == {}
    assert res.writes() == []


def test_a_label_of_digits_never_matches_another_partitions_serial(run):
    # payments has serial 1000000: a partition labelled "1000000" does not exist.
    fixture = harness.load("partition/absent_missing")
    args = harness.fixture_args(fixture)
    args["label"] = "1000000"
    res = run(fixture, args=args)
    assert res.rc == 0 and res.result["changed"] is False and res.writes() == []


@pytest.mark.parametrize("update, words", [
    ({"label": "has space"}, "option 'label'"),
    ({"label": "x" * 33}, "option 'label'"),
    ({"policies": {"nope": True}}, "unknown partition policy 'nope'"),
])
def test_bad_input_fails_before_any_request(run, update, words):
    res = run("partition/create_check", update=update)
    assert res.rc == 1 and words in res.result["msg"]
    assert res.replay.calls == []
