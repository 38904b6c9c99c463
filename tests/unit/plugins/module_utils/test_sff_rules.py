# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules engine against the specification (the Luna 6 "Cloning and SFF Backup Option Use
Cases" page): every table row and every summary sentence is a case whose id quotes it."""

from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.hsmops.luna.plugins.module_utils import sff_rules as rules
from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import FactError

PRE = "6.2.1"   # "F/w prior to version 6.21.0"
NEW = "6.22.0"  # "F/w version 6.21.0 or newer"


def hsm(serial="154701", firmware=NEW, cuf=False, policy=False, **extra):
    facts = {
        "serial": serial, "label": "hsm_%s" % serial, "firmware": firmware, "auth": "ped", "cloning": True,
        "sff_capability": cuf, "sff_policy": policy, "cloning_domain": "dom_a", "sim_secret": "sim_a",
        "partitions": [],
    }
    facts.update(extra)
    return facts


class LazyMapping(Mapping):
    """Stands in for Jinja's lazy containers: a Mapping that is not a dict."""

    def __init__(self, data):
        self._data = data

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)


class LazySequence(Sequence):
    def __init__(self, data):
        self._data = list(data)

    def __getitem__(self, index):
        return self._data[index]

    def __len__(self):
        return len(self._data)


# --------------------------------------------------------------------------------------------
# Table 1: "Cloning and SFF backup compatibility" (source fw/CUF/policy, target fw/CUF/policy,
# cloning outcome, SFF backup). N/A (old firmware) is given as no CUF and policy off.

TABLE_1 = [
    pytest.param(
        (PRE, False, False), (PRE, False, False), True, (False, False),
        id="t1r1: pre-6.21.0 N/A N/A -> pre-6.21.0 N/A N/A: 'No change. Cloning ... possible if the two HSMs share "
           "the same cloning domain. This was always the case.' SFF: None"),
    pytest.param(
        (PRE, False, False), (NEW, False, False), True, (False, False),
        id="t1r2: pre-6.21.0 N/A N/A -> 6.21.0+ No No: 'No change. Cloning ... possible if ... same cloning domain.' "
           "SFF: None"),
    pytest.param(
        (NEW, False, False), (PRE, False, False), True, (False, False),
        id="t1r3: 6.21.0+ No No -> pre-6.21.0 N/A N/A: 'No change. Cloning ... possible if ... same cloning domain.' "
           "SFF: None"),
    pytest.param(
        (NEW, True, True), (PRE, False, False), False, (True, False),
        id="t1r4: 6.21.0+ Yes Yes -> pre-6.21.0 N/A N/A: 'Cloning is NOT possible ... prevented when mismatch of "
           "settings is detected.' SFF: 'Source can use SFF backup, Target cannot'"),
    pytest.param(
        (NEW, True, True), (NEW, False, False), False, (True, False),
        id="t1r5: 6.21.0+ Yes Yes -> 6.21.0+ No No: 'Cloning is NOT possible ... mismatch of settings is detected.' "
           "SFF: 'Source can use SFF backup, Target cannot'"),
    pytest.param(
        (NEW, True, True), (NEW, True, True), True, (True, True),
        id="t1r6: 6.21.0+ Yes Yes -> 6.21.0+ Yes Yes: 'Cloning ... possible if the two HSMs share the same cloning "
           "domain.' SFF: 'Source and Target can both use SFF backup'"),
]


@pytest.mark.parametrize("source, target, possible, sff", TABLE_1)
@pytest.mark.parametrize("old, new", [(PRE, NEW), ("6.20.99", "6.21.0"), ("6.0.8", "6.24.1")],
                         ids=["fw-6.2.1/6.22.0", "fw-6.20.99/6.21.0", "fw-6.0.8/6.24.1"])
def test_table_1_row(source, target, possible, sff, old, new):
    def facts(serial, spec):
        firmware = new if spec[0] == NEW else old
        return hsm(serial, firmware, spec[1], spec[2])

    src, dst = facts("1", source), facts("2", target)
    verdict = rules.clone_verdict(src, dst)
    assert verdict["possible"] is possible
    assert (verdict["source_sff_active"], verdict["target_sff_active"]) == sff
    assert (rules.sff_active(src), rules.sff_active(dst)) == sff
    if possible:
        assert verdict["reasons"] == [] and verdict["error"] is None
    else:
        # "prevented when mismatch of settings is detected": the cloning summary names the error.
        assert verdict["reasons"] == ["SFF_MISMATCH"]
        assert verdict["error"] == "CKR_DATA_INVALID"
        assert rules.clone_failure_code(verdict) == "CKR_DATA_INVALID"


@pytest.mark.parametrize("source, target, possible, sff", [p for p in TABLE_1 if p.values[2]])
def test_table_1_possible_rows_need_the_same_cloning_domain(source, target, possible, sff):
    """'Cloning from one HSM to another is possible if the two HSMs share the same cloning domain.'"""
    src = hsm("1", source[0], source[1], source[2], cloning_domain="dom_a")
    dst = hsm("2", target[0], target[1], target[2], cloning_domain="dom_b")
    verdict = rules.clone_verdict(src, dst)
    assert verdict["possible"] is False
    assert verdict["reasons"] == ["DOMAIN_MISMATCH"]
    assert verdict["error"] is None  # the published CKR_DATA_INVALID is for SFF mismatches only
    assert rules.clone_failure_code(verdict) == rules.CKR_FOR_REASON["DOMAIN_MISMATCH"]


