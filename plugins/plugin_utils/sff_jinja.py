# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every hsmops.luna filter and test plugin shares: call the rules engine, turn its bad-input
errors into AnsibleFilterError naming the plugin, and hand Jinja fresh plain dicts and lists.

The plugins import the rules engine (module_utils) and jmespath inside the function that uses
them, not at the top of the file: to find one filter of a collection, Ansible imports every
filter file of that collection, and it does so again in each worker process that templates one.
A task that only maps inventory hosts (luna_connections) then does not compile the engine.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping, Set, Sequence

from ansible.errors import AnsibleFilterError


def plain(value):
    """A deep copy made of plain dict, list, str, int, float, bool and None.

    Engine results may hold values taken from the input, and inputs from Jinja may be lazy or
    tagged containers: nothing of those leaks back out of a plugin.
    """
    if value is None or type(value) in (bool, int, float):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (Sequence, Set)) and not isinstance(value, (bytes, bytearray)):
        return [plain(v) for v in value]
    return value


def engine_call(plugin, func, *args, **kwargs):
    """func(*args, **kwargs) with FactError turned into AnsibleFilterError('<plugin>: <what is wrong>')."""
    # func comes from the engine, so this import finds the module already loaded.
    from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import FactError
    try:
        return func(*args, **kwargs)
    except FactError as exc:
        raise AnsibleFilterError("%s: %s" % (plugin, exc), orig_exc=exc)


def flag(plugin, name, value):
    """A boolean option: a real bool, else an error naming the option."""
    if not isinstance(value, bool):
        raise AnsibleFilterError("%s: option '%s': expected true or false, got %r" % (plugin, name, value))
    return value
