# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""hsm_capability, hsm_policy and ha_group_policy against the emulated demo fleet.

Every change runs in check mode (nothing changes on the appliance), for real, and again
(changed=false); every refusal re-reads the facts to prove nothing changed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json


def check_real_again(ansible, module, args, emulator, serials):
    """-> (check result, real result, second result); asserts check mode changed nothing."""
    before = dict((s, emulator.facts(s)) for s in serials)
    check = ansible.module(module, args, check=True, diff=True)
    assert check.rc == 0, check
    assert check.result["changed"] is True
    for serial in serials:
        assert emulator.facts(serial) == before[serial], "check mode changed HSM %s" % serial
    real = ansible.module(module, args, diff=True)
    assert real.rc == 0, real
    assert real.result["changed"] is True
    again = ansible.module(module, args, diff=True)
    assert again.rc == 0, again
    assert again.result["changed"] is False
    return check, real, again


def refused(ansible, module, args, emulator, serials, *needles):
    before = dict((s, emulator.facts(s)) for s in serials)
    for check in (True, False):
        run = ansible.module(module, args, check=check)
        assert run.rc != 0, run
        msg = run.result["msg"]
        for needle in needles:
            assert needle in msg, (needle, msg)
        assert "Traceback" not in run.output
    for serial in serials:
        assert emulator.facts(serial) == before[serial], "refusal changed HSM %s" % serial
    return msg


# ---------------------------------------------------------------- hsm_capability


def test_capability_check_real_again(emulator, ansible):
    cuf, auth = emulator.mint_cuf("154701")
    args = dict(emulator.conn("154701"), so_password=emulator.so_password, src=cuf, auth_code=auth,
                allow_zeroize=True)
    check, real, again = check_real_again(ansible, "hsm_capability", args, emulator, ["154701"])
    wiped = [{"serial": check.result["wiped"][0]["serial"], "label": "payments", "object_count": 2}]
    assert check.result["wiped"] == wiped and real.result["wiped"] == wiped and again.result["wiped"] == []
    assert check.result["capabilities_before"]["sff_backup"] is False
    assert real.result["capabilities_after"]["sff_backup"] is True
    assert "sff_backup" in check.stdout  # the diff is shown
    facts = emulator.facts("154701")
    assert facts["sff_capability"] is True and facts["sff_policy"] is False and facts["partitions"] == []


def test_capability_refuses_without_allow_zeroize(emulator, ansible):
    cuf, auth = emulator.mint_cuf("154701")
    args = dict(emulator.conn("154701"), so_password=emulator.so_password, src=cuf, auth_code=auth)
    refused(ansible, "hsm_capability", args, emulator, ["154701"], "HSM 154701", "allow_zeroize", "payments")


def test_capability_refuses_a_file_for_another_serial(emulator, ansible):
    cuf, auth = emulator.mint_cuf("154702")
    args = dict(emulator.conn("154701"), so_password=emulator.so_password, src=cuf, auth_code=auth,
                allow_zeroize=True)
    refused(ansible, "hsm_capability", args, emulator, ["154701"], "HSM 154701", "made for HSM 154702")


def test_capability_refuses_when_the_engine_says_not_capable(emulator, ansible):
    for serial, code in (("154720", "NOT_PED_AUTHENTICATED"), ("150001", "FIRMWARE_TOO_OLD"),
                         ("154730", "NOT_CLONING_HSM")):
        cuf, auth = emulator.mint_cuf(serial)
        args = dict(emulator.conn(serial), so_password=emulator.so_password, src=cuf, auth_code=auth,
                    allow_zeroize=True)
        refused(ansible, "hsm_capability", args, emulator, [serial], "HSM %s" % serial, code)


def test_capability_missing_or_unreadable_file(emulator, ansible, tmp_path):
    args = dict(emulator.conn("154701"), so_password=emulator.so_password, src=str(tmp_path / "none.cuf"),
                auth_code="x", allow_zeroize=True)
    refused(ansible, "hsm_capability", args, emulator, ["154701"], "HSM 154701", "cannot read the CUF file")
    bad = tmp_path / "bad.cuf"
    bad.write_text("garbage")
    args["src"] = str(bad)
    refused(ansible, "hsm_capability", args, emulator, ["154701"], "not a capability update file")