@pytest.mark.parametrize("same_sim, interchange", [(True, True), (False, False)],
                         ids=["t1r6 'Can interchange provided the same SIM secret is on both HSMs': same SIM",
                              "t1r6 'Can interchange provided the same SIM secret is on both HSMs': other SIM"])
def test_table_1_last_row_interchange_needs_the_same_sim_secret(same_sim, interchange):
    src = hsm("1", NEW, True, True, sim_secret="sim_a")
    dst = hsm("2", NEW, True, True, sim_secret="sim_a" if same_sim else "sim_b")
    verdict = rules.clone_verdict(src, dst)
    assert verdict["possible"] is True
    assert verdict["sff_interchange"] is interchange
    assert verdict["interchange_reasons"] == ([] if interchange else ["SIM_SECRET_MISMATCH"])


def test_table_1_interchange_needs_a_known_sim_secret():
    verdict = rules.clone_verdict(hsm("1", NEW, True, True, sim_secret=None), hsm("2", NEW, True, True, sim_secret=None))
    assert verdict["sff_interchange"] is False and verdict["interchange_reasons"] == ["SIM_SECRET_MISMATCH"]


@pytest.mark.parametrize("row", [0, 1, 2], ids=["t1r1 SFF None", "t1r2 SFF None", "t1r3 SFF None"])
def test_table_1_sff_none_rows_cannot_interchange(row):
    source, target = TABLE_1[row].values[:2]
    verdict = rules.clone_verdict(hsm("1", *source), hsm("2", *target))
    assert verdict["sff_interchange"] is False
    assert "SFF_NOT_ACTIVE" in verdict["interchange_reasons"]


# --------------------------------------------------------------------------------------------
# Note 1 and Note 2 under table 1.

NOTE_2 = [
    pytest.param(NEW, True, False, id="Note 2: 'CUF is installed but the policy is off' -> SFF cannot work"),
    pytest.param(NEW, False, True, id="Note 2: policy set without the CUF -> SFF cannot work"),
    pytest.param("6.20.99", True, True, id="Note 2: firmware below 6.21.0 with CUF and policy -> SFF cannot work"),
    pytest.param(NEW, False, False, id="Note 2: neither CUF nor policy -> SFF cannot work"),
]


@pytest.mark.parametrize("firmware, cuf, policy", NOTE_2)
def test_note_2_all_three_of_firmware_cuf_policy_are_needed(firmware, cuf, policy):
    """'If any of the three (firmware, CUF, policy) is not correct, the SFF backup feature cannot work.'"""
    facts = hsm("1", firmware, cuf, policy)
    assert rules.sff_active(facts) is False
    assert rules.sff_status(facts)["sff_active"] is False
    # ... and such an HSM clones as it always did, with old firmware and with other SFF-off HSMs.
    assert rules.clone_verdict(facts, hsm("2", PRE))["possible"] is True
    assert rules.clone_verdict(facts, hsm("2", NEW))["possible"] is True
    assert rules.clone_verdict(facts, hsm("2", NEW, True, True))["error"] == "CKR_DATA_INVALID"


def test_note_2_all_three_in_place_is_active():
    assert rules.sff_active(hsm("1", "6.21.0", True, True)) is True


NOTE_1_PARTS = [
    {"label": "no_sff", "policies": {"private_key_sff_backup": False, "secret_key_sff_backup": False}},
    {"label": "sff", "policies": {"private_key_sff_backup": True, "secret_key_sff_backup": True}},
]


def test_note_1_partition_policy_has_no_effect_at_hsm_level():
    """'The partition SFF backup policy does not have an effect at this level. The HSM-level policy governs.'"""
    on_forbidding = hsm("1", NEW, True, True, partitions=[NOTE_1_PARTS[0]])
    on_plain = hsm("1", NEW, True, True)
    off_allowing = hsm("2", NEW, False, False, partitions=[NOTE_1_PARTS[1]])
    assert rules.sff_active(on_forbidding) is True
    assert rules.sff_active(off_allowing) is False
    for other in (hsm("3", NEW, True, True), hsm("3", NEW), hsm("3", PRE)):
        assert rules.clone_verdict(on_forbidding, other)["possible"] == rules.clone_verdict(on_plain, other)["possible"]
        assert rules.clone_verdict(on_forbidding, other)["error"] == rules.clone_verdict(on_plain, other)["error"]
    assert rules.clone_verdict(on_forbidding, off_allowing)["error"] == "CKR_DATA_INVALID"


def test_note_1_partition_policy_only_forbids_sff_for_that_partition():
    """'The partition policy is used when the HSM-level policy is on and the SO wishes to disallow SFF backup
    for just a particular partition.'"""
    facts = hsm("1", NEW, True, True, partitions=NOTE_1_PARTS)
    forbidden = rules.partition_sff_backup(facts, NOTE_1_PARTS[0])
    allowed = rules.partition_sff_backup(facts, NOTE_1_PARTS[1])
    assert (forbidden["private_keys"], forbidden["secret_keys"]) == (False, False)
    assert forbidden["reasons"] == ["PARTITION_POLICY_FORBIDS_SFF"]
    assert (allowed["private_keys"], allowed["secret_keys"]) == (True, True)
    assert allowed["reasons"] == []


