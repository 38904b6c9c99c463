# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: clone_compatible
short_description: Whether objects can be cloned from one HSM to another
version_added: 0.1.0
author: hsmops engineers (@hsmops)
description:
  - True when cloning from the tested HSM to the target HSM can work, that is when both are cloning HSMs in the same
    cloning domain with the same SFF backup activity.
  - The same decision as the C(possible) key of P(hsmops.luna.clone_verdict#filter); see C(docs/rules.md).
options:
  _input:
    description: The facts of the source HSM (see C(docs/facts.md)).
    type: dict
    required: true
  target:
    description: The facts of the target HSM.
    type: dict
    required: true
seealso:
  - plugin: hsmops.luna.clone_verdict
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Refuse to clone across an SFF mismatch
  ansible.builtin.assert:
    that: source_facts is hsmops.luna.clone_compatible(target_facts)
    fail_msg: "{{ (source_facts | hsmops.luna.clone_verdict(target_facts)).reasons }}"
"""

RETURN = r"""
_value:
  description: Whether cloning from source to target can work.
  type: bool
"""

from ansible_collections.hsmops.luna.plugins.plugin_utils.sff_jinja import engine_call

PLUGIN = "hsmops.luna.clone_compatible"


def clone_compatible_test(source, target):
    """Source facts, target facts -> True when cloning can work."""
    # Imported here, not at the top: see plugin_utils/sff_jinja.py (every worker loads every filter file).
    from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import clone_verdict
    return bool(engine_call(PLUGIN, clone_verdict, source, target)["possible"])


class TestModule(object):
    def tests(self):
        return {"clone_compatible": clone_compatible_test}