def test_capability_wrong_auth_code_and_tampered_file(emulator, ansible, tmp_path):
    cuf, auth = emulator.mint_cuf("154701")
    args = dict(emulator.conn("154701"), so_password=emulator.so_password, src=cuf, auth_code="WRONG",
                allow_zeroize=True)
    refused(ansible, "hsm_capability", args, emulator, ["154701"], "auth_code does not match")
    # A file whose payload was edited: only the appliance can tell (signature), and it refuses.
    doc = json.load(open(cuf))
    doc["payload"]["issued"] = "2000-01-01T00:00:00Z"
    tampered = tmp_path / "tampered.cuf"
    tampered.write_text(json.dumps(doc))
    args.update(src=str(tampered), auth_code=auth)
    before = emulator.facts("154701")
    run = ansible.module("hsm_capability", args)
    assert run.rc != 0 and "CUF_BAD_SIGNATURE" in run.result["msg"] and "154701" in run.result["msg"], run
    assert emulator.facts("154701") == before


def test_capability_already_applied_needs_no_file(emulator, ansible):
    run = ansible.module("hsm_capability", dict(emulator.conn("154712"), allow_zeroize=False))
    assert run.rc == 0 and run.result["changed"] is False, run


# ---------------------------------------------------------------- hsm_policy


def test_policy_sff_on_check_real_again(emulator, ansible):
    args = dict(emulator.conn("154712"), so_password=emulator.so_password, policies={"38": 1})
    check, real, again = check_real_again(ansible, "hsm_policy", args, emulator, ["154712"])
    assert real.result["changes"] == [{"code": 38, "name": "sff_backup", "from": False, "to": True}]
    assert real.result["before"]["sff_backup"] is False and real.result["after"]["sff_backup"] is True
    assert again.result["changes"] == []
    assert emulator.facts("154712")["sff_policy"] is True


def test_policy_by_name_changes_only_what_differs(emulator, ansible):
    current = emulator.facts("154713")["policies"]
    args = dict(emulator.conn("154713"), so_password=emulator.so_password,
                policies={"network_replication": current["network_replication"],
                          "remote_ped": not current["remote_ped"]})
    check, real, again = check_real_again(ansible, "hsm_policy", args, emulator, ["154713"])
    assert [c["name"] for c in real.result["changes"]] == ["remote_ped"]


def test_policy_sff_on_without_cuf_is_refused_with_the_engine_reason(emulator, ansible):
    args = dict(emulator.conn("154701"), so_password=emulator.so_password, policies={"sff_backup": True})
    refused(ansible, "hsm_policy", args, emulator, ["154701"], "HSM 154701", "CUF_NOT_APPLIED")


def test_policy_destructive_needs_allow_zeroize(emulator, ansible):
    current = emulator.facts("154713")["policies"]
    args = dict(emulator.conn("154713"), so_password=emulator.so_password,
                policies={"non_fips_algorithms": not current["non_fips_algorithms"]})
    refused(ansible, "hsm_policy", args, emulator, ["154713"], "HSM 154713", "destructive", "allow_zeroize")
    args["allow_zeroize"] = True
    check, real, again = check_real_again(ansible, "hsm_policy", args, emulator, ["154713"])
    assert [w["label"] for w in real.result["wiped"]] == ["tokens"]
    assert emulator.facts("154713")["partitions"] == []


def test_policy_unknown_and_fixed_are_refused(emulator, ansible):
    args = dict(emulator.conn("154701"), so_password=emulator.so_password, policies={"turbo": True})
    msg = refused(ansible, "hsm_policy", args, emulator, ["154701"], "unknown HSM policy", "sff_backup (38)")
    assert "masking (6)" in msg
    args["policies"] = {"99": 1}
    refused(ansible, "hsm_policy", args, emulator, ["154701"], "unknown HSM policy")
    current = emulator.facts("154701")["policies"]
    args["policies"] = {"pin_authentication": not current["pin_authentication"]}
    refused(ansible, "hsm_policy", args, emulator, ["154701"], "fixed at manufacture")


