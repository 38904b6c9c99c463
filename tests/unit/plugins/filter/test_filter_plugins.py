# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter plugins called through their FilterModule classes, as Ansible calls them."""

import copy
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hsmops.luna.plugins.filter import clone_verdict, compat_report, ha_verdict, luna_connections
from ansible_collections.hsmops.luna.plugins.filter import luna_module_args
from ansible_collections.hsmops.luna.plugins.filter import sff_change_plan, sff_restore_plan, sff_status, sff_targets
from ansible_collections.hsmops.luna.plugins.module_utils import sff_plan, sff_rules
from ansible_collections.hsmops.luna.plugins.module_utils.sff_report import compat_report as engine_report
from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import FactError

MODULES = {
    "sff_status": sff_status, "clone_verdict": clone_verdict, "ha_verdict": ha_verdict,
    "sff_change_plan": sff_change_plan, "sff_targets": sff_targets, "compat_report": compat_report,
    "sff_restore_plan": sff_restore_plan, "luna_connections": luna_connections,
    "luna_module_args": luna_module_args,
}


def flt(name):
    return MODULES[name].FilterModule().filters()[name]


class LazyMapping(Mapping):
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


def lazy(value):
    if isinstance(value, dict):
        return LazyMapping({k: lazy(v) for k, v in value.items()})
    if isinstance(value, list):
        return LazySequence([lazy(v) for v in value])
    return value


def assert_plain(value, path="_value"):
    """Only fresh plain dict/list/str/int/bool/None come back."""
    assert value.__class__ in (dict, list, str, int, bool, type(None)), (path, type(value))
    if value.__class__ is dict:
        for key, item in value.items():
            assert key.__class__ is str, (path, key)
            assert_plain(item, "%s.%s" % (path, key))
    elif value.__class__ is list:
        for index, item in enumerate(value):
            assert_plain(item, "%s[%d]" % (path, index))


def test_every_filter_is_exported_under_its_file_name():
    for name, module in MODULES.items():
        assert list(module.FilterModule().filters()) == [name]
        assert "name: %s\n" % name in module.DOCUMENTATION


# --------------------------------------------------------------------------------------------
# Results: the engine's verdicts, as fresh plain data, from plain or lazy input.


@pytest.mark.parametrize("make", [lambda x: x, lazy], ids=["plain input", "lazy input"])
def test_sff_status(make, sff_demo_by_serial):
    result = flt("sff_status")(make(sff_demo_by_serial["150001"]))
    assert_plain(result)
    assert result["sff_capable"] is False and result["sff_active"] is False
    assert result["reasons"] == ["FIRMWARE_TOO_OLD", "CUF_NOT_APPLIED", "SFF_POLICY_OFF"]
    assert result == sff_rules.sff_status(sff_demo_by_serial["150001"])
    assert flt("sff_status")(make(sff_demo_by_serial["154740"]))["sff_active"] is True


@pytest.mark.parametrize("make", [lambda x: x, lazy], ids=["plain input", "lazy input"])
def test_clone_verdict(make, sff_demo_by_serial):
    result = flt("clone_verdict")(make(sff_demo_by_serial["154701"]), make(sff_demo_by_serial["154740"]))
    assert_plain(result)
    assert (result["possible"], result["error"], result["sff_interchange"]) == (False, "CKR_DATA_INVALID", False)
    assert result["reasons"] == ["SFF_MISMATCH"] and result["failure_code"] == "CKR_DATA_INVALID"
    ok = flt("clone_verdict")(make(sff_demo_by_serial["154701"]), make(sff_demo_by_serial["154702"]))
    assert (ok["possible"], ok["error"], ok["failure_code"], ok["reasons"]) == (True, None, None, [])


@pytest.mark.parametrize("make", [lambda x: x, lazy], ids=["plain input", "lazy input"])
def test_ha_verdict(make, sff_demo_by_serial):
    members = make([sff_demo_by_serial["154701"], sff_demo_by_serial["154740"]])
    result = flt("ha_verdict")(members)
    assert_plain(result)
    assert (result["compatible"], result["offenders"], result["reasons"]) == (False, ["154701"], ["SFF_MISMATCH"])
    assert result["sff_active"] == {"154701": False, "154740": True}