@pytest.mark.parametrize("private, secret", [(False, True), (True, False)], ids=["35 off, 36 on", "35 on, 36 off"])
def test_note_1_one_partition_sff_policy_off_forbids_that_class_only(private, secret):
    part = {"label": "p", "policies": {"private_key_sff_backup": private, "secret_key_sff_backup": secret}}
    result = rules.partition_sff_backup(hsm("1", NEW, True, True), part)
    assert (result["private_keys"], result["secret_keys"]) == (private, secret)
    assert result["reasons"] == []


def test_note_1_partition_policy_cannot_allow_what_the_hsm_does_not():
    off = hsm("1", NEW, True, False)
    result = rules.partition_sff_backup(off, NOTE_1_PARTS[1])
    assert (result["private_keys"], result["secret_keys"]) == (False, False)
    assert result["reasons"] == ["SFF_NOT_ACTIVE"]
    refusals = rules.partition_policy_refusals(off, {"private_key_sff_backup": True, "secret_key_sff_backup": False})
    assert [r["code"] for r in refusals] == ["HSM_POLICY_FORBIDS"]
    assert "154701" not in refusals[0]["message"] and "HSM 1 " in refusals[0]["message"]
    assert rules.partition_policy_refusals(hsm("1", NEW, True, True), {"private_key_sff_backup": True}) == []
    assert [r["code"] for r in rules.partition_policy_refusals(hsm("1", NEW, cloning=False), {"private_key_cloning": True})] \
        == ["HSM_POLICY_FORBIDS"]


# --------------------------------------------------------------------------------------------
# Table 2: the cloning compatibility table with concrete firmware.

TABLE_2 = [
    pytest.param(("6.2.1", False), ("6.22.0", False), None, id="t2r1: Pre-6.21.0 (FW6.2.1) -> FW6.22.0 with SFF Off: No error"),
    pytest.param(("6.22.0", False), ("6.0.8", False), None, id="t2r2: FW6.22.0 with SFF Off -> Pre-6.21.0 (FW 6.0.8): No error"),
    pytest.param(("6.2.1", False), ("6.22.0", True), "CKR_DATA_INVALID",
                 id="t2r3: Pre-6.21.0 (FW6.2.1) -> FW6.22.0 with SFF On: CKR_DATA_INVALID error"),
    pytest.param(("6.22.0", True), ("6.0.8", False), "CKR_DATA_INVALID",
                 id="t2r4: FW6.22.0 with SFF On -> Pre-6.21.0 (FW 6.0.8): CKR_DATA_INVALID error"),
    pytest.param(("6.22.0", False), ("6.22.0", False), None, id="t2r5: FW6.22.0 with SFF Off -> FW6.22.0 with SFF Off: No error"),
    pytest.param(("6.22.0", True), ("6.22.0", True), None, id="t2r6: FW6.22.0 with SFF On -> FW6.22.0 with SFF On: No error"),
    pytest.param(("6.22.0", False), ("6.22.0", True), "CKR_DATA_INVALID",
                 id="t2r7: FW6.22.0 with SFF Off -> FW6.22.0 with SFF On: CKR_DATA_INVALID error"),
    pytest.param(("6.22.0", True), ("6.22.0", False), "CKR_DATA_INVALID",
                 id="t2r8: FW6.22.0 with SFF On -> FW6.22.0 with SFF Off: CKR_DATA_INVALID error"),
]


@pytest.mark.parametrize("source, target, error", TABLE_2)
@pytest.mark.parametrize("sff_off", ["no CUF", "CUF, policy off"])
def test_table_2_row(source, target, error, sff_off):
    def facts(serial, spec):
        firmware, on = spec
        if on:
            return hsm(serial, firmware, True, True)
        # "SFF Off" on new firmware: without the CUF, or with the CUF and the policy off (Note 2).
        cuf = sff_off == "CUF, policy off" and firmware == "6.22.0"
        return hsm(serial, firmware, cuf, False)

    verdict = rules.clone_verdict(facts("1", source), facts("2", target))
    assert verdict["error"] == error
    assert verdict["possible"] is (error is None)
    if error:
        messages = " ".join(f["message"] for f in verdict["findings"])
        assert "CKR_DATA_INVALID" in messages and "HSM 1" in messages and "HSM 2" in messages


# --------------------------------------------------------------------------------------------
# "SFF Backup Compatibility Summary" and the page's opening paragraphs.


def test_sff_summary_not_factory_configured_for_cloning():
    """'If your HSM is not factory configured for cloning, you cannot apply the SFF backup capability.'"""
    status = rules.sff_status(hsm("1", NEW, cloning=False))
    assert status["sff_capable"] is False
    assert "NOT_CLONING_HSM" in status["reasons"]
    assert [r["code"] for r in rules.capability_refusals(hsm("1", NEW, cloning=False))] == ["NOT_CLONING_HSM"]


@pytest.mark.parametrize("firmware", ["6.20.99", "6.2.1", "6.10.9", "6.0.8", "5.4.0"])
def test_sff_summary_firmware_lower_than_6_21_0(firmware):
    """'If your HSM has firmware lower than 6.21.0, you cannot apply the SFF backup capability.'"""
    status = rules.sff_status(hsm("1", firmware))
    assert status["sff_capable"] is False
    assert status["reasons"][0] == "FIRMWARE_TOO_OLD"
    assert "6.21.0" in status["findings"][0]["message"] and firmware in status["findings"][0]["message"]
    assert rules.firmware_supports_sff(firmware) is False


