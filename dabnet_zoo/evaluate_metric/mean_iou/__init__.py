"""Folder of the local ``mean_iou`` evaluate metric; load it with ``evaluate.load(<this folder>)``.

Being a package makes setuptools ship ``mean_iou.py`` in the wheel. Nothing is imported here: ``evaluate`` loads
the script itself, by path.
"""
