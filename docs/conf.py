# SPDX-License-Identifier: GPL-2.0-or-later
#
# Sphinx configuration for the standalone build of this project's
# documents:
#
#   sphinx-build -W -b html docs build/docs
#
# In QEMU's tree docs/devel/xen-mapcache.rst is built by QEMU's own
# docs/conf.py, with QEMU's kernel-doc extension; here a stand-in
# (sphinx-standin/kerneldoc_standin.py) accepts the same directive.  The
# settings that change how rST is read are QEMU's, so that what builds
# here without warnings builds there too.

import os
import sys

docdir = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(docdir, 'sphinx-standin'))

project = 'Xen mapcache'
copyright = 'the xen-mapcache contributors'

needs_sphinx = '3.4.3'
extensions = ['kerneldoc_standin']
kerneldoc_srctree = os.path.join(docdir, '..')

root_doc = master_doc = 'devel/xen-mapcache'
exclude_patterns = ['sphinx-standin', '_build']
source_suffix = '.rst'

# As QEMU's docs/conf.py: single backquotes are cross-references.
default_role = 'any'

html_theme = 'alabaster'
