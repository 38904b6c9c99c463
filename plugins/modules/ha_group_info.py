#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ha_group_info
short_description: Read the HA groups a Luna client defines in its Chrystoki.conf
version_added: 0.1.0
description:
  - HA groups of Luna HSM partitions are defined on the Luna client, not on the appliance
    (C(lunacm hagroup) writes them into the C(VirtualToken) section of the client's
    C(Chrystoki.conf)). This module reads that file on the managed host and returns every
    group with its label, group serial and member partition serials.
  - Given HSM facts (from M(hsmops.luna.hsm_info) or M(hsmops.luna.fleet_info)), it maps the member
    partitions to the HSMs holding them, so the groups can be handed to M(hsmops.luna.sff_check)
    or the rules filters. Partitions no HSM in the facts holds are listed as C(unmapped).
  - Reads both the Unix layout (C(VirtualToken = { VirtualToken00Label = ...; })) and the
    Windows INI layout (C([VirtualToken]), C(VirtualToken00Label=...)).
  - A malformed file fails with the file name and the line to fix.
author:
  - hsmops engineers (@hsmops)
extends_documentation_fragment:
  - hsmops.luna.attributes
  - hsmops.luna.attributes.INFO_MODULE
options:
  conf:
    description:
      - Path of the Luna client's C(Chrystoki.conf) on the managed host.
      - Usually C(/etc/Chrystoki.conf) on Unix clients.
    type: path
    required: true
  facts:
    description:
      - HSM facts (docs/facts.md) used to map member partition serials to HSM serials,
        for example C(fleet_info)'s C(hsms) or C(by_serial), or a list of C(hsm_info)'s C(hsm).
      - Only C(serial) and C(partitions[].serial) are read.
      - Without facts every group has empty C(members) and lists all its partitions as C(unmapped).
    type: raw
seealso:
  - module: hsmops.luna.fleet_info
  - module: hsmops.luna.sff_check
notes:
  - Members whose partition is held by more than one HSM in the facts are reported under
    C(ambiguous) rather than guessed.
"""

EXAMPLES = r"""
- name: Gather the fleet
  hsmops.luna.fleet_info:
    appliances: "{{ luna_appliances }}"
  register: fleet

- name: Read the client's HA groups and map them to HSMs
  hsmops.luna.ha_group_info:
    conf: /etc/Chrystoki.conf
    facts: "{{ fleet.hsms }}"
  register: client_ha

- name: Every member must be known before planning a change
  ansible.builtin.assert:
    that: client_ha.ha_groups | map(attribute='unmapped') | flatten | length == 0
    fail_msg: "Partitions of no gathered HSM: {{ client_ha.ha_groups | map(attribute='unmapped') | flatten }}"

- name: Check the planned SFF rollout against those groups
  hsmops.luna.sff_check:
    fleet: "{{ fleet.hsms }}"
    ha_groups: "{{ client_ha.ha_groups }}"
    targets: ["154701", "154702"]
    state: "on"
"""

RETURN = r"""
ha_groups:
  description: The HA groups of the file, in the order of their C(VirtualToken) index.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Group label (C(VirtualTokenNNLabel)).
      type: str
      sample: payments_ha
    group_serial:
      description: Serial of the virtual HA slot (C(VirtualTokenNNSN)).
      type: str
      sample: "11000001"
    index:
      description: The NN of the C(VirtualTokenNN...) keys.
      type: int
      sample: 0
    partitions:
      description: Member partition serials (C(VirtualTokenNNMembers)), in file order.
      type: list
      elements: str
      sample: ["1000001", "1000002"]
    members:
      description: Serials of the HSMs holding the member partitions, in member order.
      type: list
      elements: str
      sample: ["154701", "154702"]
    unmapped:
      description: Member partition serials that no HSM in O(facts) holds.
      type: list
      elements: str
      sample: []
    ambiguous:
      description: Member partitions held by more than one HSM in O(facts).
      type: list
      elements: dict
      sample: []
    synchronize:
      description: The group's C(HASynchronize) flag, null when the file does not set it.
      type: bool
      sample: true
    line:
      description: Line of the file that defines the group label.
      type: int
      sample: 12
ha_configuration:
  description: The C(HAConfiguration) settings of the file, as written.
  returned: always
  type: dict
  sample: {"HAOnly": "1", "reconnAtt": "-1"}
conf:
  description: The file that was read.
  returned: always
  type: str
  sample: /etc/Chrystoki.conf
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hsmops.luna.plugins.module_utils.chrystoki_conf import (
    ConfError,
    map_ha_groups,
    partition_owners,
    read_ha_groups,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            conf=dict(type="path", required=True),
            facts=dict(type="raw"),
        ),
        supports_check_mode=True,
    )
    path = module.params["conf"]
    try:
        parsed = read_ha_groups(path)
    except ConfError as exc:
        module.fail_json(msg="Cannot read the HA groups of the Luna client configuration %s" % exc, conf=path)
    facts = module.params["facts"]
    try:
        owners = partition_owners(facts) if facts is not None else {}
    except ValueError as exc:
        module.fail_json(msg="Option 'facts': %s" % exc, conf=path)
    module.exit_json(
        changed=False,
        conf=path,
        ha_groups=map_ha_groups(parsed["ha_groups"], owners),
        ha_configuration=parsed["ha_configuration"],
    )


if __name__ == "__main__":
    main()
