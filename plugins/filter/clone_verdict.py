# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: clone_verdict
short_description: Whether objects can be cloned from one HSM to another
version_added: 0.1.0
author: hsmops engineers (@hsmops)
description:
  - Decides whether cloning from a source HSM to a target HSM can work, and whether SFF backups
    made on one can be restored on the other.
  - Cloning needs two cloning HSMs in the same cloning domain with the same SFF activity. When one side
    has SFF backup active and the other does not, the attempt fails with C(CKR_DATA_INVALID).
  - The outcome does not depend on the direction.
  - The decision is made by the collection's rules engine; see C(docs/rules.md).
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
  - plugin: hsmops.luna.clone_compatible
    plugin_type: test
"""

EXAMPLES = r"""
- name: Would cloning from east_1 to vault_1 work?
  ansible.builtin.debug:
    msg: "{{ east_1 | hsmops.luna.clone_verdict(vault_1) }}"
  # -> {possible: false, error: CKR_DATA_INVALID, reasons: [SFF_MISMATCH], ...}

- name: Refuse a clone that would fail on the appliance
  ansible.builtin.assert:
    that: (source | hsmops.luna.clone_verdict(target)).possible
    fail_msg: "{{ (source | hsmops.luna.clone_verdict(target)).findings | map(attribute='message') | join(' ') }}"
"""

RETURN = r"""
_value:
  description: The clone verdict.
  type: dict
  contains:
    possible:
      description: Cloning from source to target can work.
      type: bool
    error:
      description: C(CKR_DATA_INVALID) when the SFF states differ (what the appliance reports), else null.
      type: str
    failure_code:
      description: The return code an appliance reports for the first blocking reason, null when possible.
      type: str
    sff_interchange:
      description: SFF backups can be exchanged between the two (both SFF active and the same SIM secret).
      type: bool
    reasons:
      description: Blocking reason codes, for example C(SFF_MISMATCH), C(DOMAIN_MISMATCH), C(NOT_CLONING_HSM).
      type: list
      elements: str
    interchange_reasons:
      description: Why SFF backups cannot be exchanged (C(SFF_NOT_ACTIVE), C(SIM_SECRET_MISMATCH)).
      type: list
      elements: str
    findings:
      description: Every blocking reason with its C(code), C(serial) and a C(message) saying what to do.
      type: list
      elements: dict
    source_sff_active:
      description: SFF backup is active on the source.
      type: bool
    target_sff_active:
      description: SFF backup is active on the target.
      type: bool
"""

from ansible_collections.hsmops.luna.plugins.plugin_utils.sff_jinja import engine_call, plain

PLUGIN = "hsmops.luna.clone_verdict"


def clone_verdict_filter(source, target):
    """Source facts, target facts -> {possible, error, sff_interchange, reasons, ...}."""
    # Imported here, not at the top: see plugin_utils/sff_jinja.py (every worker loads every filter file).
    from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import clone_failure_code, clone_verdict
    verdict = engine_call(PLUGIN, clone_verdict, source, target)
    verdict["failure_code"] = clone_failure_code(verdict)
    return plain(verdict)


class FilterModule(object):
    def filters(self):
        return {"clone_verdict": clone_verdict_filter}
