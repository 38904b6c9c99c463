# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One inventory host's luna_* variables -> the connection options of the hsmops.luna modules.

Shared by the luna_connections filter (the appliance lists fleet_info, ha_group_policy and
partition_sync take) and the luna_module_args filter (one appliance, for a task's `args:`), so the
inventory contract is read in one place and both name the host and the variable on bad input.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

# Inventory variable -> module option; luna_url is required and handled apart.
OPTIONAL = (("luna_username", "username"), ("luna_password", "password"), ("luna_ca_path", "ca_path"))
SO_PASSWORD = ("luna_so_password", "so_password")


def _text(plugin, host, var, value):
    # The message names the type only: the value may be a password.
    if not isinstance(value, str):
        raise AnsibleFilterError("%s: host %s: %s must be a string, got %s: fix it in the inventory."
                                 % (plugin, host, var, type(value).__name__))
    return str(value)


def check_hostvars(plugin, hostvars):
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError("%s: option 'hostvars': pass the hostvars variable, got %r" % (plugin, hostvars))


def connection_options(plugin, host, hostvars, so_password):
    """{url, username?, password?, ca_path?, validate_certs?, so_password?} of one inventory host.

    A variable the host does not set is left out, so the module's own default applies.
    """
    host = str(host)
    if host not in hostvars:
        raise AnsibleFilterError("%s: host %s is not in the inventory: add it or drop it from the list." % (plugin, host))
    hv = hostvars[host]
    if "luna_url" not in hv:
        raise AnsibleFilterError("%s: host %s has no luna_url: set luna_url (and luna_password, luna_ca_path) "
                                 "for it in the inventory." % (plugin, host))
    options = {"url": _text(plugin, host, "luna_url", hv["luna_url"])}
    for var, option in OPTIONAL + ((SO_PASSWORD,) if so_password else ()):
        if var in hv:
            options[option] = _text(plugin, host, var, hv[var])
    if "luna_validate_certs" in hv:
        try:
            options["validate_certs"] = boolean(hv["luna_validate_certs"], strict=True)
        except TypeError:
            raise AnsibleFilterError("%s: host %s: luna_validate_certs must be true or false, got %r."
                                     % (plugin, host, hv["luna_validate_certs"]))
    return options
