# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""partition_policy on exchanges recorded from the emulated fleet (fixtures/partition_policy)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.hsmops.luna.plugins.modules import partition_policy
from ansible_collections.hsmops.luna.tests.unit.fixtures.partition import harness

BASE = "https://hsm154740.test"
VAULT = "/api/lunasa/hsms/154740/partitions/1000007"


@pytest.fixture
def run(monkeypatch, capsys):
    def _run(fixture, **kwargs):
        return harness.run(partition_policy, monkeypatch, capsys, fixture, **kwargs)
    return _run


def test_check_mode_reports_the_changes_and_writes_nothing(run):
    res = run("partition_policy/forbid_sff_check")
    assert res.rc == 0 and res.result["changed"] is True
    assert res.result["changes"] == [
        {"code": 35, "name": "private_key_sff_backup", "from": True, "to": False},
        {"code": 36, "name": "secret_key_sff_backup", "from": True, "to": False},
    ]
    assert res.result["after"]["private_key_sff_backup"] is False
    assert res.writes() == [] and res.so_logins() == []
    assert res.result["diff"]["before"]["policies"]["secret_key_sff_backup"] is True
    assert res.result["diff"]["after"]["policies"]["secret_key_sff_backup"] is False


def test_real_run_sets_only_what_differs_and_reads_back(run):
    res = run("partition_policy/forbid_sff_real")
    assert res.rc == 0 and res.result["changed"] is True
    assert res.writes() == [("PUT", VAULT + "/policies/35", {"value": 0}), ("PUT", VAULT + "/policies/36", {"value": 0})]
    # read back from the appliance, not predicted
    assert res.result["after"]["private_key_sff_backup"] is False
    assert res.result["after"]["secret_key_sff_backup"] is False
    assert res.result["partition"] == {"serial": "1000007", "label": "vault"} and res.result["serial"] == "154740"
    # the SO password reaches the appliance and nowhere else
    assert [c["body"]["password"] for c in res.so_logins()] == [harness.SO_PW]
    assert harness.SO_PW not in res.out and harness.ADMIN_PW not in res.out


def test_second_run_changes_nothing_and_logs_no_so_in(run):
    res = run("partition_policy/forbid_sff_again")
    assert res.rc == 0 and res.result["changed"] is False and res.result["changes"] == []
    assert res.writes() == [] and res.so_logins() == []


def test_the_same_by_code_and_serial(run):
    fixture = harness.load("partition_policy/forbid_sff_real")
    args = harness.fixture_args(fixture)
    args.update(partition="1000007", policies={"35": 0, "36": "off"})
    res = run(fixture, args=args)
    assert res.rc == 0, res.result
    assert [w[1].rsplit("/", 1)[1] for w in res.writes()] == ["35", "36"]


def test_relaxing_beyond_the_hsm_is_refused_before_any_change(run):
    res = run("partition_policy/relax_refused")
    assert res.rc == 1 and res.result["failed"] is True
    assert [r["code"] for r in res.result["refusals"]] == ["HSM_POLICY_FORBIDS"]
    msg = res.result["msg"]
    assert "HSM 154701" in msg and "partition payments" in msg and "nothing was changed" in msg
    assert "private_key_sff_backup (35)" in msg
    # the allowed part of the request (high_availability off) is not applied either
    assert res.writes() == [] and res.so_logins() == []


def test_appliance_failing_midway_names_policy_and_what_could_not_be_set_back(run):
    res = run("partition_policy/appliance_fails_midway")
    assert res.rc == 1
    msg = res.result["msg"]
    assert msg.startswith("HSM 154740 (https://hsm154740.test), partition vault: setting policy secret_key_sff_backup (36)")
    assert "HTTP 503" in msg and "Could NOT set back: private_key_sff_backup" in msg
    # 35 off, 36 off (fails), then 35 back on (fails too)
    assert res.writes() == [("PUT", VAULT + "/policies/35", {"value": 0}), ("PUT", VAULT + "/policies/36", {"value": 0}),
                            ("PUT", VAULT + "/policies/35", {"value": 1})]


def test_appliance_refusing_the_second_change_sets_the_first_back(run):
    # The recorded real run, with the appliance refusing policy 36 and accepting 35 being set back.
    fixture = harness.load("partition_policy/forbid_sff_real")
    refused = harness.exchange(fixture, BASE, "PUT", "/policies/36")
    refused.update(status=422, body=harness.error_body("HSMPLUGIN_OPERATION_NOT_ALLOWED", "Refused by the HSM.",
                                                       "HSM_POLICY_FORBIDS"))
    fixture["appliances"][BASE].append({"method": "PUT", "path": VAULT + "/policies/35", "status": 204, "body": None})
    res = run(fixture)
    assert res.rc == 1
    assert "Set back: private_key_sff_backup." in res.result["msg"] and "Could NOT" not in res.result["msg"]
    assert "HSMPLUGIN_OPERATION_NOT_ALLOWED" in res.result["msg"]
    assert res.writes()[-1] == ("PUT", VAULT + "/policies/35", {"value": 1})


def test_unknown_partition_lists_what_exists(run):
    fixture = harness.load("partition_policy/forbid_sff_check")
    args = harness.fixture_args(fixture)
    args["partition"] = "nope"
    res = run(fixture, args=args)
    assert res.rc == 1
    assert "HSM 154740" in res.result["msg"] and "'nope'" in res.result["msg"] and "it has: vault" in res.result["msg"]


@pytest.mark.parametrize("policies, words", [
    ({"sff": True}, "unknown partition policy 'sff'"),
    ({"99": True}, "unknown partition policy '99'"),
    ({"35": "maybe"}, "35 must be true/false"),
    ({"35": True, "private_key_sff_backup": False}, "given twice"),
])
def test_bad_policies_fail_before_any_request(run, policies, words):
    fixture = harness.load("partition_policy/forbid_sff_check")
    args = harness.fixture_args(fixture)
    args["policies"] = policies
    res = run(fixture, args=args)
    assert res.rc == 1 and words in res.result["msg"] and "option 'policies'" in res.result["msg"]
    assert res.replay.calls == []


def test_change_without_so_password_fails_naming_it(run):
    fixture = harness.load("partition_policy/forbid_sff_real")
    args = harness.fixture_args(fixture)
    del args["so_password"]
    res = run(fixture, args=args)
    assert res.rc == 1 and "so_password" in res.result["msg"] and res.writes() == []
