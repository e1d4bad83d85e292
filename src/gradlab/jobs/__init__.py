"""Jobs: a model fit together with its comparison and pictures, as the CLI and tour run them.

They sit above :mod:`gradlab.models` and :mod:`gradlab.viz` and below the faces
(:mod:`gradlab.cli`, :mod:`gradlab.tour`), which only parse, call and print.
"""
