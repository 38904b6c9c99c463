# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: sff_active
short_description: Whether SFF backup is active on an HSM
version_added: 0.1.0
author: hsmops engineers (@hsmops)
description:
  - True when the HSM has firmware 6.21.0 or newer, the SFF backup capability update applied and HSM
    policy 38 on. If any of the three is missing the feature cannot work, and the HSM clones as it always did.
  - The same decision as the C(sff_active) key of P(hsmops.luna.sff_status#filter); see C(docs/rules.md).
options:
  _input:
    description: The facts of one HSM (see C(docs/facts.md)).
    type: dict
    required: true
seealso:
  - plugin: hsmops.luna.sff_status
    plugin_type: filter
"""

EXAMPLES = r"""
- name: The HSMs that already have SFF backup active
  ansible.builtin.debug:
    msg: "{{ fleet_facts | select('hsmops.luna.sff_active') | map(attribute='serial') }}"
"""

RETURN = r"""
_value:
  description: Whether SFF backup is active on the HSM.
  type: bool
"""

from ansible_collections.hsmops.luna.plugins.plugin_utils.sff_jinja import engine_call

PLUGIN = "hsmops.luna.sff_active"


def sff_active_test(hsm):
    """HSM facts -> True when firmware, CUF and HSM policy 38 are all in place."""
    # Imported here, not at the top: see plugin_utils/sff_jinja.py (every worker loads every filter file).
    from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import sff_active, validate_hsm
    return bool(engine_call(PLUGIN, lambda h: sff_active(validate_hsm(h)), hsm))


class TestModule(object):
    def tests(self):
        return {"sff_active": sff_active_test}