@pytest.mark.parametrize("firmware", ["6.21.0", "6.22.0", "6.24.1", "6.100.0", "7.0.0"])
def test_sff_summary_firmware_6_21_0_or_higher_and_cloning_can_apply(firmware):
    """'If your HSM has version 6.21.0 (or higher) firmware, and is a cloning version HSM, you can apply the SFF
    backup capability.'"""
    status = rules.sff_status(hsm("1", firmware))
    assert status["sff_capable"] is True
    assert "FIRMWARE_TOO_OLD" not in status["reasons"] and rules.capability_refusals(hsm("1", firmware)) == []


@pytest.mark.parametrize("other", [(PRE, False, False), (NEW, False, False), (NEW, True, False)],
                         ids=["with old firmware", "with new firmware, no CUF", "with CUF, policy off"])
def test_sff_summary_without_the_capability_clones_as_it_always_did(other):
    """'If you do not apply the capability then the HSM can clone as it always did.'"""
    assert rules.clone_verdict(hsm("1", NEW), hsm("2", *other))["possible"] is True
    assert rules.clone_verdict(hsm("2", *other), hsm("1", NEW))["possible"] is True


@pytest.mark.parametrize("other", [(PRE, False, False), (NEW, False, False)], ids=["with old firmware", "with no CUF"])
def test_sff_summary_capability_without_policy_does_not_affect_cloning(other):
    """'If you do apply the capability, but do not switch on the policy, cloning is still not affected.'"""
    facts = hsm("1", NEW, True, False)
    assert rules.sff_active(facts) is False
    assert rules.clone_verdict(facts, hsm("2", *other))["possible"] is True
    assert rules.clone_verdict(hsm("2", *other), facts)["possible"] is True


def test_sff_summary_capability_and_policy_archive_and_restrict_cloning():
    """'If you do apply the capability, and switch on the policy, you can archive partition objects to an SFF
    backup eToken. Your ability to clone, however, is restricted to other HSMs that also have the SFF capability
    applied and the policy switched on.'"""
    facts = hsm("1", NEW, True, True)
    assert rules.sff_active(facts) is True
    archive = rules.partition_sff_backup(facts, {"label": "p", "policies": {}})
    assert archive["private_keys"] and archive["secret_keys"]
    assert rules.clone_verdict(facts, hsm("2", NEW, True, True))["possible"] is True
    for other in [(NEW, True, False), (NEW, False, True), (NEW, False, False), (PRE, False, False)]:
        verdict = rules.clone_verdict(facts, hsm("2", *other))
        assert verdict["possible"] is False and verdict["error"] == "CKR_DATA_INVALID"


def test_intro_sff_only_on_ped_authenticated_cloning_hsms():
    """'The SFF backup feature can be added only to PED-authenticated cloning HSMs.'"""
    status = rules.sff_status(hsm("1", NEW, auth="password"))
    assert status["sff_capable"] is False and "NOT_PED_AUTHENTICATED" in status["reasons"]
    assert rules.sff_status(hsm("1", NEW, auth="ped"))["sff_capable"] is True


def test_intro_every_capability_reason_is_reported():
    status = rules.sff_status(hsm("1", "6.2.1", auth="password", cloning=False))
    assert status["reasons"] == ["FIRMWARE_TOO_OLD", "NOT_CLONING_HSM", "NOT_PED_AUTHENTICATED", "CUF_NOT_APPLIED",
                                 "SFF_POLICY_OFF"]
    assert all(f["serial"] == "1" and "HSM 1" in f["message"] for f in status["findings"])


def test_intro_cloning_remains_part_of_the_hsm_when_sff_is_added():
    """'An HSM that was configured for cloning before the addition of SFF backup is still capable of cloning, but
    now additionally can archive objects to off-board storage by means of SFF backup.'"""
    assert rules.clone_verdict(hsm("1", NEW, True, True), hsm("2", NEW, True, True))["possible"] is True


def test_key_export_hsm_cannot_clone_at_all():
    verdict = rules.clone_verdict(hsm("1", NEW, cloning=False), hsm("2", NEW))
    assert verdict["possible"] is False and verdict["reasons"] == ["NOT_CLONING_HSM"]
    assert verdict["findings"][0]["serial"] == "1"


# --------------------------------------------------------------------------------------------
# Object rule (opening paragraphs): "A cloning-only HSM (without the SFF capability enabled) can accept cloning
# only of objects that have never been stored off the HSM (except keys clearly marked as extractable)."

OBJECTS = [
    pytest.param({"label": "k", "off_board": True, "extractable": False}, False, "OBJECT_STORED_OFF_BOARD",
                 id="off-board, not extractable -> refused by a target without SFF"),
    pytest.param({"label": "k", "off_board": True, "extractable": True}, False, None,
                 id="off-board, 'keys clearly marked as extractable' -> accepted"),
    pytest.param({"label": "k", "off_board": False, "extractable": False}, False, None,
                 id="'never been stored off the HSM' -> accepted"),
    pytest.param({"label": "k", "off_board": True, "extractable": False}, True, None,
                 id="off-board, not extractable -> accepted by a target with SFF active"),
]


