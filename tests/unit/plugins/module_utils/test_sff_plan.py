# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SFF change plan: refusals with every reason, waves that never leave an HA group mixed."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.hsmops.luna.plugins.module_utils import sff_rules as rules
from ansible_collections.hsmops.luna.plugins.module_utils.sff_plan import restore_plan, rollout_targets, sff_change_plan
from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import FactError

NEW = "6.22.0"


def hsm(serial, firmware=NEW, cuf=False, policy=False, objects=(), **extra):
    facts = {
        "serial": serial, "firmware": firmware, "auth": "ped", "cloning": True, "sff_capability": cuf,
        "sff_policy": policy, "cloning_domain": "dom_a", "sim_secret": "sim_a",
        "partitions": [{"label": "p", "objects": [{"label": o, "fingerprint": o} for o in objects]}] if objects else [],
    }
    facts.update(extra)
    return facts


def codes(plan):
    return [(r["code"], r["serial"]) for r in plan["refusals"]]


# --------------------------------------------------------------------------------------------
# Refusal codes


def test_unknown_hsm():
    plan = sff_change_plan([hsm("1")], ["1", "404"])
    assert codes(plan) == [("UNKNOWN_HSM", "404")]
    assert "HSM 404" in plan["refusals"][0]["message"]
    assert plan["safe"] is False and plan["waves"] == [] and plan["steps"] == []


@pytest.mark.parametrize("change, code", [
    ({"firmware": "6.20.99"}, "FIRMWARE_TOO_OLD"),
    ({"cloning": False}, "NOT_CLONING_HSM"),
    ({"auth": "password"}, "NOT_PED_AUTHENTICATED"),
])
def test_capability_refusals(change, code):
    plan = sff_change_plan([hsm("1", **change)], ["1"])
    assert codes(plan) == [(code, "1")]
    assert plan["safe"] is False and plan["waves"] == []


def test_ha_peer_would_diverge():
    fleet = [hsm("1", objects=["k"]), hsm("2", objects=["k"]), hsm("3", objects=["k"])]
    plan = sff_change_plan(fleet, ["1"], [{"name": "ha", "members": ["1", "2", "3"]}])
    assert codes(plan) == [("HA_PEER_WOULD_DIVERGE", "2"), ("HA_PEER_WOULD_DIVERGE", "3")]
    message = plan["refusals"][0]["message"]
    assert "HA group ha" in message and "CKR_DATA_INVALID" in message and "every member" in message


def test_ha_peer_that_cannot_get_sff_diverges():
    fleet = [hsm("1", objects=["k"]), hsm("2", firmware="6.2.1", objects=["k"])]
    plan = sff_change_plan(fleet, ["1", "2"], [{"name": "ha", "members": ["1", "2"]}])
    assert codes(plan) == [("FIRMWARE_TOO_OLD", "2"), ("HA_PEER_WOULD_DIVERGE", "2")]


def test_keys_would_be_lost_without_a_peer():
    plan = sff_change_plan([hsm("1", objects=["k1", "k2"])], ["1"])
    assert codes(plan) == [("KEYS_WOULD_BE_LOST", "1")]
    assert "2 object(s)" in plan["refusals"][0]["message"] and "no HA group" in plan["refusals"][0]["message"]
    accepted = sff_change_plan([hsm("1", objects=["k1", "k2"])], ["1"], accept_key_loss=True)
    assert accepted["safe"] is True and accepted["waves"] == [["1"], ["1"]]


def test_keys_would_be_lost_when_the_peer_lacks_an_object():
    fleet = [hsm("1", objects=["k", "only_here"]), hsm("2", objects=["k"])]
    plan = sff_change_plan(fleet, ["1", "2"], [{"name": "ha", "members": ["1", "2"]}])
    assert codes(plan) == [("KEYS_WOULD_BE_LOST", "1")]


