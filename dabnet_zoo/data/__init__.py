"""Datasets: preparing the downloads (``prepare_*``), reading them (``datasets``), the original augmentation
pipeline (``transforms``) and synthetic Cityscapes-layout scenes for demos and tests (``synthetic``).

Heavy optional packages (``datasets``, ``cityscapesscripts``, ``scipy``, ``tqdm``; the ``[data]`` extra) are
imported only inside the functions that need them.
"""

from .conversion import ConversionSummary, ConversionTask, run_conversions
from .datasets import (
    CamVidDataset,
    CityscapesDataset,
    CocoStuffDataset,
    HuggingFaceSegmentationDataset,
    SegmentationDataset,
    SegmentationFolderDataset,
    create_dataset,
    image_to_tensor,
    read_image,
    read_label,
    reduce_zero_label,
)
from .prepare import PREPARERS, prepare_dataset
from .prepare_camvid import camvid_colours_to_index, prepare_camvid
from .prepare_cityscapes import prepare_cityscapes
from .prepare_coco_stuff import prepare_coco_stuff10k, prepare_coco_stuff164k, remap_coco_stuff
from .synthetic import label_map, make_synthetic_cityscapes, render_synthetic_scene
from .transforms import (
    TRAIN_SCALES,
    TestTransform,
    TrainTransform,
    keep_ratio_size,
    normalize,
    pad_to_size,
    photometric_distortion,
    random_crop,
    random_horizontal_flip,
    random_resize,
)

__all__ = [
    "PREPARERS",
    "TRAIN_SCALES",
    "CamVidDataset",
    "CityscapesDataset",
    "CocoStuffDataset",
    "ConversionSummary",
    "ConversionTask",
    "HuggingFaceSegmentationDataset",
    "SegmentationDataset",
    "SegmentationFolderDataset",
    "TestTransform",
    "TrainTransform",
    "camvid_colours_to_index",
    "create_dataset",
    "image_to_tensor",
    "keep_ratio_size",
    "label_map",
    "make_synthetic_cityscapes",
    "normalize",
    "pad_to_size",
    "photometric_distortion",
    "prepare_camvid",
    "prepare_cityscapes",
    "prepare_coco_stuff10k",
    "prepare_coco_stuff164k",
    "prepare_dataset",
    "random_crop",
    "random_horizontal_flip",
    "random_resize",
    "read_image",
    "read_label",
    "reduce_zero_label",
    "remap_coco_stuff",
    "render_synthetic_scene",
    "run_conversions",
]