def test_policy_wrong_so_password_changes_nothing(emulator, ansible):
    args = dict(emulator.conn("154712"), so_password="wrong-so", policies={"sff_backup": True})
    before = emulator.facts("154712")
    run = ansible.module("hsm_policy", args)
    assert run.rc != 0 and "HSMPLUGIN_LOGIN_FAILED" in run.result["msg"] and "so_password" in run.result["msg"], run
    assert emulator.facts("154712") == before


# ---------------------------------------------------------------- ha_group_policy


def members(emulator, serials):
    return [{"name": emulator.hosts[s], "url": emulator.urls[s]} for s in serials]


def group_args(emulator, name, serials, on=True):
    return {"group": name, "members": members(emulator, serials), "password": emulator.admin_password,
            "so_password": emulator.so_password, "ca_path": emulator.ca_path, "sff_backup": on}


def apply_cuf(emulator, ansible, serial):
    cuf, auth = emulator.mint_cuf(serial)
    run = ansible.module("hsm_capability", dict(emulator.conn(serial), so_password=emulator.so_password, src=cuf,
                                                auth_code=auth, allow_zeroize=True))
    assert run.rc == 0, run


def test_ha_group_policy_check_real_again(emulator, ansible):
    for serial in ("154701", "154702"):
        apply_cuf(emulator, ansible, serial)
    args = group_args(emulator, "ha_east", ["154701", "154702"])
    check, real, again = check_real_again(ansible, "ha_group_policy", args, emulator, ["154701", "154702"])
    assert check.result["plan"]["safe"] is True and check.result["mixed_window_ms"] is None
    assert sorted(real.result["flipped"]) == sorted(emulator.hosts[s] for s in ("154701", "154702"))
    assert real.result["mixed_window_ms"] >= 0 and again.result["mixed_window_ms"] == 0
    assert all(m["after"]["sff_active"] for m in real.result["members"])
    assert all(emulator.facts(s)["sff_policy"] for s in ("154701", "154702"))
    # And back off again.
    off = dict(args, sff_backup=False)
    check_real_again(ansible, "ha_group_policy", off, emulator, ["154701", "154702"])


def test_ha_group_policy_refuses_a_member_without_cuf(emulator, ansible):
    args = group_args(emulator, "ha_west", ["154711", "154712", "154713"])
    refused(ansible, "ha_group_policy", args, emulator, ["154711", "154712", "154713"], "ha_west", "154711",
            "hsm_capability")


def test_ha_group_policy_refuses_a_group_that_cannot_have_sff(emulator, ansible):
    args = group_args(emulator, "ha_legacy", ["150001", "150002"])
    refused(ansible, "ha_group_policy", args, emulator, ["150001", "150002"], "FIRMWARE", "150001")


def test_ha_group_policy_unreachable_member_changes_nothing(emulator, ansible):
    for serial in ("154701", "154702"):
        apply_cuf(emulator, ansible, serial)
    args = group_args(emulator, "ha_east", ["154701", "154702"])
    args["members"].append({"name": "ghost", "url": "https://127.0.0.1:1"})
    args["timeout"] = 3
    refused(ansible, "ha_group_policy", args, emulator, ["154701", "154702"], "ghost", "nothing was changed")


def test_ha_group_policy_failure_midway_names_the_changed_members(emulator, ansible):
    for serial in ("154701", "154702"):
        apply_cuf(emulator, ansible, serial)
    # The second member's appliance fails every request after its 7th: session login, HSM list,
    # HSM, capabilities, policies, partitions (the CUF left none), SO login; its flip gets 503.
    emulator.set_faults("154702", fail_after=7, fail_status=503)
    args = group_args(emulator, "ha_east", ["154701", "154702"])
    run = ansible.module("ha_group_policy", args)
    assert run.rc != 0, run
    msg = run.result["msg"]
    assert "FAULT_INJECTED" in msg, msg  # the flip itself failed, not the SO login
    assert "MIXED" in msg and "east_1" in msg and "east_2" in msg and "Run this task again" in msg
    assert run.result["flipped"] == ["east_1"] and run.result["changed"] is True
    assert emulator.facts("154701")["sff_policy"] is True
    emulator.set_faults("154702")
    finish = ansible.module("ha_group_policy", args)
    assert finish.rc == 0 and finish.result["flipped"] == ["east_2"], finish
    assert all(emulator.facts(s)["sff_policy"] for s in ("154701", "154702"))
