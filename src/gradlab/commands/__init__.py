"""One module per ``gradlab`` command; see :mod:`gradlab.cli`."""