def test_keys_would_be_lost_when_the_peer_cannot_clone_back():
    # The peer holds the key but is in another cloning domain: it cannot restore it.
    fleet = [hsm("1", objects=["k"]), hsm("2", objects=["k"], cloning_domain="dom_b")]
    plan = sff_change_plan(fleet, ["1", "2"], [{"name": "ha", "members": ["1", "2"]}])
    assert ("KEYS_WOULD_BE_LOST", "1") in codes(plan) and ("KEYS_WOULD_BE_LOST", "2") in codes(plan)


def test_an_hsm_with_the_cuf_already_applied_is_not_wiped_again():
    plan = sff_change_plan([hsm("1", cuf=True, objects=["k"])], ["1"])
    assert plan["safe"] is True
    assert plan["wave_details"] == [{"wave": 1, "action": "enable_policy", "serials": ["1"]}]


def test_every_reason_is_reported_not_just_the_first():
    fleet = [
        hsm("1", firmware="6.2.1", auth="password", cloning=False),
        hsm("2", objects=["k"]),
        hsm("3", objects=["k"]),
        hsm("4", objects=["lonely"]),
    ]
    plan = sff_change_plan(fleet, ["404", "1", "2", "4"], [{"name": "ha", "members": ["2", "3"]}])
    assert codes(plan) == [
        ("UNKNOWN_HSM", "404"),
        ("FIRMWARE_TOO_OLD", "1"), ("NOT_CLONING_HSM", "1"), ("NOT_PED_AUTHENTICATED", "1"),
        ("HA_PEER_WOULD_DIVERGE", "3"),
        ("KEYS_WOULD_BE_LOST", "4"),
    ]
    assert all(r["message"] and r["serial"] in r["message"] for r in plan["refusals"])


# --------------------------------------------------------------------------------------------
# Waves


def test_waves_cuf_before_policy_and_one_cuf_per_group():
    fleet = [hsm(s, objects=["k_" + s[0]]) for s in ("a1", "a2", "a3", "b1", "b2")] + [hsm("c1", cuf=True)]
    groups = [{"name": "A", "members": ["a1", "a2", "a3"]}, {"name": "B", "members": ["b1", "b2"]}]
    plan = sff_change_plan(fleet, ["a1", "a2", "a3", "b1", "b2", "c1"], groups)
    assert plan["safe"] is True
    assert [w["action"] for w in plan["wave_details"]] == ["apply_cuf"] * 3 + ["enable_policy"]
    assert plan["waves"] == [["a1", "b1"], ["a2", "b2"], ["a3"], ["a1", "a2", "a3", "b1", "b2", "c1"]]
    assert plan["waves"] == [w["serials"] for w in plan["wave_details"]]
    assert [w["wave"] for w in plan["wave_details"]] == [1, 2, 3, 4]


def test_waves_hsm_in_two_groups():
    fleet = [hsm(s, objects=["k"]) for s in ("x", "y", "z")]
    groups = [{"name": "A", "members": ["x", "y"]}, {"name": "B", "members": ["y", "z"]}]
    plan = sff_change_plan(fleet, ["x", "y", "z"], groups)
    assert plan["safe"] is True
    assert plan["waves"][:-1] == [["x", "z"], ["y"]]
    assert {s["serial"]: s["ha_groups"] for s in plan["steps"]} == {"x": ["A"], "y": ["A", "B"], "z": ["B"]}


def test_cuf_is_always_followed_by_the_policy_even_when_facts_claim_it_on():
    # A policy cannot be on without its capability; the CUF re-initialises the HSM with policy 38 off.
    fleet = [hsm("1", objects=["k"], policy=True), hsm("2", objects=["k"], policy=True)]
    plan = sff_change_plan(fleet, ["1", "2"], [{"name": "ha", "members": ["1", "2"]}])
    assert plan["safe"] is True
    assert [s["actions"] for s in plan["steps"]] == [["apply_cuf", "enable_policy"]] * 2
    assert plan["wave_details"][-1] == {"wave": 3, "action": "enable_policy", "serials": ["1", "2"]}


