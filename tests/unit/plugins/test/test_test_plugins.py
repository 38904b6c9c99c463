# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test plugins called through their TestModule classes: real booleans, the engine's decisions."""

import itertools

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hsmops.luna.plugins.module_utils import sff_rules
from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import FactError
from ansible_collections.hsmops.luna.plugins.test import clone_compatible, sff_active, sff_capable

MODULES = {"sff_capable": sff_capable, "sff_active": sff_active, "clone_compatible": clone_compatible}


def tst(name):
    return MODULES[name].TestModule().tests()[name]


def test_every_test_is_exported_under_its_file_name():
    for name, module in MODULES.items():
        assert list(module.TestModule().tests()) == [name]
        assert "name: %s\n" % name in module.DOCUMENTATION


@pytest.mark.parametrize("serial, capable, active", [
    ("154701", True, False), ("154712", True, False), ("150001", False, False), ("150002", False, False),
    ("154720", False, False), ("154730", False, False), ("154740", True, True),
])
def test_sff_capable_and_active(serial, capable, active, sff_demo_by_serial):
    facts = sff_demo_by_serial[serial]
    assert tst("sff_capable")(facts) is capable
    assert tst("sff_active")(facts) is active


def test_clone_compatible_agrees_with_the_engine_for_every_demo_pair(sff_demo):
    for a, b in itertools.product(sff_demo["hsms"], repeat=2):
        result = tst("clone_compatible")(a, b)
        assert result is sff_rules.clone_verdict(a, b)["possible"]
        assert result.__class__ is bool


@pytest.mark.parametrize("name, args", [
    ("sff_capable", ({"serial": "154701", "firmware": "6.22"},)),
    ("sff_active", ({"serial": "154701", "firmware": "6.22"},)),
    ("clone_compatible", ({"serial": "154701", "firmware": "6.22"}, {"serial": "2"})),
])
def test_bad_input_names_plugin_field_and_hsm(name, args):
    with pytest.raises(AnsibleFilterError) as caught:
        tst(name)(*args)
    assert str(caught.value).startswith("hsmops.luna.%s: HSM 154701: field " % name)
    assert not isinstance(caught.value, FactError)


def test_bad_firmware_names_the_field(sff_demo_by_serial):
    facts = dict(sff_demo_by_serial["154701"], firmware="6.22")
    for name in ("sff_capable", "sff_active"):
        with pytest.raises(AnsibleFilterError, match=r"^hsmops.luna.%s: HSM 154701: field 'firmware': malformed" % name):
            tst(name)(facts)
    with pytest.raises(AnsibleFilterError, match=r"^hsmops.luna.clone_compatible: HSM 154701: field 'firmware'"):
        tst("clone_compatible")(sff_demo_by_serial["154702"], facts)