def test_ha_verdict_members_as_serials(sff_demo):
    fleet = sff_demo["hsms"]
    result = flt("ha_verdict")(["154711", 154712, "154713"], fleet=fleet, name="ha_west")
    assert result["compatible"] is True
    mixed = flt("ha_verdict")(["154701", "154740"], fleet=lazy(fleet), name="ha_x")
    assert mixed["offenders"] == ["154701"] and "HA group ha_x" in mixed["findings"][0]["message"]


@pytest.mark.parametrize("make", [lambda x: x, lazy], ids=["plain input", "lazy input"])
def test_sff_change_plan(make, sff_demo):
    targets = ["154701", "154702", "154711", "154712", "154713"]
    result = flt("sff_change_plan")(make(sff_demo["hsms"]), targets=make(targets), ha_groups=make(sff_demo["ha_groups"]))
    assert_plain(result)
    assert result["safe"] is True and result["refusals"] == []
    assert result["waves"] == [["154701", "154711"], ["154702", "154713"], targets]
    assert result == sff_plan.sff_change_plan(sff_demo["hsms"], targets, sff_demo["ha_groups"])


def test_sff_change_plan_refusals_and_options(sff_demo):
    plan = flt("sff_change_plan")(sff_demo["hsms"], targets=["154701", "150001", "999"], ha_groups=sff_demo["ha_groups"])
    assert plan["safe"] is False and plan["waves"] == []
    assert [(r["code"], r["serial"]) for r in plan["refusals"]] == [
        ("FIRMWARE_TOO_OLD", "150001"), ("UNKNOWN_HSM", "999"), ("HA_PEER_WOULD_DIVERGE", "154702")]
    off = flt("sff_change_plan")(sff_demo["hsms"], targets=["154740"], state="off")
    assert off["wave_details"] == [{"wave": 1, "action": "disable_policy", "serials": ["154740"]}]
    # A lone HSM with keys: refused, unless the loss is accepted.
    lone = [h for h in sff_demo["hsms"] if h["serial"] == "154701"]
    assert flt("sff_change_plan")(lone, targets=["154701"])["refusals"][0]["code"] == "KEYS_WOULD_BE_LOST"
    assert flt("sff_change_plan")(lone, targets=["154701"], accept_key_loss=True)["safe"] is True


@pytest.mark.parametrize("query, expected", [
    (None, ["154701", "154702", "154711", "154712", "154713"]),
    ("[*]", ["154701", "154702", "154711", "154712", "154713"]),
    ("[?cloning_domain=='dom_east']", ["154701", "154702"]),
    ("[?cloning_domain=='dom_east'].serial", ["154701", "154702"]),
    ("[?label=='west_2']", ["154712"]),
    ("[?label=='west_2'] | [0]", ["154712"]),
    ("[?label=='west_2'] | [0].serial", ["154712"]),
    ("[?firmware=='6.2.1' || auth=='password' || cloning==`false`]", []),
    ("[?cloning_domain=='nowhere']", []),
    ("[?cloning_domain=='dom_east'] | [5]", []),
])
def test_sff_targets_query(query, expected, sff_demo):
    result = flt("sff_targets")(sff_demo["hsms"], query=query)
    assert_plain(result)
    assert result == expected


def test_sff_targets_widens_to_whole_ha_groups(sff_demo):
    fleet = copy.deepcopy(sff_demo["hsms"])
    assert flt("sff_targets")(fleet, query="[?label=='west_2']", ha_groups=sff_demo["ha_groups"]) == \
        ["154711", "154712", "154713"]
    assert flt("sff_targets")(lazy(fleet), query="[?label=='legacy_1']", ha_groups=lazy(sff_demo["ha_groups"])) == []


def test_sff_targets_fleet_as_mapping(sff_demo):
    fleet = {h["serial"]: h for h in sff_demo["hsms"]}
    assert flt("sff_targets")(fleet, query="[?cloning_domain=='dom_west'].serial") == ["154711", "154712", "154713"]


@pytest.mark.parametrize("query, text", [
    ("[?", "option 'query': invalid JMESPath expression '[?'"),
    ("", "option 'query': expected a JMESPath expression string"),
    (5, "option 'query': expected a JMESPath expression string, got 5"),
    ("[*].cloning", "must select HSM facts or serials, it returned True"),
    ("[?cloning_domain=='dom_east'].partitions", "must select HSM facts or serials"),
    ("{a: [0].serial}", "must select HSM facts or serials"),
    ("['999']", "HSM 999: field 'targets': HSM 999 was selected but is not in the fleet facts"),
])
def test_sff_targets_bad_query(query, text, sff_demo):
    with pytest.raises(AnsibleFilterError) as caught:
        flt("sff_targets")(sff_demo["hsms"], query=query)
    assert str(caught.value).startswith("hsmops.luna.sff_targets: ")
    assert text in str(caught.value)


