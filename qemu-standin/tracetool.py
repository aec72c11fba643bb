#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Stand-in for QEMU's scripts/tracetool.py, for the standalone build.
#
# Reads a trace-events file in QEMU's format:
#
#   # comment
#   [disable] name(type1 arg1, type2 arg2) "format with %" PRIx64 " etc"
#
# and writes trace.h and trace.c.  trace.h has, for every event,
# trace_NAME(args): an inline function that tests one bool,
# trace_event_NAME_enabled, and when it is set prints "NAME <format>" to
# stderr.  It also has TRACE_NAME_ENABLED and TRACE_NAME_BACKEND_DSTATE()
# for trace_event_get_state_backends(TRACE_NAME), as QEMU's does.
# trace.c defines the flags and a constructor that sets the flags of the
# events matching the comma-separated glob patterns of the environment
# variable XEN_MAPCACHE_TRACE ('*' for all).
#
# A program may also set qemu_standin_trace_hook (stand-in only, not in
# QEMU): every event, enabled or not, is then passed to it as its name and
# its arguments in structured form (QemuStandinTraceArg: integers, bools,
# pointers and strings), so that a test reads events without parsing text.
#
# Usage:
#   tracetool.py TRACE_EVENTS TRACE_H TRACE_C
#   tracetool.py --check TRACE_EVENTS
# Malformed events are reported as FILE:LINE: message, with exit status 1.

import re
import sys

ENV_VAR = 'XEN_MAPCACHE_TRACE'
VALID_PROPS = {'disable'}

EVENT_RE = re.compile(r'^(?P<props>(?:[a-z]+\s+)*)'
                      r'(?P<name>[A-Za-z_][A-Za-z0-9_]*)'
                      r'\((?P<args>[^()]*)\)\s*'
                      r'(?P<fmt>.*)$')
# A format is C string literals and PRI* macros, e.g. "0x%" PRIx64 " %p".
FMT_TOKEN_RE = re.compile(r'\s*(?:"(?:[^"\\]|\\.)*"'
                          r'|PRI[diouxX](?:8|16|32|64|PTR))')
# A conversion: % [flags] [width] [.precision] [length] conversion.
CONV_RE = re.compile(r'%(?:%|[-+ #0]*(?:\*|\d+)?(?:\.(?:\*|\d+))?'
                     r'(?:hh|h|ll|l|j|z|t|L)?[diouxXcspfFeEgGaA])')


class TraceError(Exception):
    pass


class Event:
    def __init__(self, name, props, args, fmt):
        self.name = name
        self.props = props
        self.args = args    # list of (type, name)
        self.fmt = fmt      # C expression: string literals and PRI* macros

    @property
    def enabled_var(self):
        return 'trace_event_%s_enabled' % self.name

    @property
    def id(self):
        return 'TRACE_' + self.name.upper()

    def hook_args(self):
        """C initialisers of the QemuStandinTraceArg array."""
        out = []
        for t, n in self.args:
            if t.endswith('*') and 'char' in t:
                kind, field = 'QEMU_STANDIN_TRACE_ARG_STR', '.str = %s' % n
            elif t.endswith('*'):
                kind, field = 'QEMU_STANDIN_TRACE_ARG_PTR', '.ptr = %s' % n
            else:
                kind, field = ('QEMU_STANDIN_TRACE_ARG_INT',
                               '.value = (uint64_t)%s' % n)
            out.append('{ "%s", %s, %s }' % (n, kind, field))
        return out

    def params(self):
        if not self.args:
            return 'void'
        return ', '.join('%s%s%s' % (t, '' if t.endswith('*') else ' ', n)
                         for t, n in self.args)


