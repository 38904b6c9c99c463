# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ha_group_info and the Chrystoki.conf reader behind it."""

from __future__ import annotations

import json
import os

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hsmops.luna.plugins.module_utils import chrystoki_conf
from ansible_collections.hsmops.luna.plugins.modules import ha_group_info

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "ha_group_info")


def fixture(name):
    return os.path.join(FIXTURES, name)


def windows_conf(tmp_path):
    """The Windows client writes CRLF line endings; the fixture is stored with LF (ansible-test's rule)."""
    path = tmp_path / "windows.conf"
    with open(fixture("windows.conf"), "rb") as handle:
        path.write_bytes(handle.read().replace(b"\n", b"\r\n"))
    return str(path)


def load_facts():
    with open(fixture("facts.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture
def run(capsys):
    def _run(args):
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exc:
                ha_group_info.main()
        result = json.loads(capsys.readouterr().out)
        result["rc"] = exc.value.code
        return result
    return _run


# ------------------------------------------------------------------ the reader


def test_unix_layout_groups_in_index_order():
    parsed = chrystoki_conf.read_ha_groups(fixture("unix.conf"))
    assert [(g["name"], g["group_serial"], g["partitions"], g["synchronize"]) for g in parsed["ha_groups"]] == [
        ("payments_ha", "11000001", ["1000001", "1000002"], True),
        ("tokens_ha", "11000011", ["1000011", "1000012", "1000013"], False),
    ]
    assert parsed["ha_configuration"] == {"haLogStatus": "enabled", "reconnAtt": "-1", "HAOnly": "1"}


def test_windows_ini_layout_with_crlf(tmp_path):
    conf = windows_conf(tmp_path)
    with open(conf, "rb") as handle:
        assert b"\r\n" in handle.read()
    parsed = chrystoki_conf.read_ha_groups(conf)
    assert [(g["name"], g["group_serial"], g["partitions"]) for g in parsed["ha_groups"]] == [
        ("par1", "1888800001", ["888800001", "888800002"]),
        ("par2", "1888800003", ["888800003"]),
    ]
    assert parsed["ha_groups"][0]["synchronize"] is True
    assert parsed["ha_groups"][1]["synchronize"] is None  # not set in HASynchronize


def test_index_order_is_numeric_not_textual():
    text = "VirtualToken = {\n" + "".join(
        "VirtualToken%02dLabel = g%d;\nVirtualToken%02dSN = 1%d;\nVirtualToken%02dMembers = %d;\n" % (i, i, i, i, i, i)
        for i in (10, 2, 0)) + "}\n"
    groups = chrystoki_conf.ha_groups_from_conf(chrystoki_conf.parse_conf(text))["ha_groups"]
    assert [g["name"] for g in groups] == ["g0", "g2", "g10"]


def test_file_without_ha_groups():
    parsed = chrystoki_conf.read_ha_groups(fixture("no_groups.conf"))
    assert parsed == {"ha_groups": [], "ha_configuration": {}}


@pytest.mark.parametrize("text, line, words", [
    ("VirtualToken = {\n  VirtualToken00Label = a;\n", 1, "never closed"),
    ("VirtualToken00Label = a;\n", 1, "outside any section"),
    ("Luna = {\n  DefaultTimeOut = 1;\n}\n}\n", 4, "closes no section"),
    ("Luna = {\n  this line is junk\n}\n", 2, "cannot read 'this line is junk'"),
    ("Luna = {\n  Inner = {\n}\n", 2, "opens inside section 'Luna'"),
    ("VirtualToken = {\n  VirtualToken00Label = a;\n  VirtualToken00Label = b;\n}\n", 3, "set twice"),
    ("VirtualToken = {\n  VirtualToken00Label = a;\n  VirtualToken00SN = 1;\n}\n", 2, "no VirtualToken00Members"),
    ("VirtualToken = {\n  VirtualToken00Label = a;\n  VirtualToken00SN = 1x;\n  VirtualToken00Members = 1;\n}\n",
     3, "group serial"),
    ("VirtualToken = {\n  VirtualToken00Label = a;\n  VirtualToken00SN = 1;\n  VirtualToken00Members = 1,,2;\n}\n",
     4, "comma-separated"),
    ("VirtualToken = {\n  VirtualToken00Label = a;\n  VirtualToken00SN = 1;\n  VirtualToken00Members = 1,p2;\n}\n",
     4, "'p2' is not a partition serial"),
    ("VirtualToken = {\n  VirtualToken00Label = ;\n  VirtualToken00SN = 1;\n  VirtualToken00Members = 1;\n}\n",
     2, "empty"),
    ("[VirtualToken]\nVirtualToken00Label=a\nVirtualToken00SN=1\nVirtualToken00Members=1\n"
     "VirtualToken01Label=a\nVirtualToken01SN=2\nVirtualToken01Members=2\n", 5, "used twice"),
    ("[VirtualToken]\nVirtualToken00Label=a\nVirtualToken00SN=1\nVirtualToken00Members=1\n[HASynchronize]\na=yes\n",
     6, "must be 0 or 1"),
])
def test_malformed_files_name_the_line(tmp_path, text, line, words):
    path = tmp_path / "Chrystoki.conf"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(chrystoki_conf.ConfError) as exc:
        chrystoki_conf.read_ha_groups(str(path))
    assert exc.value.line == line
    assert "%s, line %d: " % (path, line) in str(exc.value)
    assert words in str(exc.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(chrystoki_conf.ConfError) as exc:
        chrystoki_conf.read_ha_groups(str(tmp_path / "nope.conf"))
    assert "cannot read the file" in str(exc.value)


def test_partition_owners_accepts_list_or_mapping_and_flags_ambiguity():
    facts = load_facts()
    owners = chrystoki_conf.partition_owners(facts)
    assert owners["1000002"] == ["154702"]
    by_serial = dict((f["serial"], dict((k, v) for k, v in f.items() if k != "serial")) for f in facts)
    assert chrystoki_conf.partition_owners(by_serial) == owners
    facts.append({"serial": "154799", "partitions": [{"serial": "1000001", "label": "copy"}]})
    groups = chrystoki_conf.map_ha_groups(
        [{"name": "g", "partitions": ["1000001", "1000002"]}], chrystoki_conf.partition_owners(facts))
    assert groups[0]["members"] == ["154702"]
    assert groups[0]["ambiguous"] == [{"partition": "1000001", "hsms": ["154701", "154799"]}]


@pytest.mark.parametrize("facts, words", [
    ("154701", "expected a list of HSM facts"),
    ([{"label": "x"}], "facts[0]: every HSM needs its 'serial'"),
    ([{"serial": "1", "partitions": "p"}], "(HSM 1): 'partitions' must be a list"),
])
def test_bad_facts(facts, words):
    with pytest.raises(ValueError) as exc:
        chrystoki_conf.partition_owners(facts)
    assert words in str(exc.value)


# ------------------------------------------------------------------ the module


def test_module_maps_members_and_reports_unmapped(run):
    result = run({"conf": fixture("unix.conf"), "facts": load_facts()})
    assert result["rc"] == 0 and result["changed"] is False
    payments, tokens = result["ha_groups"]
    assert payments["members"] == ["154701", "154702"] and payments["unmapped"] == []
    assert tokens["members"] == ["154711"]
    assert tokens["unmapped"] == ["1000012", "1000013"]
    assert result["ha_configuration"]["HAOnly"] == "1"


def test_module_without_facts_lists_every_partition_unmapped(run, tmp_path):
    result = run({"conf": windows_conf(tmp_path)})
    assert result["rc"] == 0
    assert [g["unmapped"] for g in result["ha_groups"]] == [["888800001", "888800002"], ["888800003"]]
    assert all(g["members"] == [] for g in result["ha_groups"])


def test_module_check_mode_reads_the_same(run):
    plain = run({"conf": fixture("unix.conf"), "facts": load_facts()})
    checked = run({"conf": fixture("unix.conf"), "facts": load_facts(), "_ansible_check_mode": True})
    assert checked["ha_groups"] == plain["ha_groups"]


def test_module_output_feeds_sff_check_ha_groups():
    # ha_group_info's groups are accepted as they are by the change plan.
    from ansible_collections.hsmops.luna.plugins.module_utils.sff_plan import validate_ha_groups
    groups = chrystoki_conf.map_ha_groups(chrystoki_conf.read_ha_groups(fixture("unix.conf"))["ha_groups"],
                                          chrystoki_conf.partition_owners(load_facts()))
    hsms = {"154701": {}, "154702": {}, "154711": {}}
    assert validate_ha_groups(groups, hsms) == [
        {"name": "payments_ha", "members": ["154701", "154702"]},
        {"name": "tokens_ha", "members": ["154711"]},
    ]


def test_module_malformed_file_fails_naming_the_line(run, tmp_path):
    path = tmp_path / "Chrystoki.conf"
    path.write_text("VirtualToken = {\n  VirtualToken00Label = a;\n  VirtualToken00SN = 1;\n"
                    "  VirtualToken00Members = 1,p2;\n}\n", encoding="utf-8")
    result = run({"conf": str(path)})
    assert result["rc"] == 1 and result["failed"] is True
    assert "%s, line 4:" % path in result["msg"]
    assert "Traceback" not in result["msg"]


def test_module_bad_facts_fail_naming_the_option(run):
    result = run({"conf": fixture("unix.conf"), "facts": "not facts"})
    assert result["failed"] is True
    assert result["msg"].startswith("Option 'facts': ")