def test_state_off_disables_the_policy_of_whole_groups():
    fleet = [hsm("1", cuf=True, policy=True), hsm("2", cuf=True, policy=True), hsm("3")]
    plan = sff_change_plan(fleet, ["1", "2", "3"], [{"name": "ha", "members": ["1", "2"]}], state="off")
    assert plan["safe"] is True
    assert plan["wave_details"] == [{"wave": 1, "action": "disable_policy", "serials": ["1", "2"]}]
    assert plan["unchanged"] == ["3"]
    half = sff_change_plan(fleet, ["1"], [{"name": "ha", "members": ["1", "2"]}], state="off")
    assert codes(half) == [("HA_PEER_WOULD_DIVERGE", "2")]


def test_already_active_targets_are_unchanged():
    plan = sff_change_plan([hsm("1", cuf=True, policy=True)], ["1"])
    assert plan["safe"] is True and plan["waves"] == [] and plan["unchanged"] == ["1"]


def test_duplicate_targets_and_targets_as_facts():
    fleet = [hsm("1", cuf=True), hsm(2, cuf=True)]
    plan = sff_change_plan(fleet, ["1", 1, " 1 ", fleet[1], 2])
    assert plan["waves"] == [["1", "2"]]


def test_group_report():
    fleet = [hsm("1", objects=["k"]), hsm("2", objects=["k"]), hsm("3", cuf=True, policy=True), hsm("4")]
    plan = sff_change_plan(fleet, ["1", "2"], [{"name": "ha", "members": ["1", "2"]}, {"name": "mixed", "members": ["3", "4"]}])
    assert plan["groups"] == [
        {"name": "ha", "members": ["1", "2"], "touched": True, "sff_uniform_before": True, "sff_uniform_after": True},
        {"name": "mixed", "members": ["3", "4"], "touched": False, "sff_uniform_before": False, "sff_uniform_after": False},
    ]
    assert plan["safe"] is True  # an untouched mixed group is reported, not refused


# --------------------------------------------------------------------------------------------
# rollout_targets (what the sff_targets filter selects)


def test_rollout_targets_keeps_capable_not_active_in_fleet_order():
    fleet = [hsm("3"), hsm("1", firmware="6.2.1"), hsm("2", cuf=True, policy=True), hsm("4", auth="password"), hsm("5", cuf=True)]
    assert rollout_targets(fleet) == ["3", "5"]
    assert rollout_targets(fleet, ["5", "1"]) == ["5"]
    assert rollout_targets(fleet, []) == []


def test_rollout_targets_widens_to_whole_ha_groups():
    fleet = [hsm("1"), hsm("2"), hsm("3", firmware="6.2.1"), hsm("4")]
    groups = [{"name": "ha", "members": ["1", "2", "3"]}]
    assert rollout_targets(fleet, ["2"], groups) == ["1", "2"]
    # The old peer is not a target, so the plan refuses instead of splitting the group.
    plan = sff_change_plan(fleet, rollout_targets(fleet, ["2"], groups), groups, accept_key_loss=True)
    assert codes(plan) == [("HA_PEER_WOULD_DIVERGE", "3")]


def test_rollout_targets_unknown_candidate():
    with pytest.raises(FactError, match=r"^HSM 9: field 'targets': HSM 9 was selected but is not in the fleet"):
        rollout_targets([hsm("1")], ["9"])


# --------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("groups, text", [
    ([{"name": "ha", "members": ["1", "404"]}], "HSM 404: field 'ha_groups[0].members': HA group 'ha' names HSM 404, "
                                                "which is not in the fleet facts"),
    ([{"members": ["1"]}], "field 'ha_groups[0].name': missing"),
    ([{"name": "ha", "members": "1"}], "field 'ha_groups[0].members': HA group 'ha': expected a list"),
    ([{"name": "ha", "members": ["1"]}, {"name": "ha", "members": ["1"]}], "field 'ha_groups[1].name': HA group 'ha' is listed twice"),
    (["ha"], "field 'ha_groups[0]': each HA group must be a mapping"),
    ("ha", "field 'ha_groups': expected a list"),
])
def test_bad_ha_groups(groups, text):
    with pytest.raises(FactError) as caught:
        sff_change_plan([hsm("1")], ["1"], groups)
    assert text in str(caught.value)