def test_sff_targets_without_jmespath(monkeypatch, sff_demo):
    monkeypatch.setattr(sff_targets, "_jmespath", lambda: None)
    with pytest.raises(AnsibleFilterError, match=r"^hsmops.luna.sff_targets: the query option needs the Python library "
                                                 r"jmespath on the controller: install it"):
        flt("sff_targets")(sff_demo["hsms"], query="[*]")
    # Without a query jmespath is not needed.
    assert flt("sff_targets")(sff_demo["hsms"]) == ["154701", "154702", "154711", "154712", "154713"]


@pytest.mark.parametrize("make", [lambda x: x, lazy], ids=["plain input", "lazy input"])
def test_compat_report(make, sff_demo):
    result = flt("compat_report")(make(sff_demo["hsms"]), ha_groups=make(sff_demo["ha_groups"]))
    assert_plain(result)
    assert result == engine_report(sff_demo["hsms"], sff_demo["ha_groups"])
    assert result["summary"]["pairs"] == 7
    assert len(flt("compat_report")(sff_demo["hsms"], ha_groups=sff_demo["ha_groups"], domain_pairs=False)["pairs"]) == 5


def test_results_do_not_share_state_with_the_input(sff_demo):
    fleet = copy.deepcopy(sff_demo["hsms"])
    before = copy.deepcopy(fleet)
    report = flt("compat_report")(fleet, ha_groups=sff_demo["ha_groups"])
    report["hsms"][0]["reasons"].append("X")
    flt("sff_change_plan")(fleet, targets=["154701"])
    assert fleet == before


# --------------------------------------------------------------------------------------------
# Bad input: AnsibleFilterError naming the plugin, the HSM and the field; never the engine's FactError.


def bad_fleet(sff_demo, serial, **change):
    fleet = copy.deepcopy(sff_demo["hsms"])
    for facts in fleet:
        if facts["serial"] == serial:
            facts.update(change)
            for key, value in change.items():
                if value is KeyError:
                    del facts[key]
    return fleet


def by_serial(fleet, serial):
    return [h for h in fleet if h["serial"] == serial][0]


CHANGES = [
    pytest.param({"firmware": "6.2.2-5"}, "HSM 154701: field 'firmware': malformed firmware version '6.2.2-5'", id="malformed firmware"),
    pytest.param({"firmware": KeyError}, "HSM 154701: field 'firmware': missing", id="missing firmware"),
    pytest.param({"firmware": None}, "HSM 154701: field 'firmware': missing firmware version", id="null firmware"),
    pytest.param({"auth": "token"}, "HSM 154701: field 'auth': unknown authentication 'token'", id="unknown auth"),
    pytest.param({"sff_policy": KeyError}, "HSM 154701: field 'sff_policy': missing", id="missing key"),
]

CALLS = {
    "sff_status": lambda fleet, groups: flt("sff_status")(by_serial(fleet, "154701")),
    "clone_verdict(source)": lambda fleet, groups: flt("clone_verdict")(by_serial(fleet, "154701"), by_serial(fleet, "154702")),
    "clone_verdict(target)": lambda fleet, groups: flt("clone_verdict")(by_serial(fleet, "154702"), by_serial(fleet, "154701")),
    "ha_verdict": lambda fleet, groups: flt("ha_verdict")([by_serial(fleet, "154702"), by_serial(fleet, "154701")]),
    "ha_verdict(serials)": lambda fleet, groups: flt("ha_verdict")(["154701"], fleet=fleet),
    "sff_change_plan": lambda fleet, groups: flt("sff_change_plan")(fleet, targets=["154711"], ha_groups=groups),
    "sff_targets": lambda fleet, groups: flt("sff_targets")(fleet, query="[?cloning_domain=='dom_west']"),
    "compat_report": lambda fleet, groups: flt("compat_report")(fleet, ha_groups=groups),
}


