"""Data sets: point clouds for regression, images for classification.

The submodules are imported on demand: :mod:`gradlab.data.points` (CSV files
and generated lines), :mod:`gradlab.data.idx` (the IDX file format of MNIST),
:mod:`gradlab.data.download` (checksummed downloads with mirrors),
:mod:`gradlab.data.dataset` (``ImageDataset``, what the image loaders return),
:mod:`gradlab.data.images` (``load_images``) and :mod:`gradlab.data.synthetic`
(``make_images``).
"""
