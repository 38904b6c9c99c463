# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sff_check: the rules engine's change plan as a task that never changes anything."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hsmops.luna.plugins.modules import sff_check

HERE = os.path.dirname(__file__)
FIXTURES = os.path.join(HERE, "..", "..", "fixtures", "sff_check")
DEMO = os.path.normpath(os.path.join(HERE, "..", "..", "..", "..", "emulator", "fleets", "demo.yml"))


def fixture(name):
    return os.path.join(FIXTURES, name)


def demo():
    with open(DEMO, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture
def run(capsys):
    def _run(args, check_mode=False):
        args = dict(args)
        if check_mode:
            args["_ansible_check_mode"] = True
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exc:
                sff_check.main()
        result = json.loads(capsys.readouterr().out)
        result["rc"] = exc.value.code
        return result
    return _run


def test_safe_plan_for_a_whole_ha_group(run):
    result = run({"fleet_file": DEMO, "targets": ["154701", "154702"]})
    assert result["rc"] == 0 and result["changed"] is False
    assert result["safe"] is True and result["refusals"] == []
    # one CUF per HA group per wave, then both policies together
    assert result["plan"]["waves"] == [["154701"], ["154702"], ["154701", "154702"]]
    assert [w["action"] for w in result["plan"]["wave_details"]] == ["apply_cuf", "apply_cuf", "enable_policy"]


def test_unsafe_change_fails_listing_every_refusal(run):
    result = run({"fleet_file": DEMO, "targets": ["154701", "150001", "154720", "154730", "154711"]})
    assert result["rc"] == 1 and result["failed"] is True and result["safe"] is False
    got = [(r["serial"], r["code"]) for r in result["refusals"]]
    assert ("150001", "FIRMWARE_TOO_OLD") in got
    assert ("154720", "NOT_PED_AUTHENTICATED") in got
    assert ("154730", "NOT_CLONING_HSM") in got
    assert ("154702", "HA_PEER_WOULD_DIVERGE") in got  # ha_east split
    assert ("154712", "HA_PEER_WOULD_DIVERGE") in got and ("154713", "HA_PEER_WOULD_DIVERGE") in got
    # the message names every HSM and code, numbered
    for index, (serial, code) in enumerate(got, 1):
        assert "(%d) HSM %s %s: " % (index, serial, code) in result["msg"]
    assert "%d refusal(s)" % len(got) in result["msg"]
    assert result["plan"]["waves"] == []


def test_fail_on_refusal_false_reports_without_failing(run):
    result = run({"fleet_file": DEMO, "targets": ["150001"], "fail_on_refusal": False})
    assert result["rc"] == 0 and "failed" not in result
    assert result["safe"] is False
    assert [r["code"] for r in result["refusals"]] == ["FIRMWARE_TOO_OLD"]


def test_check_mode_gives_the_same_answer(run):
    args = {"fleet_file": DEMO, "targets": ["154701"]}
    assert run(args, check_mode=True) == run(args)


def test_the_file_is_never_changed(run):
    before = hashlib.sha256(open(DEMO, "rb").read()).hexdigest()
    run({"fleet_file": DEMO, "targets": ["154701", "154702"]})
    run({"fleet_file": DEMO, "targets": ["150001"]})
    assert hashlib.sha256(open(DEMO, "rb").read()).hexdigest() == before


def test_fleet_list_with_ha_groups_option(run):
    data = demo()
    # Without HA groups, one member of ha_east alone is fine (its keys then have no peer to come back from) ...
    alone = run({"fleet": data["hsms"], "targets": ["154701"], "accept_key_loss": True})
    assert alone["safe"] is True
    # ... with them, it splits the group.
    split = run({"fleet": data["hsms"], "ha_groups": data["ha_groups"], "targets": ["154701"],
                 "accept_key_loss": True, "fail_on_refusal": False})
    assert [(r["serial"], r["code"]) for r in split["refusals"]] == [("154702", "HA_PEER_WOULD_DIVERGE")]


def test_fleet_mapping_by_serial_and_group_mapping(run):
    data = demo()
    by_serial = dict((h["serial"], h) for h in data["hsms"])
    result = run({"fleet": by_serial, "ha_groups": {"ha_east": ["154701", "154702"]},
                  "targets": ["154701"], "fail_on_refusal": False})
    assert [r["code"] for r in result["refusals"]] == ["HA_PEER_WOULD_DIVERGE"]


def test_ha_groups_option_overrides_the_files(run):
    # With the file's groups, 154701 alone splits ha_east; with none, its keys have no peer to come back from.
    from_file = run({"fleet_file": DEMO, "targets": ["154701"], "fail_on_refusal": False})
    assert [r["code"] for r in from_file["refusals"]] == ["HA_PEER_WOULD_DIVERGE"]
    overridden = run({"fleet_file": DEMO, "ha_groups": [], "targets": ["154701"], "fail_on_refusal": False})
    assert [(r["serial"], r["code"]) for r in overridden["refusals"]] == [("154701", "KEYS_WOULD_BE_LOST")]


def test_json_file_and_key_loss(run):
    refused = run({"fleet_file": fixture("fleet.json"), "targets": ["200009"], "fail_on_refusal": False})
    assert [(r["serial"], r["code"]) for r in refused["refusals"]] == [("200009", "KEYS_WOULD_BE_LOST")]
    accepted = run({"fleet_file": fixture("fleet.json"), "targets": ["200009"], "accept_key_loss": True})
    assert accepted["safe"] is True and accepted["plan"]["steps"][0]["actions"] == ["apply_cuf", "enable_policy"]


def test_list_shaped_file(run, tmp_path):
    path = tmp_path / "fleet.yml"
    path.write_text(yaml.safe_dump(demo()["hsms"]), encoding="utf-8")
    result = run({"fleet_file": str(path), "targets": ["154740"], "state": "off"})
    assert result["safe"] is True
    assert result["plan"]["wave_details"] == [{"wave": 1, "action": "disable_policy", "serials": ["154740"]}]


def test_unknown_target_is_a_refusal(run):
    result = run({"fleet_file": DEMO, "targets": ["999999"]})
    assert result["failed"] is True
    assert result["refusals"][0]["code"] == "UNKNOWN_HSM" and "HSM 999999" in result["msg"]


@pytest.mark.parametrize("args, words", [
    ({"fleet_file": fixture("bad_firmware.yml"), "targets": ["300001"]},
     ["fleet_file", "HSM 300001", "field 'firmware'", "6.2.2-5"]),
    ({"fleet_file": fixture("no_hsms.yml"), "targets": ["1"]}, ["under 'hsms'", "found keys fleet"]),
    ({"fleet_file": fixture("nope.yml"), "targets": ["1"]}, ["nope.yml: no such file"]),
    ({"fleet": [{"serial": "1", "firmware": "6.22.0"}], "targets": ["1"]}, ["HSM 1", "field 'auth'", "missing"]),
    ({"fleet": "154701", "targets": ["1"]}, ["field 'fleet'", "expected a list"]),
    ({"fleet_file": DEMO, "ha_groups": [{"name": "g", "members": ["424242"]}], "targets": ["154701"]},
     ["HSM 424242", "not in the fleet facts"]),
])
def test_bad_input_is_a_clear_error(run, args, words):
    result = run(args)
    assert result["failed"] is True
    for word in words:
        assert word in result["msg"]
    assert "Traceback" not in result["msg"]


def test_malformed_fleet_file_names_the_file_and_line(run, tmp_path):
    # Written here, not stored: a stored malformed YAML file would fail the collection's YAML lint.
    path = tmp_path / "broken.yml"
    path.write_text('hsms:\n  - serial: "1"\n    firmware: [unclosed\n', encoding="utf-8")
    result = run({"fleet_file": str(path), "targets": ["1"]})
    assert result["failed"] is True
    assert "broken.yml is not valid YAML or JSON" in result["msg"] and "line" in result["msg"]
    assert "Traceback" not in result["msg"]


def test_fleet_and_fleet_file_are_exclusive(run):
    result = run({"fleet": [], "fleet_file": DEMO, "targets": ["1"]})
    assert result["failed"] is True and "mutually exclusive" in result["msg"]
    result = run({"targets": ["1"]})
    assert result["failed"] is True and "one of the following is required" in result["msg"]