@pytest.mark.parametrize("change, text", CHANGES)
@pytest.mark.parametrize("call", sorted(CALLS))
def test_bad_hsm_facts(call, change, text, sff_demo):
    fleet = bad_fleet(sff_demo, "154701", **change)
    with pytest.raises(AnsibleFilterError) as caught:
        CALLS[call](fleet, sff_demo["ha_groups"])
    plugin = call.split("(")[0]
    assert str(caught.value).startswith("hsmops.luna.%s: %s" % (plugin, text))
    assert not isinstance(caught.value, FactError)


@pytest.mark.parametrize("call, args, text", [
    ("sff_status", ("154701",), "hsmops.luna.sff_status: field 'hsm': each HSM must be a mapping of facts"),
    ("clone_verdict", ({"serial": "1"}, {"serial": "2"}), "hsmops.luna.clone_verdict: HSM 1: field 'firmware': missing"),
    ("ha_verdict", ([{"serial": "1"}, "x"],), "hsmops.luna.ha_verdict: HSM 1: field 'firmware': missing"),
    ("ha_verdict", ("154701",), "hsmops.luna.ha_verdict: field 'members': expected a list of HSM facts"),
    ("compat_report", ([None],), "hsmops.luna.compat_report: field 'fleet[0]': each HSM must be a mapping"),
    ("sff_change_plan", ("fleet",), "hsmops.luna.sff_change_plan: field 'fleet': expected a list of HSM facts"),
    ("sff_targets", ([1, 2],), "hsmops.luna.sff_targets: field 'fleet[0]': each HSM must be a mapping"),
])
def test_non_dict_members(call, args, text):
    with pytest.raises(AnsibleFilterError) as caught:
        flt(call)(*args)
    assert str(caught.value).startswith(text)


@pytest.mark.parametrize("call", ["sff_change_plan", "compat_report", "sff_targets"])
def test_duplicate_serials(call, sff_demo):
    fleet = sff_demo["hsms"] + [dict(sff_demo["hsms"][0])]
    with pytest.raises(AnsibleFilterError, match=r"^hsmops.luna.%s: HSM 154701: field 'serial': appears twice" % call):
        flt(call)(fleet, targets=[]) if call == "sff_change_plan" else flt(call)(fleet)


@pytest.mark.parametrize("call", ["sff_change_plan", "compat_report", "sff_targets"])
def test_ha_group_naming_a_serial_not_in_the_fleet(call, sff_demo):
    groups = sff_demo["ha_groups"] + [{"name": "ha_ghost", "members": ["154701", "999999"]}]
    kwargs = {"ha_groups": groups}
    if call == "sff_change_plan":
        kwargs["targets"] = ["154701"]
    with pytest.raises(AnsibleFilterError) as caught:
        flt(call)(sff_demo["hsms"], **kwargs)
    assert str(caught.value).startswith(
        "hsmops.luna.%s: HSM 999999: field 'ha_groups[3].members': HA group 'ha_ghost' names HSM 999999, "
        "which is not in the fleet facts" % call)


def test_ha_verdict_serial_not_in_fleet(sff_demo):
    with pytest.raises(AnsibleFilterError, match=r"^hsmops.luna.ha_verdict: HSM 42: field 'members\[1\]': not in the fleet"):
        flt("ha_verdict")(["154701", "42"], fleet=sff_demo["hsms"])


@pytest.mark.parametrize("call, kwargs, text", [
    ("sff_change_plan", {"targets": ["154701"], "accept_key_loss": "yes"}, "option 'accept_key_loss': expected true or false"),
    ("sff_change_plan", {"targets": ["154701"], "state": "enabled"}, "field 'state': expected 'on' or 'off'"),
    ("sff_change_plan", {"targets": [None]}, "field 'targets': every target must be an HSM serial"),
    ("compat_report", {"domain_pairs": "no"}, "option 'domain_pairs': expected true or false"),
])
def test_bad_options(call, kwargs, text, sff_demo):
    with pytest.raises(AnsibleFilterError) as caught:
        flt(call)(sff_demo["hsms"], **kwargs)
    assert str(caught.value) == "hsmops.luna.%s: %s" % (call, str(caught.value).split(": ", 1)[1])
    assert text in str(caught.value)


# --------------------------------------------------------------------------------------------
# sff_restore_plan


