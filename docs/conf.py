# Sphinx configuration of the mmx3d documentation.
import os
import sys

sys.path.insert(0, os.path.abspath('..'))

from mmx3d import __version__  # noqa: E402

project = 'mmx3d'
copyright = '2026, mmx3d contributors'
author = 'mmx3d contributors'
version = release = __version__

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    'sphinx.ext.viewcode',
    'myst_parser',
]
source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
myst_enable_extensions = ['colon_fence']
myst_heading_anchors = 3
exclude_patterns = ['_build', 'Thumbs.db', '.DS_Store']
autodoc_member_order = 'bysource'
autodoc_default_options = {'members': True, 'show-inheritance': True}
autodoc_typehints = 'description'
napoleon_google_docstring = True
napoleon_numpy_docstring = False
suppress_warnings = ['myst.xref_missing']
# documented objects re-exported by several modules
nitpicky = False

html_theme = 'furo'
html_title = f'mmx3d {version}'
html_static_path = ['_static']
