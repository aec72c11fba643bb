#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Write the version script of one fake Xen library from the real Debian
# library of the same soname (objdump -T): every version node the real
# library defines, in its order and with its parent, holding the symbols
# the real library exports under it.  Nodes without symbols are left out
# (an empty node breaks the script); "local: *;" closes the first node.
#
#   gen-version-script.py OBJDUMP REAL_LIBRARY OUTPUT

import re
import subprocess
import sys


def version_nodes(objdump, lib):
    """Return [(node, parent)] in definition order."""
    out = subprocess.run([objdump, '-p', lib], check=True,
                         capture_output=True, text=True).stdout
    nodes = []
    in_defs = False
    for line in out.splitlines():
        if line.startswith('Version definitions:'):
            in_defs = True
            continue
        if not in_defs:
            continue
        if not line.strip() or line.startswith('Version References'):
            break
        m = re.match(r'^\d+\s+0x\S+\s+0x\S+\s+(\S+)', line)
        if m:
            flags = line.split()[1]
            if flags != '0x01':     # the first is the soname itself
                nodes.append([m.group(1), None])
        elif nodes and line.startswith('\t'):
            nodes[-1][1] = line.strip()
    return nodes


def exported(objdump, lib):
    """Return {node: [symbol]} of the functions and objects defined."""
    out = subprocess.run([objdump, '-T', lib], check=True,
                         capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) < 6 or ' g ' not in line or '*UND*' in line:
            continue
        if '*ABS*' in line:         # the version nodes' own symbols
            continue
        syms.setdefault(f[-2], []).append(f[-1])
    return syms


def main(argv):
    objdump, lib, output = argv[1:4]
    syms = exported(objdump, lib)
    lines = []
    first = True
    for node, parent in version_nodes(objdump, lib):
        names = sorted(syms.get(node, []))
        if not names:
            continue
        lines.append(node + ' {')
        lines.append('    global:')
        lines.extend('        %s;' % n for n in names)
        if first:
            lines.append('    local:')
            lines.append('        *;')
            first = False
        lines.append('}%s;' % ((' ' + parent) if parent else ''))
    if first:
        sys.exit('%s: no versioned symbols found' % lib)
    with open(output, 'w') as f:
        f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main(sys.argv)