def _member(serial, partitions):
    return {"serial": serial, "firmware": "6.22.0", "auth": "ped", "cloning": True, "sff_capability": False,
            "sff_policy": False, "cloning_domain": "dom_a", "sim_secret": "s",
            "partitions": [{"serial": "9%s%d" % (serial, i), "label": label, "policies": {"private_key_cloning": True},
                            "objects": [{"label": "k%d" % n, "fingerprint": "%s-%d" % (label, n)} for n in range(count)]}
                           for i, (label, count) in enumerate(partitions)]}


@pytest.mark.parametrize("make", [lambda x: x, lazy], ids=["plain input", "lazy input"])
def test_sff_restore_plan(make):
    group = [_member("1", [("pay", 2)]), _member("2", [("pay", 2), ("extra", 1)])]
    out = flt("sff_restore_plan")(make(group), serial="1", names=make({"1": "east_1", "2": "east_2"}))
    assert_plain(out)
    assert out == [{"label": "pay", "policies": {"private_key_cloning": True}, "expected": 2, "peers": ["east_2"],
                    "source": "east_2", "had": 2, "serial_before": "910"},
                   {"label": "extra", "policies": {"private_key_cloning": True}, "expected": 1, "peers": ["east_2"],
                    "source": "east_2", "had": None, "serial_before": None}]


@pytest.mark.parametrize("options, message", [
    ({}, "option 'serial'"),
    ({"serial": "1", "ha_partitions": "pay"}, "option 'ha_partitions'"),
    ({"serial": "1", "names": ["east_1"]}, "option 'names'"),
    ({"serial": "1", "accept_key_loss": "yes"}, "option 'accept_key_loss'"),
    ({"serial": "7"}, "HSM 7 is not among the HA group's facts"),
])
def test_sff_restore_plan_bad_options_name_the_option(options, message):
    with pytest.raises(AnsibleFilterError) as caught:
        flt("sff_restore_plan")([_member("1", [("pay", 1)])], **options)
    assert "hsmops.luna.sff_restore_plan" in str(caught.value) and message in str(caught.value)


# --------------------------------------------------------------------------------------------
# luna_connections

HOSTVARS = {
    "east_1": {"luna_url": "https://127.0.0.1:9001", "luna_username": "admin", "luna_password": "pw1",
               "luna_so_password": "so1", "luna_ca_path": "/ca.pem", "luna_validate_certs": "yes",
               "ansible_host": "10.0.0.1"},
    "east_2": {"luna_url": "https://127.0.0.1:9002", "luna_password": "pw2"},
}


@pytest.mark.parametrize("make", [lambda x: x, lazy], ids=["plain input", "lazy input"])
def test_luna_connections(make):
    out = flt("luna_connections")(make(["east_2", "east_1"]), make(HOSTVARS))
    assert_plain(out)
    assert out == [{"name": "east_2", "url": "https://127.0.0.1:9002", "password": "pw2"},
                   {"name": "east_1", "url": "https://127.0.0.1:9001", "username": "admin", "password": "pw1",
                    "ca_path": "/ca.pem", "validate_certs": True}]


def test_luna_connections_so_password_only_when_asked():
    out = flt("luna_connections")(["east_1", "east_2"], HOSTVARS, so_password=True)
    assert [entry.get("so_password") for entry in out] == ["so1", None]
    assert "so_password" not in out[1]


@pytest.mark.parametrize("hosts, hostvars, options, message", [
    ("east_1", HOSTVARS, {}, "expected a list of inventory host names"),
    (["east_1"], None, {}, "option 'hostvars'"),
    (["east_1"], HOSTVARS, {"so_password": "yes"}, "option 'so_password'"),
    (["west_9"], HOSTVARS, {}, "host west_9 is not in the inventory"),
    (["east_1"], {"east_1": {"luna_password": "pw"}}, {}, "host east_1 has no luna_url"),
    (["east_1"], {"east_1": {"luna_url": 8443}}, {}, "host east_1: luna_url must be a string, got int"),
    (["east_1"], {"east_1": {"luna_url": "https://x", "luna_validate_certs": "maybe"}}, {},
     "host east_1: luna_validate_certs must be true or false"),
])
def test_luna_connections_bad_input_names_host_and_variable(hosts, hostvars, options, message):
    with pytest.raises(AnsibleFilterError) as caught:
        flt("luna_connections")(hosts, hostvars, **options)
    assert str(caught.value).startswith("hsmops.luna.luna_connections: ") and message in str(caught.value)