def test_ha_groups_as_mapping():
    plan = sff_change_plan([hsm("1", objects=["k"]), hsm("2", objects=["k"])], ["1"], {"ha": ["1", "2"]})
    assert codes(plan) == [("HA_PEER_WOULD_DIVERGE", "2")]


@pytest.mark.parametrize("fleet, text", [
    ([hsm("1", auth="token")], "HSM 1: field 'auth': unknown authentication 'token'"),
    ([hsm("1", firmware="6.22")], "HSM 1: field 'firmware': malformed firmware version '6.22'"),
    ([hsm("1"), "2"], "field 'fleet[1]': each HSM must be a mapping"),
    ([hsm("1"), hsm("1")], "HSM 1: field 'serial': appears twice"),
    ({"k": "v"}, "field 'fleet[0]': each HSM must be a mapping"),
])
def test_bad_fleet(fleet, text):
    with pytest.raises(FactError) as caught:
        sff_change_plan(fleet, ["1"])
    assert text in str(caught.value)


@pytest.mark.parametrize("targets, text", [
    ([None], "field 'targets': every target must be an HSM serial, got None"),
    ([""], "field 'targets': every target must be an HSM serial"),
    ([True], "field 'targets': every target must be an HSM serial, got True"),
    ({"1": 1}, "field 'targets': expected a list of HSM serials"),
])
def test_bad_targets(targets, text):
    with pytest.raises(FactError) as caught:
        sff_change_plan([hsm("1")], targets)
    assert text in str(caught.value)


def test_bad_state():
    with pytest.raises(FactError, match=r"field 'state': expected 'on' or 'off', got 'enabled'"):
        sff_change_plan([hsm("1")], ["1"], state="enabled")


# --------------------------------------------------------------------------------------------
# Properties: a safe plan never leaves an HA group mixed; an unsafe plan has no waves.

FIRMWARES = ["6.2.1", "6.10.9", "6.20.99", "6.21.0", "6.22.0"]
FINGERPRINTS = ["k1", "k2", "k3"]


@st.composite
def scenario(draw):
    n = draw(st.integers(1, 8))
    fleet = []
    for i in range(n):
        fleet.append(hsm(
            "h%d" % i, draw(st.sampled_from(FIRMWARES)), draw(st.booleans()), draw(st.booleans()),
            objects=draw(st.lists(st.sampled_from(FINGERPRINTS), max_size=2, unique=True)),
            auth=draw(st.sampled_from(["ped", "ped", "ped", "password"])), cloning=draw(st.sampled_from([True, True, True, False])),
            cloning_domain=draw(st.sampled_from(["dom_a", "dom_a", "dom_b"])),
        ))
    serials = [h["serial"] for h in fleet]
    groups = []
    for g in range(draw(st.integers(0, 3))):
        members = draw(st.lists(st.sampled_from(serials), min_size=1, max_size=4, unique=True))
        groups.append({"name": "g%d" % g, "members": members})
    targets = draw(st.lists(st.sampled_from(serials + ["ghost"]), max_size=n + 1))
    state = draw(st.sampled_from(["on", "off"]))
    accept = draw(st.booleans())
    return fleet, groups, targets, state, accept


@settings(derandomize=True, max_examples=400, deadline=None)
@given(scenario())
def test_property_safe_plans_never_leave_an_ha_group_mixed(case):
    fleet, groups, targets, state, accept = case
    plan = sff_change_plan(fleet, targets, groups, state=state, accept_key_loss=accept)
    if not plan["safe"]:
        assert plan["refusals"] and plan["waves"] == [] and plan["steps"] == []
        return
    assert plan["refusals"] == []
    active = {h["serial"]: rules.sff_active(h) for h in fleet}
    uniform_before = {g["name"] for g in groups if len({active[m] for m in g["members"]}) == 1}
    seen_policy_wave = False
    for detail in plan["wave_details"]:
        if detail["action"] == "apply_cuf":
            assert not seen_policy_wave, "a CUF wave after the policy wave"
            for group in groups:  # at most one CUF per HA group per wave: the group keeps serving
                assert len(set(group["members"]) & set(detail["serials"])) <= 1
            # a CUF leaves SFF activity unchanged (the HSM comes back with policy 38 off)
        else:
            assert not seen_policy_wave, "more than one policy wave"
            seen_policy_wave = True
            for serial in detail["serials"]:
                assert active[serial] is not (detail["action"] == "enable_policy")
                active[serial] = detail["action"] == "enable_policy"
        for group in groups:
            if group["name"] in uniform_before:
                assert len({active[m] for m in group["members"]}) == 1, (group, detail)
    touched = {s["serial"] for s in plan["steps"]}
    for group in groups:
        if touched & set(group["members"]):
            assert len({active[m] for m in group["members"]}) == 1, group
    wanted = state == "on"
    for serial in touched:
        assert active[serial] is wanted
    for serial in set(targets) - {"ghost"}:
        assert active[serial] is wanted


