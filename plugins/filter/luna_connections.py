# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: luna_connections
short_description: Connection entries for the modules that take a list of appliances, from inventory hosts
version_added: 0.1.0
author: hsmops engineers (@hsmops)
description:
  - Turns inventory host names into the appliance entries that
    M(hsmops.luna.fleet_info) (O(hsmops.luna.fleet_info#module:appliances)),
    M(hsmops.luna.ha_group_policy) (O(hsmops.luna.ha_group_policy#module:members)) and
    M(hsmops.luna.partition_sync) (O(hsmops.luna.partition_sync#module:peers)) take, from each host's
    C(luna_url), C(luna_username), C(luna_password), C(luna_ca_path), C(luna_validate_certs) and
    C(luna_so_password) (the inventory the emulated fleet writes uses the same names, see C(docs/connection.md)).
  - A variable a host does not set is left out of its entry, so the module's own default applies.
  - The entries carry passwords. Pass them straight to a module option, which never logs them; do not keep
    them in a fact or print them.
options:
  _input:
    description: Inventory host names, in the order the entries should come.
    type: list
    elements: str
    required: true
  hostvars:
    description: The C(hostvars) magic variable (any mapping of host name to its variables will do).
    type: dict
    required: true
  so_password:
    description: Add each host's C(luna_so_password) (for modules that change an HSM).
    type: bool
    default: false
seealso:
  - module: hsmops.luna.fleet_info
  - module: hsmops.luna.ha_group_policy
"""

EXAMPLES = r"""
- name: Read every member of an HA group in one task
  hsmops.luna.fleet_info:
    appliances: "{{ groups['ha_east'] | hsmops.luna.luna_connections(hostvars) }}"

- name: Switch policy 38 on the whole group at once
  hsmops.luna.ha_group_policy:
    group: ha_east
    members: "{{ groups['ha_east'] | hsmops.luna.luna_connections(hostvars, so_password=true) }}"
    sff_backup: true
"""

RETURN = r"""
_value:
  description: One entry per host, in input order.
  type: list
  elements: dict
  contains:
    name:
      description: The inventory host name.
      type: str
    url:
      description: The host's C(luna_url).
      type: str
    username:
      description: The host's C(luna_username), when set.
      type: str
    password:
      description: The host's C(luna_password), when set.
      type: str
    ca_path:
      description: The host's C(luna_ca_path), when set.
      type: str
    validate_certs:
      description: The host's C(luna_validate_certs) as a boolean, when set.
      type: bool
    so_password:
      description: The host's C(luna_so_password), when set and O(so_password=true).
      type: str
"""

from collections.abc import Sequence

from ansible.errors import AnsibleFilterError

from ansible_collections.hsmops.luna.plugins.plugin_utils.luna_inventory import check_hostvars, connection_options
from ansible_collections.hsmops.luna.plugins.plugin_utils.sff_jinja import flag

PLUGIN = "hsmops.luna.luna_connections"


def luna_connections_filter(hosts, hostvars=None, so_password=False):
    """Inventory host names -> [{name, url, username?, password?, ca_path?, validate_certs?, so_password?}]."""
    if isinstance(hosts, (str, bytes)) or not isinstance(hosts, Sequence):
        raise AnsibleFilterError("%s: expected a list of inventory host names, got %r" % (PLUGIN, hosts))
    check_hostvars(PLUGIN, hostvars)
    flag(PLUGIN, "so_password", so_password)
    return [dict({"name": str(host)}, **connection_options(PLUGIN, host, hostvars, so_password)) for host in hosts]


class FilterModule(object):
    def filters(self):
        return {"luna_connections": luna_connections_filter}
