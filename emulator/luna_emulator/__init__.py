# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An emulated fleet of Luna Network HSM appliances.

One process serves every appliance of a fleet file over HTTPS (one listening socket per
appliance), keeps the fleet's state in SQLite and decides every SFF, cloning and HA question
with the collection's rules engine (plugins/module_utils/sff_rules.py, sff_plan.py).
The REST contract is docs/emulator-api.md.
"""

__version__ = "0.1.0"