# --------------------------------------------------------------------------------------------
# What a member gets back after its CUF


def member(serial, *partitions):
    """partitions: (label, object count[, policies])."""
    parts = []
    for index, spec in enumerate(partitions):
        label, count = spec[0], spec[1]
        parts.append({"serial": "%s%02d" % (serial, index), "label": label,
                      "policies": spec[2] if len(spec) > 2 else {"private_key_cloning": True},
                      "objects": [{"label": "o%d" % n, "fingerprint": "%s-%d" % (label, n)} for n in range(count)]})
    return dict(hsm(serial), partitions=parts)


def by_label(items):
    return dict((item["label"], item) for item in items)


def test_restore_own_partitions_first_then_what_every_peer_holds():
    group = [member("a", ("pay", 2)), member("b", ("pay", 2), ("ca", 1), ("only_b", 1)), member("c", ("ca", 3), ("pay", 2))]
    out = restore_plan(group, "a")
    # "only_b" is on one peer only: not replicated by the group, not given back.
    assert [item["label"] for item in out] == ["pay", "ca"]
    pay, ca = out
    assert pay["had"] == 2 and pay["serial_before"] == "a00" and pay["expected"] == 2
    assert pay["peers"] == ["b", "c"] and pay["source"] == "b"  # a tie goes to the first peer in group order
    assert ca["had"] is None and ca["serial_before"] is None
    assert ca["expected"] == 3 and ca["source"] == "c" and ca["peers"] == ["b", "c"]


def test_restore_expects_the_most_objects_anyone_has():
    out = by_label(restore_plan([member("a", ("pay", 5)), member("b", ("pay", 3))], "a"))
    assert out["pay"]["expected"] == 5  # fewer after the sync than before would be a lost key
    out = by_label(restore_plan([member("a", ("pay", 5)), member("b", ("pay", 3))], "a", accept_key_loss=True))
    assert out["pay"]["expected"] == 3  # the override gives up what no peer holds


def test_restore_declared_ha_partitions_and_policies():
    group = [member("a"), member("b", ("pay", 1, {}), ("ca", 1)), member("c", ("pay", 2, {"private_key_cloning": False}))]
    out = by_label(restore_plan(group, "a", ha_partitions=["pay"]))
    assert list(out) == ["pay"]
    # An HSM that lost the partition takes the policies of the first peer that has any.
    assert out["pay"]["policies"] == {"private_key_cloning": False} and out["pay"]["source"] == "c"


def test_restore_own_partition_no_peer_holds():
    out = restore_plan([member("a", ("lonely", 1)), member("b", ("pay", 1))], "a", names={"b": "east_2"})
    assert out == [{"label": "lonely", "policies": {"private_key_cloning": True}, "expected": 1, "peers": [],
                    "source": None, "had": 1, "serial_before": "a00"},
                   {"label": "pay", "policies": {"private_key_cloning": True}, "expected": 1, "peers": ["east_2"],
                    "source": "east_2", "had": None, "serial_before": None}]


def test_restore_unknown_serial_is_an_error():
    with pytest.raises(FactError) as caught:
        restore_plan([member("a", ("pay", 1))], "z")
    assert "z" in str(caught.value)
