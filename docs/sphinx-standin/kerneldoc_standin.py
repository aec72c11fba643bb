# SPDX-License-Identifier: GPL-2.0-or-later
#
# Stand-in for QEMU's kernel-doc Sphinx extension (docs/sphinx/kerneldoc.py
# in QEMU's tree), for the standalone build of this project's documents
# only.  QEMU renders the API with its own scripts/kernel-doc; this
# stand-in accepts the same directive and options, and shows each
# kernel-doc comment of the header as its name, its summary and its text
# as written, followed by the declaration it documents, so that the rest
# of the document can be checked with Sphinx without a QEMU tree.

import os
import re

from docutils import nodes
from docutils.parsers.rst import Directive, directives

__version__ = '1.0'

COMMENT = re.compile(r'/\*\*\s*\n(.*?)\*/\s*\n', re.S)
IDENT = re.compile(r'^(?:(struct|union|enum|typedef)\s+)?(\w+)\s*(?::|-)\s*(.*)$')


def _comment_lines(body):
    lines = []
    for line in body.splitlines():
        line = line.strip()
        if line.startswith('*'):
            line = line[1:]
            if line.startswith(' '):
                line = line[1:]
        lines.append(line.rstrip())
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _declaration(source, start, kind):
    """The declaration after a comment: a prototype up to its ';', or a
    whole struct, union or enum definition."""
    depth = 0
    for end in range(start, len(source)):
        c = source[end]
        if c == '{':
            if kind == 'function':
                break
            depth += 1
        elif c == '}':
            depth -= 1
        elif c == ';' and depth == 0:
            end += 1
            break
    text = source[start:end].strip()
    if kind == 'function':
        return re.sub(r'\s+', ' ', text)
    return text


def parse_kernel_doc(source):
    """Yield (kind, name, summary, text, declaration) for each comment."""
    for match in COMMENT.finditer(source):
        lines = _comment_lines(match.group(1))
        if not lines:
            continue
        ident = IDENT.match(lines[0])
        if not ident:
            continue
        kind, name, summary = ident.groups()
        kind = kind or 'function'
        text = '\n'.join(lines[1:]).strip('\n')
        yield kind, name, summary, text, \
            _declaration(source, match.end(), kind)


class KernelDocStandinDirective(Directive):
    """Accepts QEMU's ``kernel-doc`` directive and its options."""
    required_arguments = 1
    optional_arguments = 4
    option_spec = {
        'doc': directives.unchanged_required,
        'functions': directives.unchanged,
        'export': directives.unchanged,
        'internal': directives.unchanged,
    }
    has_content = False

    def run(self):
        env = self.state.document.settings.env
        srctree = env.config.kerneldoc_srctree
        path = os.path.join(srctree, self.arguments[0])
        env.note_dependency(os.path.abspath(path))
        with open(path, encoding='utf-8') as f:
            source = f.read()

        wanted = None
        if self.options.get('functions'):
            wanted = set(self.options['functions'].split())

        note = nodes.note()
        note += nodes.paragraph(
            text='Rendered by the standalone build\'s stand-in for QEMU\'s '
                 'kernel-doc extension, from %s; QEMU\'s documentation '
                 'build renders it with scripts/kernel-doc.'
                 % self.arguments[0])
        result = [note]
        for kind, name, summary, text, decl in parse_kernel_doc(source):
            if wanted is not None and name not in wanted:
                continue
            title = name if kind == 'function' else '%s %s' % (kind, name)
            result.append(nodes.rubric(text=title))
            result.append(nodes.literal_block(text=decl, language='c'))
            result.append(nodes.paragraph(text=summary))
            if text:
                result.append(nodes.literal_block(text=text))
        return result


def setup(app):
    app.add_config_value('kerneldoc_srctree', None, 'env')
    app.add_directive('kernel-doc', KernelDocStandinDirective)
    return {
        'version': __version__,
        'parallel_read_safe': True,
        'parallel_write_safe': True,
    }
