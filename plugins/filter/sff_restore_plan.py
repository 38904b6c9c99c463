# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: sff_restore_plan
short_description: What an HSM must get back after its SFF capability update wipes it
version_added: 0.1.0
author: hsmops engineers (@hsmops)
description:
  - Applying the SFF capability update (CUF) erases every partition of the HSM. From the facts of
    its HA group read right before, this says which partitions to recreate (same labels, same
    policies), which HA peer to re-synchronise each from, and how many objects each must hold
    afterwards.
  - Its own partitions come first, then the partitions every HA peer holds that it lacks (an HSM
    wiped by an earlier, interrupted run gets them back too).
options:
  _input:
    description: The facts of every member of the HA group, the HSM itself included (see C(docs/facts.md)).
    type: list
    elements: dict
    required: true
  serial:
    description: Serial of the HSM getting the CUF.
    type: str
    required: true
  ha_partitions:
    description: Labels of the partitions the HA group replicates; empty means every label all its peers hold.
    type: list
    elements: str
    default: []
  accept_key_loss:
    description: Objects no peer holds are given up, so only the peers' object count is expected.
    type: bool
    default: false
  names:
    description: Serial to name (for example inventory host) for RV(_value[].peers) and RV(_value[].source).
    type: dict
    default: {}
seealso:
  - plugin: hsmops.luna.sff_change_plan
    plugin_type: filter
"""

EXAMPLES = r"""
- name: What 154702 needs back after its CUF
  ansible.builtin.debug:
    msg: "{{ group_facts | hsmops.luna.sff_restore_plan(serial='154702') }}"
  # -> [{'label': 'payments', 'policies': {...}, 'expected': 2, 'peers': ['154701'], 'source': '154701',
  #      'had': 2, 'serial_before': '1000002'}]
"""

RETURN = r"""
_value:
  description:
    - One item per partition, each with C(label), C(policies), C(expected) (objects after
      re-synchronising), C(peers) (HA peers holding that label), C(source) (the peer holding the most
      of its objects, or null), C(had) (its own object count, or null) and C(serial_before) (its own
      partition serial, or null).
  type: list
  elements: dict
"""

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

from ansible_collections.hsmops.luna.plugins.plugin_utils.sff_jinja import engine_call, flag, plain

PLUGIN = "hsmops.luna.sff_restore_plan"


def sff_restore_plan_filter(group_facts, serial=None, ha_partitions=None, accept_key_loss=False, names=None):
    """HA group facts -> the partitions the HSM `serial` must get back after its CUF."""
    # Imported here, not at the top: see plugin_utils/sff_jinja.py (every worker loads every filter file).
    from ansible_collections.hsmops.luna.plugins.module_utils.sff_plan import restore_plan
    if serial is None or isinstance(serial, bool) or not isinstance(serial, (str, int)) or not str(serial).strip():
        raise AnsibleFilterError("%s: option 'serial': give the serial of the HSM getting the CUF, got %r" % (PLUGIN, serial))
    if ha_partitions is not None and (isinstance(ha_partitions, (str, bytes)) or not isinstance(ha_partitions, Sequence)):
        raise AnsibleFilterError("%s: option 'ha_partitions': expected a list of partition labels, got %r"
                                 % (PLUGIN, ha_partitions))
    if names is not None and not isinstance(names, Mapping):
        raise AnsibleFilterError("%s: option 'names': expected a mapping of serial to name, got %r" % (PLUGIN, names))
    flag(PLUGIN, "accept_key_loss", accept_key_loss)
    return plain(engine_call(PLUGIN, restore_plan, group_facts, str(serial), ha_partitions=ha_partitions,
                             accept_key_loss=accept_key_loss,
                             names=dict((str(k), str(v)) for k, v in (names or {}).items())))


class FilterModule(object):
    def filters(self):
        return {"sff_restore_plan": sff_restore_plan_filter}
