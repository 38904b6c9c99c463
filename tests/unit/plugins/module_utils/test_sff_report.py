# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet compatibility report arranges the engine's verdicts; it decides nothing itself."""

import pytest

from ansible_collections.hsmops.luna.plugins.module_utils import sff_rules as rules
from ansible_collections.hsmops.luna.plugins.module_utils.sff_report import compat_report
from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import FactError


def hsm(serial, firmware="6.22.0", cuf=False, policy=False, **extra):
    facts = {"serial": serial, "firmware": firmware, "auth": "ped", "cloning": True, "sff_capability": cuf,
             "sff_policy": policy, "cloning_domain": "dom_a", "sim_secret": "sim_a"}
    facts.update(extra)
    return facts


def test_demo_fleet_report(sff_demo):
    report = compat_report(sff_demo["hsms"], sff_demo["ha_groups"])
    assert [h["serial"] for h in report["hsms"]] == [h["serial"] for h in sff_demo["hsms"]]
    by = {h["serial"]: h for h in report["hsms"]}
    assert by["154701"]["sff_capable"] and not by["154701"]["sff_active"] and by["154701"]["ha_groups"] == ["ha_east"]
    assert by["150001"]["reasons"][0] == "FIRMWARE_TOO_OLD"
    assert by["154740"]["sff_active"] is True
    pairs = {(p["source"], p["target"]): p for p in report["pairs"]}
    assert sorted(pairs) == sorted([
        ("154701", "154702"), ("154711", "154712"), ("154711", "154713"), ("154712", "154713"),
        ("150001", "150002"), ("154701", "154740"), ("154702", "154740"),
    ])
    assert pairs[("154701", "154702")]["ha_groups"] == ["ha_east"] and pairs[("154701", "154702")]["possible"]
    blocked = pairs[("154701", "154740")]
    assert blocked["ha_groups"] == [] and blocked["same_domain"] is True
    assert (blocked["possible"], blocked["error"], blocked["reasons"]) == (False, "CKR_DATA_INVALID", ["SFF_MISMATCH"])
    assert [g["compatible"] for g in report["ha_groups"]] == [True, True, True]
    domains = {d["cloning_domain"]: d for d in report["domains"]}
    assert domains["dom_east"]["clone_compatible"] is False and domains["dom_east"]["reasons"] == ["SFF_MISMATCH"]
    assert domains["dom_east"]["sff_active"] == ["154740"]
    assert domains["dom_west"]["clone_compatible"] is True
    assert report["summary"] == {"hsms": 10, "sff_capable": 6, "sff_active": 1, "pairs": 7, "pairs_blocked": 2,
                                 "ha_groups": 3, "ha_groups_incompatible": 0, "cloning_domains": 5}


def test_pairs_agree_with_clone_verdict_and_ha_verdict(sff_demo):
    fleet = {h["serial"]: h for h in sff_demo["hsms"]}
    report = compat_report(sff_demo["hsms"], sff_demo["ha_groups"])
    for pair in report["pairs"]:
        verdict = rules.clone_verdict(fleet[pair["source"]], fleet[pair["target"]])
        assert (pair["possible"], pair["error"], pair["reasons"]) == (verdict["possible"], verdict["error"], verdict["reasons"])
    for group, row in zip(sff_demo["ha_groups"], report["ha_groups"]):
        assert row["compatible"] == rules.ha_verdict([fleet[m] for m in group["members"]])["compatible"]


def test_pair_in_a_group_across_domains_is_listed_once_with_its_groups():
    fleet = [hsm("1"), hsm("2", cloning_domain="dom_b"), hsm("3")]
    groups = [{"name": "g1", "members": ["1", "2"]}, {"name": "g2", "members": ["2", "1", "3"]}]
    report = compat_report(fleet, groups)
    pairs = {(p["source"], p["target"]): p for p in report["pairs"]}
    assert sorted(pairs) == [("1", "2"), ("1", "3"), ("2", "3")]
    assert pairs[("1", "2")]["ha_groups"] == ["g1", "g2"] and pairs[("1", "2")]["reasons"] == ["DOMAIN_MISMATCH"]
    assert [g["offenders"] for g in report["ha_groups"]] == [["2"], ["2"]]
    assert report["hsms"][1]["ha_groups"] == ["g1", "g2"]


def test_pairs_grow_with_groups_and_domains_not_with_the_fleet():
    # 2,000 HSMs, each pair of them its own domain and HA group: 1,000 pairs, not 1,999,000.
    fleet = [hsm(str(i), cloning_domain="dom_%d" % (i // 2)) for i in range(2000)]
    groups = [{"name": "g%d" % j, "members": [str(2 * j), str(2 * j + 1)]} for j in range(1000)]
    report = compat_report(fleet, groups)
    assert len(report["pairs"]) == 1000 and len(report["domains"]) == 1000


def test_domain_pairs_off_lists_only_group_pairs_and_keeps_the_domain_verdict():
    fleet = [hsm("1"), hsm("2"), hsm("3", cuf=True, policy=True), hsm("4", cloning=False)]
    report = compat_report(fleet, [{"name": "g", "members": ["1", "2"]}], domain_pairs=False)
    assert [(p["source"], p["target"]) for p in report["pairs"]] == [("1", "2")]
    assert report["domains"][0]["clone_compatible"] is False
    assert report["domains"][0]["reasons"] == ["SFF_MISMATCH", "NOT_CLONING_HSM"]
    full = compat_report(fleet, [{"name": "g", "members": ["1", "2"]}])
    union = []
    for pair in full["pairs"]:
        for code in pair["reasons"]:
            if code not in union:
                union.append(code)
    assert sorted(union) == sorted(report["domains"][0]["reasons"])


def test_domain_of_identical_hsms_is_compatible():
    report = compat_report([hsm("1"), hsm("2"), hsm("3")], domain_pairs=False)
    assert report["domains"][0]["clone_compatible"] is True and report["pairs"] == []


@pytest.mark.parametrize("kwargs, text", [
    ({"fleet": [hsm("1", auth="x")]}, "HSM 1: field 'auth'"),
    ({"fleet": [hsm("1")], "ha_groups": [{"name": "g", "members": ["1", "9"]}]}, "HSM 9: field 'ha_groups[0].members'"),
    ({"fleet": [hsm("1")], "domain_pairs": "yes"}, "field 'domain_pairs': expected true or false"),
    ({"fleet": [hsm("1"), hsm("1")]}, "HSM 1: field 'serial': appears twice"),
])
def test_bad_input(kwargs, text):
    with pytest.raises(FactError) as caught:
        compat_report(**kwargs)
    assert text in str(caught.value)