def test_luna_connections_errors_never_show_a_password():
    hostvars = {"east_1": {"luna_url": "https://x", "luna_password": ["pw-secret"]}}
    with pytest.raises(AnsibleFilterError) as caught:
        flt("luna_connections")(["east_1"], hostvars)
    assert "luna_password must be a string" in str(caught.value) and "pw-secret" not in str(caught.value)


# luna_module_args

@pytest.mark.parametrize("make", [lambda x: x, lazy], ids=["plain input", "lazy input"])
def test_luna_module_args(make):
    out = flt("luna_module_args")("east_1", make(HOSTVARS))
    assert_plain(out)
    assert out == {"url": "https://127.0.0.1:9001", "username": "admin", "password": "pw1", "ca_path": "/ca.pem",
                   "validate_certs": True}
    assert flt("luna_module_args")("east_2", HOSTVARS, so_password=True) == {"url": "https://127.0.0.1:9002", "password": "pw2"}
    assert flt("luna_module_args")("east_1", HOSTVARS, so_password=True)["so_password"] == "so1"


def test_luna_module_args_is_one_entry_of_luna_connections_without_its_name():
    """Both filters read the inventory contract the same way (one helper), whatever the host sets."""
    for host in HOSTVARS:
        for so_password in (False, True):
            entry = flt("luna_connections")([host], HOSTVARS, so_password=so_password)[0]
            assert entry.pop("name") == host
            assert flt("luna_module_args")(host, HOSTVARS, so_password=so_password) == entry


@pytest.mark.parametrize("host, hostvars, options, message", [
    (["east_1"], HOSTVARS, {}, "expected one inventory host name"),
    ("", HOSTVARS, {}, "expected one inventory host name"),
    ("east_1", None, {}, "option 'hostvars'"),
    ("east_1", HOSTVARS, {"so_password": 1}, "option 'so_password'"),
    ("west_9", HOSTVARS, {}, "host west_9 is not in the inventory"),
    ("east_1", {"east_1": {"luna_password": "pw"}}, {}, "host east_1 has no luna_url"),
    ("east_1", {"east_1": {"luna_url": "https://x", "luna_so_password": ["so-secret"]}}, {"so_password": True},
     "host east_1: luna_so_password must be a string, got list"),
    ("east_1", {"east_1": {"luna_url": "https://x", "luna_validate_certs": "maybe"}}, {},
     "host east_1: luna_validate_certs must be true or false"),
])
def test_luna_module_args_bad_input_names_host_and_variable(host, hostvars, options, message):
    with pytest.raises(AnsibleFilterError) as caught:
        flt("luna_module_args")(host, hostvars, **options)
    assert str(caught.value).startswith("hsmops.luna.luna_module_args: ") and message in str(caught.value)
    assert "so-secret" not in str(caught.value)


def test_loading_the_filter_files_does_not_import_the_engine():
    """Ansible imports every filter file of the collection, in each worker, to find one filter.

    So the files import the rules engine and jmespath only when a filter that needs them runs:
    a task that only maps inventory hosts must not pay for compiling the engine.
    """
    import ansible_collections

    code = (
        "import sys, glob, os, importlib\n"
        "for kind in ('filter', 'test'):\n"
        "    for path in sorted(glob.glob(os.path.join(sys.argv[1], kind, '*.py'))):\n"
        "        name = os.path.basename(path)[:-3]\n"
        "        if name != '__init__':\n"
        "            importlib.import_module('ansible_collections.hsmops.luna.plugins.%s.%s' % (kind, name))\n"
        "heavy = [m for m in sys.modules if m == 'jmespath' or m.startswith('ansible_collections.hsmops.luna.plugins.module_utils.')]\n"
        "print(' '.join(sorted(heavy)) or 'none')\n"
        "luna = importlib.import_module('ansible_collections.hsmops.luna.plugins.filter.luna_connections')\n"
        "print(luna.FilterModule().filters()['luna_connections'](['a'], {'a': {'luna_url': 'https://a'}})[0]['url'])\n"
    )
    root = os.path.dirname(list(ansible_collections.__path__)[0])
    plugins = os.path.join(root, "ansible_collections", "hsmops", "luna", "plugins")
    result = subprocess.run([sys.executable, "-c", code, plugins], env=dict(os.environ, PYTHONPATH=root),
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["none", "https://a"]
