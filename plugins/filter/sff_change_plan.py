# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: sff_change_plan
short_description: Plan switching SFF backup on or off for a set of HSMs, in safe waves
version_added: 0.1.0
author: hsmops engineers (@hsmops)
description:
  - Given the facts of a fleet, its HA groups and the HSMs that should end with SFF backup on (or off),
    either refuses with every reason found or returns the changes in ordered waves.
  - A plan with any refusal is not safe and has no waves; nothing may be changed.
  - Waves apply the capability update (CUF, which wipes the HSM) to at most one member of each HA group
    at a time, every CUF before any policy change, then switch HSM policy 38 for all targets in one last
    wave, so no HA group is left with mixed SFF states.
  - The decision is made by the collection's rules engine; see C(docs/rules.md).
options:
  _input:
    description: The facts of every HSM of the fleet (see C(docs/facts.md)).
    type: list
    elements: dict
    required: true
  targets:
    description: Serials of the HSMs that should end with SFF backup in O(state).
    type: list
    elements: str
    required: true
  ha_groups:
    description: The HA groups, each C({name, members}) with member serials. Every member must be in the fleet.
    type: list
    elements: dict
  state:
    description: Whether SFF backup should end C(on) or C(off) on the targets.
    type: str
    choices: ['on', 'off']
    default: 'on'
  accept_key_loss:
    description:
      - Do not refuse when the CUF would wipe objects that no HA peer can clone back.
      - Only for HSMs whose keys are backed up elsewhere, or are expendable.
    type: bool
    default: false
seealso:
  - plugin: hsmops.luna.sff_targets
    plugin_type: filter
  - plugin: hsmops.luna.ha_verdict
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Plan SFF for both members of ha_east
  ansible.builtin.set_fact:
    sff_plan: >-
      {{ fleet_facts | hsmops.luna.sff_change_plan(targets=['154701', '154702'],
                                                   ha_groups=[{'name': 'ha_east', 'members': ['154701', '154702']}]) }}
  # sff_plan.waves -> [['154701'], ['154702'], ['154701', '154702']]

- name: Stop before touching anything when the plan is refused
  ansible.builtin.assert:
    that: sff_plan.safe
    fail_msg: "{{ sff_plan.refusals | map(attribute='message') | join(' ') }}"
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    safe:
      description: No refusal was found; the waves may be applied in order.
      type: bool
    state:
      description: The requested end state, C(on) or C(off).
      type: str
    refusals:
      description:
        - Every refusal found, each with a C(code) (for example C(UNKNOWN_HSM), C(FIRMWARE_TOO_OLD), C(NOT_CLONING_HSM),
          C(NOT_PED_AUTHENTICATED), C(HA_PEER_WOULD_DIVERGE), C(KEYS_WOULD_BE_LOST)), the C(serial) and a C(message).
      type: list
      elements: dict
      contains:
        code:
          description: Stable reason code.
          type: str
        serial:
          description: The HSM the refusal concerns.
          type: str
        message:
          description: What is wrong and what to do.
          type: str
    waves:
      description: Serials to change, wave by wave. Empty when the plan is not safe.
      type: list
      elements: list
    wave_details:
      description: Each wave with its number, C(action) (C(apply_cuf), C(enable_policy) or C(disable_policy)) and C(serials).
      type: list
      elements: dict
    steps:
      description: Per target, the C(actions) it needs and the C(ha_groups) it belongs to.
      type: list
      elements: dict
    unchanged:
      description: Targets already in the requested state.
      type: list
      elements: str
    groups:
      description: Per HA group, whether it is touched and whether its SFF state is uniform before and after.
      type: list
      elements: dict
"""

from ansible_collections.hsmops.luna.plugins.plugin_utils.sff_jinja import engine_call, flag, plain

PLUGIN = "hsmops.luna.sff_change_plan"


def sff_change_plan_filter(fleet, targets=None, ha_groups=None, state="on", accept_key_loss=False):
    """Fleet facts -> {safe, refusals, waves, ...} for switching SFF to state on targets."""
    # Imported here, not at the top: see plugin_utils/sff_jinja.py (every worker loads every filter file).
    from ansible_collections.hsmops.luna.plugins.module_utils.sff_plan import sff_change_plan
    flag(PLUGIN, "accept_key_loss", accept_key_loss)
    return plain(engine_call(PLUGIN, sff_change_plan, fleet, targets, ha_groups=ha_groups,
                             state=state, accept_key_loss=accept_key_loss))


class FilterModule(object):
    def filters(self):
        return {"sff_change_plan": sff_change_plan_filter}
