"""`evaluate` metrics shipped with dabnet_zoo, loadable offline by path.

``evaluate.load(MEAN_IOU_PATH)`` gives a drop-in for the Hub's ``evaluate.load("mean_iou")`` that needs no network
(see ``mean_iou/mean_iou.py``). Importing this package does not import ``evaluate``.
"""

from pathlib import Path

MEAN_IOU_PATH: str = str(Path(__file__).resolve().parent / "mean_iou")
"""The folder to pass to ``evaluate.load``; it holds ``mean_iou.py``."""

__all__ = ["MEAN_IOU_PATH"]