def parse_args(text):
    text = text.strip()
    if text == 'void':
        return []
    if not text:
        raise TraceError('empty argument list (write "void")')
    args = []
    for arg in text.split(','):
        arg = ' '.join(arg.split())
        m = re.match(r'^(?P<type>.*?[\s*])(?P<name>[A-Za-z_][A-Za-z0-9_]*)$',
                     arg)
        if not m or not m.group('type').strip():
            raise TraceError('argument "%s" is not "type name"' % arg)
        atype = m.group('type').strip()
        atype = re.sub(r'\s*\*', ' *', atype).replace(' * *', ' **')
        args.append((atype, m.group('name')))
    names = [n for _, n in args]
    if len(set(names)) != len(names):
        raise TraceError('duplicate argument name')
    return args


def count_conversions(fmt):
    """Number of % conversions in a format made of literals and PRI*."""
    pieces = []
    pos = 0
    while pos < len(fmt):
        m = FMT_TOKEN_RE.match(fmt, pos)
        if not m or m.end() == pos:
            if fmt[pos:].strip() == '':
                break
            raise TraceError('format must be C string literals and PRI* '
                             'macros, not "%s"' % fmt[pos:])
        token = m.group(0).strip()
        # A PRI macro supplies the conversion letter of the preceding %.
        pieces.append(token[1:-1] if token.startswith('"') else 'd')
        pos = m.end()
    if not pieces:
        raise TraceError('missing format string')
    text = ''.join(pieces)
    if text.endswith('\\n'):
        raise TraceError('format must not end with a newline')
    count = 0
    pos = 0
    while True:
        pos = text.find('%', pos)
        if pos < 0:
            return count
        m = CONV_RE.match(text, pos)
        if not m:
            raise TraceError('bad conversion at "%s"' % text[pos:pos + 8])
        if m.group(0) != '%%':
            count += 1
        pos = m.end()


def parse_line(line):
    m = EVENT_RE.match(line)
    if not m:
        raise TraceError('not an event: name(type arg, ...) "format"')
    props = m.group('props').split()
    for prop in props:
        if prop not in VALID_PROPS:
            raise TraceError('unknown property "%s"' % prop)
    args = parse_args(m.group('args'))
    fmt = m.group('fmt').strip()
    conversions = count_conversions(fmt)
    if conversions != len(args):
        raise TraceError('format has %d conversions for %d arguments'
                         % (conversions, len(args)))
    return Event(m.group('name'), props, args, fmt)


def read_events(path):
    events = []
    errors = []
    seen = set()
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            try:
                event = parse_line(line)
                if event.name in seen:
                    raise TraceError('event "%s" defined twice' % event.name)
                seen.add(event.name)
                events.append(event)
            except TraceError as e:
                errors.append('%s:%d: %s' % (path, lineno, e))
    return events, errors