@pytest.mark.parametrize("obj, target_sff, code", OBJECTS)
def test_object_rule(obj, target_sff, code):
    target = hsm("2", NEW, target_sff, target_sff)
    refusal = rules.object_clone_refusal(obj, target)
    assert (refusal and refusal["code"]) == code
    if refusal:
        assert refusal["serial"] == "2" and "'k'" in refusal["message"]
        assert rules.CKR_FOR_REASON[code] == "CKR_DATA_INVALID"


@pytest.mark.parametrize("cls, policy", [("private_key", "private_key_cloning"), ("secret_key", "secret_key_cloning")])
def test_object_rule_target_partition_cloning_policy(cls, policy):
    part = {"label": "p", "policies": {policy: False}}
    refusal = rules.object_clone_refusal({"label": "k", "class": cls}, hsm("2"), part)
    assert refusal["code"] == "PARTITION_CLONING_FORBIDDEN" and policy in refusal["message"]
    assert rules.object_clone_refusal({"label": "k", "class": "certificate"}, hsm("2"), part) is None
    assert rules.object_clone_refusal({"label": "k", "class": cls}, hsm("2"), {"label": "p", "policies": {}}) is None


# --------------------------------------------------------------------------------------------
# "Cloning Compatibility Summary"

CLONING_SUMMARY = [
    pytest.param((NEW, True, True), (NEW, False, False), "CKR_DATA_INVALID",
                 id="'in the case where either HSM has the SFF policy enabled, the other must also have it enabled for "
                    "cloning to function' (source on)"),
    pytest.param((NEW, False, False), (NEW, True, True), "CKR_DATA_INVALID",
                 id="'in the case where either HSM has the SFF policy enabled, the other must also have it enabled for "
                    "cloning to function' (target on)"),
    pytest.param((NEW, True, False), (NEW, False, False), None,
                 id="'Otherwise ... you must disable the policy on the HSM with the SFF CUF' (policy disabled: clones)"),
    pytest.param((NEW, True, True), (PRE, False, False), "CKR_DATA_INVALID",
                 id="'Without that preparation, a cloning attempt results in an error CKR_DATA_INVALID'"),
    pytest.param((PRE, False, False), (PRE, False, False), None,
                 id="'If both ... have older firmware ... cloning proceeds with no difficulty'"),
    pytest.param((PRE, False, False), (NEW, False, False), None,
                 id="'If either ... has older firmware, and the other has newer firmware, but with SFF not turned on, then "
                    "cloning proceeds' (old source)"),
    pytest.param((NEW, True, False), (PRE, False, False), None,
                 id="'If either ... has older firmware, and the other has newer firmware, but with SFF not turned on, then "
                    "cloning proceeds' (old target, CUF without policy)"),
    pytest.param((PRE, False, False), (NEW, True, True), "CKR_DATA_INVALID",
                 id="'If either ... has older firmware, and the other has newer firmware where SFF is installed and ON, "
                    "then cloning fails' (old source)"),
    pytest.param((NEW, True, True), (PRE, False, False), "CKR_DATA_INVALID",
                 id="'If either ... has older firmware, and the other has newer firmware where SFF is installed and ON, "
                    "then cloning fails' (old target)"),
    pytest.param((NEW, False, False), (NEW, True, False), None,
                 id="'If both ... have newer firmware but SFF is OFF for both, then cloning proceeds with no difficulty'"),
    pytest.param((NEW, True, True), ("6.21.0", True, True), None,
                 id="'If both ... have newer firmware and SFF is ON for both, then cloning proceeds with no difficulty'"),
    pytest.param((NEW, True, True), (NEW, True, False), "CKR_DATA_INVALID",
                 id="'If both ... have newer firmware but SFF is ON for one, but OFF for the other, then cloning fails'"),
]


@pytest.mark.parametrize("source, target, error", CLONING_SUMMARY)
def test_cloning_summary_sentence(source, target, error):
    verdict = rules.clone_verdict(hsm("1", *source), hsm("2", *target))
    assert verdict["error"] == error
    assert verdict["possible"] is (error is None)


@pytest.mark.parametrize("firmware", ["6.20.99", "6.2.1", "6.0.8"])
def test_cloning_summary_dividing_line(firmware):
    """'Firmware 6.21.0 was the dividing line, the first firmware that supports the SFF feature; if firmware is
    earlier, then the SFF capability update cannot be installed.'"""
    assert rules.firmware_supports_sff(firmware) is False
    assert rules.firmware_supports_sff("6.21.0") is True
    assert [r["code"] for r in rules.capability_refusals(hsm("1", firmware))] == ["FIRMWARE_TOO_OLD"]


# --------------------------------------------------------------------------------------------
# "Effect on HA"

HA_KEEPS_WORKING = [
    pytest.param([(PRE, False, False), (NEW, False, False)],
                 id="'continue to function in HA, even when updated to a firmware version that can support SFF' "
                    "(peer has the previous firmware)"),
    pytest.param([(NEW, False, False), (NEW, True, False), ("6.21.0", False, False)],
                 id="'... as long as the other members ... have the newer firmware, but with SFF backup not enabled'"),
    pytest.param([(PRE, False, False), (NEW, True, False), ("6.10.9", False, False)],
                 id="'... the previous firmware, or ... the newer firmware, but with SFF backup not enabled' (mixed)"),
]


@pytest.mark.parametrize("members", HA_KEEPS_WORKING)
def test_effect_on_ha_members_without_sff_keep_working(members):
    group = [hsm(str(i), *m) for i, m in enumerate(members)]
    verdict = rules.ha_verdict(group, name="ha")
    assert verdict["compatible"] is True and verdict["offenders"] == [] and verdict["reasons"] == []


