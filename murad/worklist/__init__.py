"""``murad predict``: a ranked worklist of new studies from PNG, JPEG and DICOM files, with heat maps.

- :mod:`murad.worklist.studies`: the input (a folder of study folders, or a CSV of images) as studies.
- :mod:`murad.worklist.answer`: which trained models answer for a study, and how (calibration, operating point).
- :mod:`murad.worklist.build`: reading, predicting and drawing, and the files written (:func:`make_worklist`).
- :mod:`murad.worklist.page`: ``worklist.html``.
- :mod:`murad.worklist.output`: the output folder: what a run owns there, its lock, and swapping the files in.
"""