def gen_h(events, source):
    out = ['/* Generated by qemu-standin/tracetool.py from %s: do not edit. */'
           % source,
           '',
           '#ifndef TRACE_GENERATED_TRACE_H',
           '#define TRACE_GENERATED_TRACE_H',
           '',
           '#include <inttypes.h>',
           '#include <stdbool.h>',
           '#include <stdint.h>',
           '#include <stdio.h>',
           '',
           '#ifndef trace_event_get_state_backends',
           '#define trace_event_get_state_backends(id) \\',
           '    ((id ## _ENABLED) && id ## _BACKEND_DSTATE())',
           '#endif',
           '',
           '#ifndef QEMU_STANDIN_TRACE_HOOK',
           '#define QEMU_STANDIN_TRACE_HOOK',
           '/* Stand-in only: every event, as data (see tracetool.py). */',
           'typedef enum QemuStandinTraceArgKind {',
           '    QEMU_STANDIN_TRACE_ARG_INT,     /* integers and bools */',
           '    QEMU_STANDIN_TRACE_ARG_PTR,',
           '    QEMU_STANDIN_TRACE_ARG_STR,',
           '} QemuStandinTraceArgKind;',
           '',
           'typedef struct QemuStandinTraceArg {',
           '    const char *name;               /* as in trace-events */',
           '    QemuStandinTraceArgKind kind;',
           '    union {',
           '        uint64_t value;             /* signed ones extended */',
           '        const void *ptr;',
           '        const char *str;',
           '    };',
           '} QemuStandinTraceArg;',
           '',
           'typedef void QemuStandinTraceHook(const char *event, size_t nargs,',
           '                                  const QemuStandinTraceArg *args);',
           '',
           '/* Called for every event when set; NULL by default. */',
           'extern QemuStandinTraceHook *qemu_standin_trace_hook;',
           '#endif']
    for e in events:
        enabled = 0 if 'disable' in e.props else 1
        out += ['',
                'extern bool %s;' % e.enabled_var,
                '#define %s_ENABLED %d' % (e.id, enabled),
                '#define %s_BACKEND_DSTATE() (%s || qemu_standin_trace_hook)'
                % (e.id, e.enabled_var),
                '',
                'static inline void trace_%s(%s)' % (e.name, e.params()),
                '{']
        if enabled:
            call_args = ''.join(', ' + n for _, n in e.args)
            hook_args = e.hook_args()
            out += ['    if (__builtin_expect(%s, 0)) {' % e.enabled_var,
                    '        fprintf(stderr, "%s " %s "\\n"%s);'
                    % (e.name, e.fmt, call_args),
                    '    }',
                    '    if (__builtin_expect(qemu_standin_trace_hook != NULL,'
                    ' 0)) {']
            if hook_args:
                out += ['        const QemuStandinTraceArg args[] = {']
                out += ['            %s,' % a for a in hook_args]
                out += ['        };',
                        '',
                        '        qemu_standin_trace_hook("%s", %d, args);'
                        % (e.name, len(hook_args))]
            else:
                out += ['        qemu_standin_trace_hook("%s", 0, NULL);'
                        % e.name]
            out += ['    }']
        out += ['}']
    out += ['', '#endif', '']
    return '\n'.join(out)


def gen_c(events, source):
    out = ['/* Generated by qemu-standin/tracetool.py from %s: do not edit. */'
           % source,
           '',
           '#include "qemu/osdep.h"',
           '#include <fnmatch.h>',
           '#include "trace.h"',
           '']
    for e in events:
        out.append('bool %s;' % e.enabled_var)
    out += ['',
            'QemuStandinTraceHook *qemu_standin_trace_hook;',
            '',
            'static const struct {',
            '    const char *name;',
            '    bool *enabled;',
            '} trace_events[] = {']
    for e in events:
        out.append('    { "%s", &%s },' % (e.name, e.enabled_var))
    out += ['    { NULL, NULL },',
            '};',
            '',
            '/* Enable the events named by the globs in $%s. */' % ENV_VAR,
            'static void __attribute__((constructor)) trace_init(void)',
            '{',
            '    const char *spec = getenv("%s");' % ENV_VAR,
            '    char **patterns, **p;',
            '    int i;',
            '',
            '    if (!spec) {',
            '        return;',
            '    }',
            '    patterns = g_strsplit(spec, ",", -1);',
            '    for (p = patterns; *p; p++) {',
            '        g_strstrip(*p);',
            '        for (i = 0; trace_events[i].name; i++) {',
            '            if (**p && !fnmatch(*p, trace_events[i].name, 0)) {',
            '                *trace_events[i].enabled = true;',
            '            }',
            '        }',
            '    }',
            '    g_strfreev(patterns);',
            '}',
            '']
    return '\n'.join(out)


def main(argv):
    check_only = len(argv) == 3 and argv[1] == '--check'
    if not check_only and len(argv) != 4:
        sys.stderr.write('usage: %s TRACE_EVENTS TRACE_H TRACE_C\n'
                         '       %s --check TRACE_EVENTS\n'
                         % (argv[0], argv[0]))
        return 2
    source = argv[-1] if check_only else argv[1]
    events, errors = read_events(source)
    for error in errors:
        sys.stderr.write(error + '\n')
    if errors:
        return 1
    if check_only:
        return 0
    with open(argv[2], 'w', encoding='utf-8') as f:
        f.write(gen_h(events, source))
    with open(argv[3], 'w', encoding='utf-8') as f:
        f.write(gen_c(events, source))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