HA_SFF_ONLY_WITH_SFF = [
    pytest.param([(NEW, True, True), (NEW, True, True)], [],
                 id="'can share an HA group only with other HSMs that have the capability applied and the policy "
                    "switched on' (all on)"),
    pytest.param([(NEW, True, True), (NEW, True, True), (NEW, True, False)], ["2"],
                 id="'... only with other HSMs that have the capability applied and the policy switched on' (CUF, policy off)"),
    pytest.param([(NEW, True, True), (PRE, False, False)], ["1"],
                 id="'... only with other HSMs that have the capability applied ...' (old firmware peer, tie names the "
                    "member without SFF)"),
    pytest.param([(NEW, True, True), (NEW, False, False), (NEW, False, False)], ["0"],
                 id="'If SFF backup is enabled on an HA group member, it must also be enabled for all other members' "
                    "(one on, majority off)"),
]


@pytest.mark.parametrize("members, offenders", HA_SFF_ONLY_WITH_SFF)
def test_effect_on_ha_sff_members_only_with_sff_members(members, offenders):
    group = [hsm(str(i), *m) for i, m in enumerate(members)]
    verdict = rules.ha_verdict(group, name="ha_x")
    assert verdict["compatible"] is (not offenders)
    assert verdict["offenders"] == offenders
    assert verdict["reasons"] == ([] if not offenders else ["SFF_MISMATCH"])
    for finding in verdict["findings"]:
        assert "HA group ha_x" in finding["message"] and "CKR_DATA_INVALID" in finding["message"]


def test_ha_every_reason_is_reported():
    group = [hsm("1"), hsm("2"), hsm("3"), hsm("4", cloning_domain="dom_b"), hsm("5", auth="password"),
             hsm("6", cloning=False), hsm("7", NEW, True, True)]
    verdict = rules.ha_verdict(group)
    assert verdict["compatible"] is False
    assert verdict["reasons"] == ["NOT_CLONING_HSM", "SFF_MISMATCH", "DOMAIN_MISMATCH", "AUTH_MISMATCH"]
    assert verdict["offenders"] == ["6", "7", "4", "5"]
    assert verdict["sff_active"] == {"1": False, "2": False, "3": False, "4": False, "5": False, "6": False, "7": True}


def test_ha_empty_group_is_compatible():
    assert rules.ha_verdict([])["compatible"] is True


# --------------------------------------------------------------------------------------------
# "Applicability": HSM-wide rules; the partition can only forbid SFF backup.


@pytest.mark.parametrize("private, secret", [(False, False), (True, False), (False, True), (True, True)])
def test_applicability_partition_sff_policy_never_changes_clone_or_ha_verdicts(private, secret):
    """'It is not possible to have different settings, affecting the above-described compatibilities, at the
    partition level. The only partition-level option is to forbid SFF backup for a particular partition while the
    HSM, as a whole, supports and permits it.'"""
    part = {"label": "p", "policies": {"private_key_sff_backup": private, "secret_key_sff_backup": secret},
            "objects": [{"label": "k", "class": "secret_key"}]}
    for cuf, policy in [(True, True), (True, False), (False, False)]:
        with_part = hsm("1", NEW, cuf, policy, partitions=[part])
        without = hsm("1", NEW, cuf, policy)
        for other in (hsm("2", NEW, True, True), hsm("2", NEW), hsm("2", PRE)):
            a, b = rules.clone_verdict(with_part, other), rules.clone_verdict(without, other)
            assert (a["possible"], a["error"], a["reasons"]) == (b["possible"], b["error"], b["reasons"])
            assert rules.ha_verdict([with_part, other])["compatible"] == rules.ha_verdict([without, other])["compatible"]
        assert rules.sff_status(with_part)["sff_active"] == rules.sff_status(without)["sff_active"]
        backup = rules.partition_sff_backup(with_part, part)
        active = cuf and policy
        assert backup["private_keys"] is (active and private)
        assert backup["secret_keys"] is (active and secret)


# --------------------------------------------------------------------------------------------
# Firmware parsing and boundaries.


@pytest.mark.parametrize("left, right, expected", [
    ("6.20.99", "6.21.0", -1), ("6.21.0", "6.21.0", 0), ("6.3.0", "6.10.9", -1), ("6.10.9", "6.21.0", -1),
    ("6.22.0", "6.21.0", 1), ("6.21.1", "6.21.0", 1), ("10.0.0", "6.99.99", 1), (" 6.22.0 ", "6.22.0", 0),
])
def test_compare_firmware_numerically(left, right, expected):
    assert rules.compare_firmware(left, right) == expected


@pytest.mark.parametrize("firmware, capable", [("6.20.99", False), ("6.21.0", True), ("6.3.0", False), ("6.10.9", False)])
def test_firmware_boundary(firmware, capable):
    assert rules.sff_status(hsm("1", firmware))["sff_capable"] is capable
    assert rules.sff_active(hsm("1", firmware, True, True)) is capable


def test_firmware_as_three_integers():
    assert rules.parse_firmware([6, 21, 0]) == (6, 21, 0)
    assert rules.validate_hsm(hsm("1", [6, 22, 0]))["firmware"] == "6.22.0"


