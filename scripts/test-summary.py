#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Count the tests of one or more meson build directories, subtest by
# subtest, from the log of their last "meson test" run
# (BUILDDIR/meson-logs/testlog.json), and end with one line:
#
#   N passed, M failed
#
# A test speaking TAP counts one per "ok" / "not ok" line of its output
# (skipped and TODO cases count in neither); a test without TAP lines
# counts as one, by its result.  A test that failed without saying which
# case failed (a crash, a timeout, a short plan) adds the cases it did
# not report, or one.  A build directory without a log counts as one
# failure.  Exits non-zero if anything failed or nothing ran.

import json
import os
import re
import sys

TAP_LINE = re.compile(r'^(not ok|ok)\b[^#]*(#\s*(\w+))?', re.IGNORECASE)
TAP_PLAN = re.compile(r'^1\.\.(\d+)')
GOOD_RESULTS = {'OK', 'EXPECTEDFAIL', 'SKIP'}


def count_tap(stdout):
    """Return (passed, failed, skipped, plan) from TAP output."""
    passed = failed = skipped = 0
    plan = None
    for line in stdout.splitlines():
        m = TAP_PLAN.match(line)
        if m:
            plan = int(m.group(1))
            continue
        m = TAP_LINE.match(line)
        if not m:
            continue
        directive = (m.group(3) or '').upper()
        if directive in ('SKIP', 'TODO'):
            skipped += 1
        elif m.group(1).lower() == 'ok':
            passed += 1
        else:
            failed += 1
    return passed, failed, skipped, plan


def count_test(test):
    """Return (passed, failed, skipped, note) for one test of the log."""
    result = test.get('result', 'ERROR')
    good = result in GOOD_RESULTS
    passed, failed, skipped, plan = count_tap(test.get('stdout') or '')
    if passed + failed + skipped == 0:
        if result == 'SKIP':
            return 0, 0, 1, result
        return (1, 0, 0, result) if good else (0, 1, 0, result)
    if not good and failed == 0:
        seen = passed + skipped
        failed = plan - seen if plan and plan > seen else 1
    return passed, failed, skipped, result


def read_log(builddir):
    path = os.path.join(builddir, 'meson-logs', 'testlog.json')
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def summarize_dir(builddir):
    """Print one build directory's details; return (passed, failed)."""
    try:
        tests = read_log(builddir)
    except (OSError, ValueError) as e:
        print(f'{builddir}: no test log ({e}): counted as 1 failure')
        return 0, 1
    total_passed = total_failed = 0
    print(f'{builddir}:')
    for test in tests:
        passed, failed, skipped, result = count_test(test)
        total_passed += passed
        total_failed += failed
        extra = f', {skipped} skipped' if skipped else ''
        print(f'  {result:<8} {test.get("name", "?")}: '
              f'{passed} passed, {failed} failed{extra}')
    print(f'  {builddir}: {total_passed} passed, {total_failed} failed')
    return total_passed, total_failed


def main(argv):
    if len(argv) < 2:
        print(f'usage: {argv[0]} BUILDDIR...', file=sys.stderr)
        return 2
    passed = failed = 0
    for builddir in argv[1:]:
        p, f = summarize_dir(builddir)
        passed += p
        failed += f
    print(f'{passed} passed, {failed} failed')
    return 1 if failed or passed == 0 else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
