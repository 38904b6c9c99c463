# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: luna_module_args
short_description: The connection options of one appliance, from its inventory host, for a task's args
version_added: 0.1.0
author: hsmops engineers (@hsmops)
description:
  - Turns one inventory host name into the connection options every single-appliance module of this
    collection takes (O(hsmops.luna.partition#module:url), O(hsmops.luna.partition#module:username),
    O(hsmops.luna.partition#module:password), O(hsmops.luna.partition#module:ca_path),
    O(hsmops.luna.partition#module:validate_certs) and, when asked,
    O(hsmops.luna.partition#module:so_password)), from the host's C(luna_url), C(luna_username),
    C(luna_password), C(luna_ca_path), C(luna_validate_certs) and C(luna_so_password).
  - Meant for the task keyword C(args) of a task delegated to the controller that works on another host's
    appliance; the task's own options are merged over it. One template instead of one per option, and
    the host's variables are looked up once.
  - A variable the host does not set is left out, so the module's own default applies.
  - The result carries passwords. Pass it straight to a module, which never logs them; do not keep it in a
    fact or print it.
options:
  _input:
    description: One inventory host name.
    type: str
    required: true
  hostvars:
    description: The C(hostvars) magic variable (any mapping of host name to its variables will do).
    type: dict
    required: true
  so_password:
    description: Add the host's C(luna_so_password) (for modules that change an HSM).
    type: bool
    default: false
seealso:
  - plugin: hsmops.luna.luna_connections
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Recreate a partition on each member, one task delegated to the controller
  hsmops.luna.partition:
    label: payments
    state: present
  args: "{{ item | hsmops.luna.luna_module_args(hostvars, so_password=true) }}"
  loop: "{{ groups['ha_east'] }}"
  delegate_to: localhost
"""

RETURN = r"""
_value:
  description: The module options, only those the host sets (O(so_password) only when asked).
  type: dict
  contains:
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

from ansible.errors import AnsibleFilterError

from ansible_collections.hsmops.luna.plugins.plugin_utils.luna_inventory import check_hostvars, connection_options
from ansible_collections.hsmops.luna.plugins.plugin_utils.sff_jinja import flag

PLUGIN = "hsmops.luna.luna_module_args"


def luna_module_args_filter(host, hostvars=None, so_password=False):
    """Inventory host name -> {url, username?, password?, ca_path?, validate_certs?, so_password?}."""
    if not isinstance(host, str) or not host:
        raise AnsibleFilterError("%s: expected one inventory host name, got %r" % (PLUGIN, host))
    check_hostvars(PLUGIN, hostvars)
    flag(PLUGIN, "so_password", so_password)
    return connection_options(PLUGIN, host, hostvars, so_password)


class FilterModule(object):
    def filters(self):
        return {"luna_module_args": luna_module_args_filter}