@pytest.mark.parametrize("value, text", [
    ("6.2.2-5", "software release"), ("6.22", "malformed"), ("", "malformed"), (None, "missing"), (622, "got int"),
    ("6.22.0.1", "malformed"), ("v6.22.0", "malformed"), (True, "missing"), ([6, 22], "got list"), (6.22, "got float"),
])
def test_malformed_firmware_names_field_and_hsm(value, text):
    with pytest.raises(FactError) as caught:
        rules.sff_status(hsm("154701", value))
    message = str(caught.value)
    assert message.startswith("HSM 154701: field 'firmware': ")
    assert text in message and "MAJOR.MINOR.PATCH" in message
    assert caught.value.field == "firmware" and caught.value.serial == "154701"


# --------------------------------------------------------------------------------------------
# Bad input for each entry point: the error names the field and the HSM.

BAD_HSM = [
    pytest.param({"auth": "token"}, "HSM 154701: field 'auth': unknown authentication 'token'", id="unknown auth"),
    pytest.param({"auth": None}, "HSM 154701: field 'auth'", id="auth null"),
    pytest.param({"firmware": "6.2.2-5"}, "HSM 154701: field 'firmware': malformed", id="malformed firmware"),
    pytest.param({"firmware": None}, "HSM 154701: field 'firmware': missing", id="null firmware"),
    pytest.param({"cloning": "yes"}, "HSM 154701: field 'cloning': expected true or false", id="cloning not bool"),
    pytest.param({"sff_policy": None}, "HSM 154701: field 'sff_policy': missing", id="sff_policy null"),
    pytest.param({"cloning_domain": None}, "HSM 154701: field 'cloning_domain': missing", id="cloning_domain null"),
    pytest.param({"cloning_domain": ["a"]}, "HSM 154701: field 'cloning_domain': expected an identifier", id="domain list"),
    pytest.param({"partitions": "p1"}, "HSM 154701: field 'partitions': expected a list", id="partitions string"),
    pytest.param({"partitions": ["p1"]}, "HSM 154701: field 'partitions[0]': each partition must be a mapping",
                 id="partition not a mapping"),
    pytest.param({"partitions": [{"policies": {"bogus": True}}]}, "HSM 154701: field 'partitions[0].policies.bogus'",
                 id="unknown partition policy"),
    pytest.param({"partitions": [{"objects": [{"class": "blob"}]}]}, "HSM 154701: field 'partitions[0].objects[0].class'",
                 id="unknown object class"),
    pytest.param({"partitions": [{"objects": ["k"]}]}, "HSM 154701: field 'partitions[0].objects[0]'",
                 id="object not a mapping"),
]


@pytest.mark.parametrize("change, text", BAD_HSM)
@pytest.mark.parametrize("entry", ["validate_hsm", "sff_status", "sff_active", "capability_refusals",
                                   "clone_verdict(source)", "clone_verdict(target)", "ha_verdict", "validate_fleet"])
def test_bad_hsm_facts_for_every_entry_point(change, text, entry):
    bad = hsm("154701", **change)
    good = hsm("2")
    calls = {
        "validate_hsm": lambda: rules.validate_hsm(bad),
        "sff_status": lambda: rules.sff_status(bad),
        "sff_active": lambda: rules.sff_active(bad),
        "capability_refusals": lambda: rules.capability_refusals(bad),
        "clone_verdict(source)": lambda: rules.clone_verdict(bad, good),
        "clone_verdict(target)": lambda: rules.clone_verdict(good, bad),
        "ha_verdict": lambda: rules.ha_verdict([good, bad]),
        "validate_fleet": lambda: rules.validate_fleet([good, bad]),
    }
    with pytest.raises(FactError) as caught:
        calls[entry]()
    assert text in str(caught.value)


@pytest.mark.parametrize("field", ["firmware", "auth", "cloning", "sff_capability", "sff_policy", "cloning_domain"])
def test_missing_key_names_field_and_hsm(field):
    facts = hsm("154701")
    del facts[field]
    with pytest.raises(FactError, match=r"^HSM 154701: field '%s': missing" % field):
        rules.sff_status(facts)


def test_missing_serial_names_the_position():
    facts = hsm("1")
    del facts["serial"]
    with pytest.raises(FactError, match=r"field 'fleet\[1\]\.serial': missing"):
        rules.validate_fleet([hsm("0"), facts])
    with pytest.raises(FactError, match=r"field 'serial': missing"):
        rules.sff_status(facts)


@pytest.mark.parametrize("value", ["", "  ", None, True, [1]])
def test_bad_serial(value):
    with pytest.raises(FactError, match=r"field 'serial'"):
        rules.sff_status(hsm(value))


@pytest.mark.parametrize("member", ["154701", 3, None, ["a"]], ids=["string", "int", "null", "list"])
def test_non_dict_member(member):
    with pytest.raises(FactError, match=r"field 'fleet\[1\]': each HSM must be a mapping"):
        rules.ha_verdict([hsm("0"), member])
    with pytest.raises(FactError, match=r"field 'hsm': each HSM must be a mapping"):
        rules.sff_status(member)


@pytest.mark.parametrize("members", ["154701", {"a": 1}, 5, None])
def test_ha_members_not_a_list(members):
    with pytest.raises(FactError, match=r"field 'members': expected a list"):
        rules.ha_verdict(members)


