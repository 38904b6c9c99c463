# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: compat_report
short_description: SFF, cloning and HA compatibility report of a fleet
version_added: 0.1.0
author: hsmops engineers (@hsmops)
description:
  - Reports, for a fleet, the SFF status of each HSM, the clone verdict of each pair of HSMs that
    share an HA group or a cloning domain, the verdict of each HA group, and a summary per cloning domain.
  - Pairs are listed once each, source before target in fleet order (the verdict is the same both ways).
  - The work grows with the sizes of the HA groups and cloning domains, never with the square of the fleet.
    For very large cloning domains set O(domain_pairs=false); the per-domain summary still tells whether
    every pair in a domain can clone.
  - Every verdict is made by the collection's rules engine; see C(docs/rules.md).
options:
  _input:
    description: The facts of every HSM of the fleet (see C(docs/facts.md)).
    type: list
    elements: dict
    required: true
  ha_groups:
    description: The HA groups, each C({name, members}) with member serials. Every member must be in the fleet.
    type: list
    elements: dict
  domain_pairs:
    description: List every pair of HSMs that share a cloning domain, not only the pairs within HA groups.
    type: bool
    default: true
seealso:
  - plugin: hsmops.luna.clone_verdict
    plugin_type: filter
  - plugin: hsmops.luna.ha_verdict
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Report the fleet's compatibility
  ansible.builtin.debug:
    msg: "{{ fleet_facts | hsmops.luna.compat_report(ha_groups=ha_groups) }}"

- name: Only the pairs that cannot clone
  ansible.builtin.debug:
    msg: "{{ (fleet_facts | hsmops.luna.compat_report(ha_groups=ha_groups)).pairs | rejectattr('possible') }}"
"""

RETURN = r"""
_value:
  description: The report.
  type: dict
  contains:
    hsms:
      description: Per HSM, in fleet order.
      type: list
      elements: dict
      contains:
        serial:
          description: The HSM serial.
          type: str
        firmware:
          description: Firmware version.
          type: str
        cloning_domain:
          description: Cloning domain id.
          type: str
        ha_groups:
          description: Names of the HA groups the HSM belongs to.
          type: list
          elements: str
        sff_capable:
          description: The SFF capability update may be (or has been) applied.
          type: bool
        sff_active:
          description: SFF backup is active.
          type: bool
        reasons:
          description: Reason codes of the HSM's SFF status.
          type: list
          elements: str
    pairs:
      description: Per pair of HSMs within an HA group or a cloning domain.
      type: list
      elements: dict
      contains:
        source:
          description: Serial of the first HSM.
          type: str
        target:
          description: Serial of the second HSM.
          type: str
        ha_groups:
          description: The HA groups both belong to.
          type: list
          elements: str
        same_domain:
          description: Both are in the same cloning domain.
          type: bool
        possible:
          description: Cloning between the two can work.
          type: bool
        error:
          description: C(CKR_DATA_INVALID) on an SFF mismatch, else null.
          type: str
        sff_interchange:
          description: SFF backups can be exchanged between the two.
          type: bool
        reasons:
          description: Blocking reason codes.
          type: list
          elements: str
    ha_groups:
      description: Per HA group.
      type: list
      elements: dict
      contains:
        name:
          description: The group name.
          type: str
        members:
          description: Member serials.
          type: list
          elements: str
        compatible:
          description: Every member can replicate with every other.
          type: bool
        offenders:
          description: Members that break the group.
          type: list
          elements: str
        reasons:
          description: Reason codes.
          type: list
          elements: str
    domains:
      description: Per cloning domain, its members, those with SFF active and whether every pair can clone.
      type: list
      elements: dict
    summary:
      description: Counts of HSMs, SFF capable and active HSMs, pairs, blocked pairs, HA groups and incompatible HA groups.
      type: dict
"""

from ansible_collections.hsmops.luna.plugins.plugin_utils.sff_jinja import engine_call, flag, plain

PLUGIN = "hsmops.luna.compat_report"


def compat_report_filter(fleet, ha_groups=None, domain_pairs=True):
    """Fleet facts -> {hsms, pairs, ha_groups, domains, summary}."""
    # Imported here, not at the top: see plugin_utils/sff_jinja.py (every worker loads every filter file).
    from ansible_collections.hsmops.luna.plugins.module_utils.sff_report import compat_report
    flag(PLUGIN, "domain_pairs", domain_pairs)
    return plain(engine_call(PLUGIN, compat_report, fleet, ha_groups=ha_groups, domain_pairs=domain_pairs))


class FilterModule(object):
    def filters(self):
        return {"compat_report": compat_report_filter}
