"""Copy the collection's shipped files into a directory for ansible-test sanity.

ansible-test works on real paths, not through the symlinked collection tree, so sanity runs
on a copy. The copy holds the files git knows about (tracked or new, never git-ignored),
less galaxy.yml's build_ignore patterns, matched the way ``ansible-galaxy collection build``
matches them: what sanity checks is what the collection ships.

Usage: python stage_collection.py DESTINATION
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys

import yaml


def build_ignore_patterns(root: str) -> list[str]:
    """Return galaxy.yml's build_ignore patterns."""
    with open(os.path.join(root, 'galaxy.yml'), encoding='utf-8') as galaxy:
        return list(yaml.safe_load(galaxy).get('build_ignore') or [])


def is_ignored(path: str, patterns: list[str]) -> bool:
    """Tell whether the file or any folder above it matches a build_ignore pattern."""
    parts = path.split('/')
    prefixes = ['/'.join(parts[:index]) for index in range(1, len(parts) + 1)]
    return any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes for pattern in patterns)


def git_files(root: str) -> list[str]:
    """Return the paths git tracks or would track, relative to root."""
    listing = subprocess.run(
        ['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
        cwd=root, check=True, capture_output=True,
    ).stdout.decode('utf-8')
    return sorted(set(path for path in listing.split('\0') if path))


def main() -> int:
    """Stage the collection copy."""
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    root = os.getcwd()
    destination = sys.argv[1]
    patterns = build_ignore_patterns(root)
    shutil.rmtree(destination, ignore_errors=True)
    for path in git_files(root):
        source = os.path.join(root, path)
        # Deleted but not yet committed files are listed by git and do not ship.
        if is_ignored(path, patterns) or not os.path.lexists(source):
            continue
        target = os.path.join(destination, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return 0


if __name__ == '__main__':
    sys.exit(main())