def test_duplicate_serials():
    with pytest.raises(FactError, match=r"^HSM 7: field 'serial': appears twice in the fleet \(fleet\[1\]\)"):
        rules.validate_fleet([hsm("7"), hsm(7)])
    with pytest.raises(FactError, match=r"^HSM 7: field 'members': listed twice"):
        rules.ha_verdict([hsm("7"), hsm("7")])


@pytest.mark.parametrize("fleet", ["fleet", 5, None])
def test_fleet_not_a_list(fleet):
    with pytest.raises(FactError, match=r"field 'fleet': expected a list"):
        rules.validate_fleet(fleet)


def test_fleet_as_mapping_of_serial_to_facts():
    facts = hsm("9")
    del facts["serial"]
    fleet = rules.validate_fleet({"9": facts})
    assert list(fleet) == ["9"] and fleet["9"]["serial"] == "9"


def test_partition_policy_refusals_unknown_policy():
    with pytest.raises(FactError, match=r"^HSM 1: field 'policies.bogus'"):
        rules.partition_policy_refusals(hsm("1"), {"bogus": True})


# --------------------------------------------------------------------------------------------
# Lazy containers (what Jinja hands a filter) and fresh results.


def test_lazy_containers_are_accepted():
    part = LazyMapping({"label": "p", "policies": LazyMapping({"secret_key_sff_backup": False}),
                        "objects": LazySequence([LazyMapping({"label": "k", "class": "secret_key"})])})
    facts = LazyMapping(hsm("1", NEW, True, True, partitions=LazySequence([part])))
    checked = rules.validate_hsm(facts)
    assert checked["partitions"].__class__ is list and checked["partitions"][0]["policies"].__class__ is dict
    assert rules.sff_status(facts)["sff_active"] is True
    assert rules.ha_verdict(LazySequence([facts, LazyMapping(hsm("2", NEW, True, True))]))["compatible"] is True
    assert list(rules.validate_fleet(LazySequence([facts]))) == ["1"]


def test_validate_hsm_does_not_change_its_input():
    facts = hsm(154701, partitions=[{"label": "p", "objects": [{"label": "k"}]}])
    before = repr(facts)
    checked = rules.validate_hsm(facts)
    assert repr(facts) == before
    assert checked["serial"] == "154701" and checked["partitions"][0]["object_count"] == 1
    assert checked["partitions"][0]["objects"][0]["fingerprint"] == "secret_key:k"


# --------------------------------------------------------------------------------------------
# Properties.

FIRMWARES = ["6.0.8", "6.2.1", "6.3.0", "6.10.9", "6.20.99", "6.21.0", "6.22.0", "6.24.1"]


@st.composite
def hsm_facts(draw, serial=None):
    return hsm(
        serial if serial is not None else str(draw(st.integers(1, 99))),
        draw(st.sampled_from(FIRMWARES)), draw(st.booleans()), draw(st.booleans()),
        auth=draw(st.sampled_from(["ped", "password"])), cloning=draw(st.booleans()),
        cloning_domain=draw(st.sampled_from(["dom_a", "dom_b"])), sim_secret=draw(st.sampled_from(["sim_a", "sim_b", None])),
    )


@settings(derandomize=True, max_examples=300, deadline=None)
@given(hsm_facts(serial="1"), hsm_facts(serial="2"))
def test_property_clone_verdict_is_symmetric(a, b):
    ab, ba = rules.clone_verdict(a, b), rules.clone_verdict(b, a)
    assert ab["possible"] == ba["possible"]
    assert ab["error"] == ba["error"]
    assert ab["sff_interchange"] == ba["sff_interchange"]
    assert sorted(ab["reasons"]) == sorted(ba["reasons"])


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.lists(hsm_facts(), min_size=1, max_size=6, unique_by=lambda h: h["serial"]))
def test_property_compatible_ha_group_means_every_pair_can_clone(members):
    if rules.ha_verdict(members)["compatible"]:
        for a in members:
            for b in members:
                if a is not b:
                    assert rules.clone_verdict(a, b)["possible"]


@settings(derandomize=True, max_examples=200, deadline=None)
@given(hsm_facts(serial="1"))
def test_property_capable_and_active_match_the_documented_definitions(facts):
    new_enough = rules.parse_firmware(facts["firmware"]) >= (6, 21, 0)
    status = rules.sff_status(facts)
    assert status["sff_capable"] is (new_enough and facts["cloning"] and facts["auth"] == "ped")
    assert status["sff_active"] is (new_enough and facts["sff_capability"] and facts["sff_policy"])
    assert status["sff_active"] is rules.sff_active(facts)


@pytest.mark.parametrize("changes, codes", [
    ({"sff_capability": True}, []),
    ({"sff_capability": False}, ["CUF_NOT_APPLIED"]),
    ({"sff_capability": False, "auth": "password"}, ["NOT_PED_AUTHENTICATED", "CUF_NOT_APPLIED"]),
    ({"sff_capability": True, "firmware": "6.20.99"}, ["FIRMWARE_TOO_OLD"]),
], ids=["cuf applied: may switch on", "no CUF", "password HSM without CUF", "old firmware"])
def test_sff_policy_on_refusals_is_what_keeps_sff_inactive_with_policy_on(changes, codes):
    hsm = dict(serial="7", firmware="6.22.0", auth="ped", cloning=True, sff_capability=False,
               sff_policy=False, cloning_domain="d", sim_secret=None)
    hsm.update(changes)
    assert [f["code"] for f in rules.sff_policy_on_refusals(hsm)] == codes
