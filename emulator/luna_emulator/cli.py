# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""luna-emulator serve | stop | status | mint-cuf (docs/emulator.md)."""

import argparse
import logging
import os
import signal
import sqlite3
import sys
import time

from luna_emulator.fleet import FleetError

EXIT_NOT_RUNNING = 3


def _read_pid(state_dir):
    try:
        with open(os.path.join(state_dir, "pid"), "r", encoding="ascii") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def _alive(pid):
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cmd_serve(args):
    from luna_emulator.serve import serve

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    pid = _read_pid(args.state_dir)
    if pid is not None and pid != os.getpid() and _alive(pid):
        print("luna-emulator: already running in %s (pid %d)" % (args.state_dir, pid), file=sys.stderr)
        return 1
    try:
        serve(args.state_dir, args.fleet, args.base_port, log_requests=not args.no_access_log)
    except FleetError as exc:
        print("luna-emulator: fleet file: %s" % exc, file=sys.stderr)
        return 2
    except OSError as exc:
        print("luna-emulator: cannot start: %s" % exc, file=sys.stderr)
        return 1
    return 0


def cmd_stop(args):
    pid = _read_pid(args.state_dir)
    if not _alive(pid):
        print("luna-emulator: not running in %s" % args.state_dir)
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if not _alive(pid) or not os.path.exists(os.path.join(args.state_dir, "pid")):
            print("luna-emulator: stopped (pid %d)" % pid)
            return 0
        time.sleep(0.05)
    print("luna-emulator: pid %d did not stop within %ss" % (pid, args.timeout), file=sys.stderr)
    return 1


def cmd_status(args):
    pid = _read_pid(args.state_dir)
    if not _alive(pid) or not os.path.exists(os.path.join(args.state_dir, "ready")):
        print("luna-emulator: not running in %s" % args.state_dir)
        return EXIT_NOT_RUNNING
    conn = sqlite3.connect("file:%s?mode=ro" % os.path.join(args.state_dir, "state.db"), uri=True)
    try:
        rows = conn.execute("SELECT serial, label, port, firmware, capabilities, policies FROM hsms ORDER BY position")
        import json
        for serial, label, port, firmware, caps, pols in rows:
            cuf = json.loads(caps)["38"]
            policy = json.loads(pols)["38"]
            print("%s %s https://127.0.0.1:%d firmware=%s cuf=%s policy38=%s"
                  % (serial, label, port, firmware, "yes" if cuf else "no", "on" if policy else "off"))
    finally:
        conn.close()
    return 0


def cmd_mint_cuf(args):
    from luna_emulator import pki

    db = os.path.join(args.state_dir, "state.db")
    if not os.path.exists(db) or not os.path.exists(os.path.join(args.state_dir, "vendor.key")):
        print("luna-emulator: %s holds no fleet: start `luna-emulator serve` once first" % args.state_dir,
              file=sys.stderr)
        return 2
    conn = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        known = [r[0] for r in conn.execute("SELECT serial FROM hsms ORDER BY position")]
    finally:
        conn.close()
    serials = known if args.all else [str(s) for s in (args.serial or [])]
    if not serials:
        print("luna-emulator: give --serial S (repeatable) or --all", file=sys.stderr)
        return 2
    unknown = [s for s in serials if s not in known]
    if unknown:
        print("luna-emulator: HSM %s is not in this fleet" % unknown[0], file=sys.stderr)
        return 2
    key = pki.load_vendor_private(args.state_dir)
    os.makedirs(args.out, exist_ok=True)
    for serial in serials:
        code = pki.new_auth_code()
        pki._write(os.path.join(args.out, "%s.cuf" % serial), pki.mint_cuf(key, serial, code), 0o644)
        pki._write(os.path.join(args.out, "%s.authcode" % serial), (code + "\n").encode(), 0o600)
    print("luna-emulator: minted %d capability update file(s) in %s" % (len(serials), args.out))
    return 0


def parser():
    top = argparse.ArgumentParser(prog="luna-emulator", description="An emulated fleet of Luna Network HSM appliances.")
    sub = top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="serve the fleet in the foreground until SIGTERM/SIGINT")
    p.add_argument("--fleet", help="fleet file (used on the first start in STATE_DIR only)")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--base-port", type=int, default=0,
                   help="first port (consecutive ports per appliance); 0 = free ports (default)")
    p.add_argument("--no-access-log", action="store_true", help="do not log one line per request")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("stop", help="stop the emulator serving STATE_DIR")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--timeout", type=float, default=30.0)
    p.set_defaults(func=cmd_stop)
    p = sub.add_parser("status", help="exit 0 and list the HSMs when running, 3 when not")
    p.add_argument("--state-dir", required=True)
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("mint-cuf", help="write <serial>.cuf and <serial>.authcode signed with the fleet's vendor key")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--serial", action="append")
    p.add_argument("--all", action="store_true")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_mint_cuf)
    return top


def main(argv=None):
    args = parser().parse_args(argv)
    if getattr(args, "base_port", 0) and not 0 < args.base_port < 65536:
        print("luna-emulator: --base-port must be from 1 to 65535 (or 0 for free ports)", file=sys.stderr)
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
