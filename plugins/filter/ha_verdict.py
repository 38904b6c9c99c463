# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: ha_verdict
short_description: Whether the members of an HA group can replicate with each other
version_added: 0.1.0
author: hsmops engineers (@hsmops)
description:
  - Decides whether a set of HSMs can form (or stay) an HA group.
  - Members must all be cloning HSMs with the same authentication type, the same cloning domain
    and the same SFF backup activity. An HSM with SFF backup active can share an HA group only with
    other HSMs that have it active.
  - The members outside the majority are the offenders; on a tie in SFF activity, the members
    without SFF active are named.
  - The decision is made by the collection's rules engine; see C(docs/rules.md).
options:
  _input:
    description:
      - The members, as a list of HSM facts (see C(docs/facts.md)).
      - With O(fleet), a list of HSM serials is accepted as well.
    type: list
    elements: raw
    required: true
  fleet:
    description:
      - The facts of the fleet, used to look up members given as serials.
    type: list
    elements: dict
  name:
    description: The HA group's name, used in the messages.
    type: str
seealso:
  - plugin: hsmops.luna.sff_change_plan
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Check an HA group given as facts
  ansible.builtin.assert:
    that: (ha_members | hsmops.luna.ha_verdict).compatible

- name: Check an HA group given as serials
  ansible.builtin.debug:
    msg: "{{ ['154701', '154740'] | hsmops.luna.ha_verdict(fleet=fleet_facts, name='ha_east') }}"
  # -> {compatible: false, offenders: ['154701'], reasons: ['SFF_MISMATCH'], ...}
"""

RETURN = r"""
_value:
  description: The HA group verdict.
  type: dict
  contains:
    compatible:
      description: Every member can replicate with every other member.
      type: bool
    offenders:
      description: Serials of the members that break the group.
      type: list
      elements: str
    reasons:
      description: Reason codes, each once (C(SFF_MISMATCH), C(DOMAIN_MISMATCH), C(AUTH_MISMATCH), C(NOT_CLONING_HSM)).
      type: list
      elements: str
    findings:
      description: Every finding with its C(code), C(serial) and a C(message) saying what to do.
      type: list
      elements: dict
    sff_active:
      description: Serial -> whether SFF backup is active on that member.
      type: dict
"""

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

from ansible_collections.hsmops.luna.plugins.plugin_utils.sff_jinja import engine_call, plain

PLUGIN = "hsmops.luna.ha_verdict"


def ha_verdict_filter(members, fleet=None, name=None):
    """HA group members (facts, or serials with fleet=) -> {compatible, offenders, reasons, ...}."""
    # Imported here, not at the top: see plugin_utils/sff_jinja.py (every worker loads every filter file).
    from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import ha_verdict, validate_fleet
    if fleet is not None and isinstance(members, Sequence) and not isinstance(members, (str, bytes)):
        hsms = engine_call(PLUGIN, validate_fleet, fleet)
        resolved = []
        for index, member in enumerate(members):
            if isinstance(member, Mapping):
                resolved.append(member)
                continue
            serial = str(member).strip()
            if serial not in hsms:
                raise AnsibleFilterError(
                    "%s: HSM %s: field 'members[%d]': not in the fleet facts; gather facts for it or fix the group"
                    % (PLUGIN, serial, index))
            resolved.append(hsms[serial])
        members = resolved
    return plain(engine_call(PLUGIN, ha_verdict, members, name=None if name is None else str(name)))


class FilterModule(object):
    def filters(self):
        return {"ha_verdict": ha_verdict_filter}
