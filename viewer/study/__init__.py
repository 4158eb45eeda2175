"""Qt-free reader study: the score database (``score_store``), reading lists of slices and map
methods (``reading_list``) and the reader-agreement statistics (``score_stats``).

Beside ``viewer.core`` in the layers (``cli | ui > export > core | study > io``): it may read
``viewer.io`` but never the core, export, CLI or UI.
"""
