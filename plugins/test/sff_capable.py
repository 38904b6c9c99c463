# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: sff_capable
short_description: Whether the SFF backup capability update may be applied to an HSM
version_added: 0.1.0
author: hsmops engineers (@hsmops)
description:
  - True when the HSM has firmware 6.21.0 or newer, is a cloning HSM and is PED-authenticated, so the SFF
    backup capability update (CUF) may be (or has been) applied.
  - The same decision as the C(sff_capable) key of P(hsmops.luna.sff_status#filter); see C(docs/rules.md).
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
- name: The serials of the HSMs that can get SFF backup
  ansible.builtin.debug:
    msg: "{{ fleet_facts | select('hsmops.luna.sff_capable') | map(attribute='serial') }}"

- name: Refuse an HSM that can never get SFF backup
  ansible.builtin.assert:
    that: hsm_facts is hsmops.luna.sff_capable
"""

RETURN = r"""
_value:
  description: Whether the HSM is SFF capable.
  type: bool
"""

from ansible_collections.hsmops.luna.plugins.plugin_utils.sff_jinja import engine_call

PLUGIN = "hsmops.luna.sff_capable"


def sff_capable_test(hsm):
    """HSM facts -> True when the SFF CUF may be applied."""
    # Imported here, not at the top: see plugin_utils/sff_jinja.py (every worker loads every filter file).
    from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import sff_status
    return bool(engine_call(PLUGIN, sff_status, hsm)["sff_capable"])


class TestModule(object):
    def tests(self):
        return {"sff_capable": sff_capable_test}
