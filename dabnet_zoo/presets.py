"""Dataset presets: every per-dataset fact in one table, so that a new dataset is one entry here.

Class names, palettes, label conventions, the original's test protocol, its training recipe (splits, scales,
batch, schedule) and the wording the model cards use for the dataset. Every place that needs the number of
classes, the ignore index, ``reduce_zero_label``, the evaluation size, a split name or a recipe number reads it
from here, so the converter, the image processor, the data pipeline, the recipes (``recipes/generate_configs.py``)
and the model cards cannot disagree. Pure data, no torch import. docs/architecture.md describes the protocols.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UnknownModelError, unknown_name_message

Color = tuple[int, int, int]

# ImageNet statistics on the 0-255 scale, as the original's data pipeline normalises (docs/architecture.md §2).
IMAGENET_MEAN: tuple[float, float, float] = (123.675, 116.28, 103.53)
IMAGENET_STD: tuple[float, float, float] = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class TrainingRecipe:
    """The original's training set-up on one dataset for the ResNet (R) variants; ``recipes/generate_configs.py``
    writes the recipe files from it (DABNet-E swaps in its Adam optimiser).

    Attributes:
        train_split, val_split: the splits trained on and validated on (``train+val`` joins two).
        scale: (height, width) of the Resize that the random 0.5-2.0 ratio multiplies, for the training split(s).
        per_device_batch, global_batch: images per GPU and in total (the original's GPUs x per GPU).
        sgd_lr: base learning rate of SGD (momentum 0.9, weight decay 5e-4, poly decay to 1e-4).
        max_iters: training iterations.
        eval_interval: iterations between validations and checkpoints.
        fully_recorded: whether the original project records every number above; when not, the recipe files
            say which are assumed.
    """

    train_split: str
    val_split: str
    scale: tuple[int, int]
    per_device_batch: int
    global_batch: int
    sgd_lr: float
    max_iters: int
    eval_interval: int
    fully_recorded: bool = True


@dataclass(frozen=True)
class CardText:
    """How the model cards describe a dataset.

    Attributes:
        domain: what the images show, for the limitations section.
        terms: the dataset's terms of use, for the licence section.
        paper_splits: what the original README's two mIoU columns (validation, test server) measured on this
            dataset; None where it reports no such column.
        label_note: how predicted labels are encoded, when more needs saying than the generic class range.
    """

    domain: str
    terms: str
    paper_splits: tuple[str | None, str | None]
    label_note: str | None = None


@dataclass(frozen=True)
class DatasetPreset:
    """Everything about a dataset that a model trained on it must agree with.

    Attributes:
        name: registry key (``cityscapes``, ``camvid``, ``coco_stuff10k``, ``coco_stuff164k``).
        display_name: human-readable name for tables and model cards.
        class_names: the class names in label-index order.
        palette: one RGB colour per class, the dataset's official (or mmseg's standard) colours.
        ignore_index: label value that is ignored by the loss and the metric.
        reduce_zero_label: whether label 0 means "unlabelled" and every other label is shifted down by one
            when the label files are read (COCO-Stuff-10k in the original).
        test_size: (height, width) the original resizes every test image to.
        test_keep_ratio: whether that resize keeps the aspect ratio (mmseg's ``keep_ratio``): if true the image
            is scaled to fit inside ``test_size`` (long side to the long target, short side to the short target).
        train_crop_size: (height, width) of the training crops in the original recipe.
        train_scale: (height, width) of the original's training Resize for this dataset's training split (the
            random 0.5-2.0 ratio multiplies it); COCO-Stuff trains around 512x2048 though it tests at 640x640.
        recipe: the original's training set-up (see :class:`TrainingRecipe`).
        card: the model cards' wording (see :class:`CardText`).
        hub_dataset_id: the dataset's id on the Hugging Face Hub, for model-card metadata only.
    """

    name: str
    display_name: str
    class_names: tuple[str, ...]
    palette: tuple[Color, ...]
    ignore_index: int
    reduce_zero_label: bool
    test_size: tuple[int, int]
    test_keep_ratio: bool
    train_crop_size: tuple[int, int]
    train_scale: tuple[int, int]
    recipe: TrainingRecipe
    card: CardText
    hub_dataset_id: str

    @property
    def num_labels(self) -> int:
        return len(self.class_names)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.class_names))


# Cityscapes trainId order and the official colours (cityscapesscripts' label table).
_CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
)
_CITYSCAPES_PALETTE = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
    (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60), (255, 0, 0),
    (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
)

# The original's 11 CamVid classes and the colours its converter matches exactly (docs/architecture.md §9.2); the
# misspelling "Pedestrain" is the original's and kept so class names round-trip with its checkpoints.
_CAMVID_CLASSES = (
    "Sky", "Building", "Column-Pole", "Road", "Sidewalk", "Tree", "Sign-Symbol", "Fence", "Car", "Pedestrain",
    "Bicyclist",
)
_CAMVID_PALETTE = (
    (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (0, 0, 192), (128, 128, 0), (192, 128, 128),
    (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192),
)

# COCO-Stuff: 80 thing classes then 91 stuff classes, with mmseg's standard palette (docs/architecture.md §9.3).
_COCO_STUFF_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush", "banner", "blanket", "branch", "bridge", "building-other", "bush",
    "cabinet", "cage", "cardboard", "carpet", "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds",
    "counter", "cupboard", "curtain", "desk-stuff", "dirt", "door-stuff", "fence", "floor-marble",
    "floor-other", "floor- stone", "floor-tile", "floor-wood", "flower", "fog", "food-other", "fruit",
    "furniture-other", "grass", "gravel", "ground-other", "hill", "house", "leaves", "light", "mat", "metal",
    "mirror-stuff", "moss", "mountain", "mud", "napkin", "net", "paper", "pavement", "pillow", "plant-other",
    "plastic", "platform", "playingfield", "railing", "railroad", "river", "road", "rock", "roof", "rug",
    "salad", "sand", "sea", "shelf", "sky-other", "skyscraper", "snow", "solid-other", "stairs", "stone",
    "straw", "structural-other", "table", "tent", "textile-other", "towel", "tree", "vegetable", "wall-brick",
    "wall-concrete", "wall- other", "wall-panel", "wall-stone", "wall-tile", "wall-wood", "water-other",
    "waterdrops", "window-blind", "window-other", "wood",
)
_COCO_STUFF_PALETTE = (
    (0, 192, 64), (0, 192, 64), (0, 64, 96), (128, 192, 192), (0, 64, 64), (0, 192, 224), (0, 192, 192),
    (128, 192, 64), (0, 192, 96), (128, 192, 64), (128, 32, 192), (0, 0, 224), (0, 0, 64), (0, 160, 192),
    (128, 0, 96), (128, 0, 192), (0, 32, 192), (128, 128, 224), (0, 0, 192), (128, 160, 192), (128, 128, 0),
    (128, 0, 32), (128, 32, 0), (128, 0, 128), (64, 128, 32), (0, 160, 0), (0, 0, 0), (192, 128, 160),
    (0, 32, 0), (0, 128, 128), (64, 128, 160), (128, 160, 0), (0, 128, 0), (192, 128, 32), (128, 96, 128),
    (0, 0, 128), (64, 0, 32), (0, 224, 128), (128, 0, 0), (192, 0, 160), (0, 96, 128), (128, 128, 128),
    (64, 0, 160), (128, 224, 128), (128, 128, 64), (192, 0, 32), (128, 96, 0), (128, 0, 192), (0, 128, 32),
    (64, 224, 0), (0, 0, 64), (128, 128, 160), (64, 96, 0), (0, 128, 192), (0, 128, 160), (192, 224, 0),
    (0, 128, 64), (128, 128, 32), (192, 32, 128), (0, 64, 192), (0, 0, 32), (64, 160, 128), (128, 64, 64),
    (128, 0, 160), (64, 32, 128), (128, 192, 192), (0, 0, 160), (192, 160, 128), (128, 192, 0), (128, 0, 96),
    (192, 32, 0), (128, 64, 128), (64, 128, 96), (64, 160, 0), (0, 64, 0), (192, 128, 224), (64, 32, 0),
    (0, 192, 128), (64, 128, 224), (192, 160, 0), (0, 192, 0), (192, 128, 96), (192, 96, 128), (0, 64, 128),
    (64, 0, 96), (64, 224, 128), (128, 64, 0), (192, 0, 224), (64, 96, 128), (128, 192, 128), (64, 0, 224),
    (192, 224, 128), (128, 192, 64), (192, 0, 96), (192, 96, 0), (128, 64, 192), (0, 128, 96), (0, 224, 0),
    (64, 64, 64), (128, 128, 224), (0, 96, 0), (64, 192, 192), (0, 128, 224), (128, 224, 0), (64, 192, 64),
    (128, 128, 96), (128, 32, 128), (64, 0, 192), (0, 64, 96), (0, 160, 128), (192, 0, 64), (128, 64, 224),
    (0, 32, 128), (192, 128, 192), (0, 64, 224), (128, 160, 128), (192, 128, 0), (128, 64, 32), (128, 32, 64),
    (192, 0, 128), (64, 192, 32), (0, 160, 64), (64, 0, 0), (192, 192, 160), (0, 32, 64), (64, 128, 128),
    (64, 192, 160), (128, 160, 64), (64, 128, 0), (192, 192, 32), (128, 96, 192), (64, 0, 128), (64, 64, 32),
    (0, 224, 192), (192, 0, 0), (192, 64, 160), (0, 96, 192), (192, 128, 128), (64, 64, 160), (128, 224, 192),
    (192, 128, 64), (192, 64, 32), (128, 96, 64), (192, 0, 192), (0, 192, 32), (64, 224, 64), (64, 0, 64),
    (128, 192, 160), (64, 96, 64), (64, 128, 192), (0, 192, 160), (192, 224, 64), (64, 128, 64), (128, 192, 32),
    (192, 32, 192), (64, 64, 192), (0, 64, 32), (64, 160, 192), (192, 64, 64), (128, 64, 160), (64, 32, 192),
    (192, 192, 192), (0, 64, 160), (192, 160, 192), (192, 192, 0), (128, 64, 96), (192, 32, 64), (192, 64, 128),
    (64, 192, 96), (64, 160, 64), (64, 64, 0),
)

_COCO_DOMAIN = "everyday photographs (COCO images) with 80 thing and 91 stuff classes"
_COCO_TERMS = ("COCO images come from Flickr under their owners' licences and COCO-Stuff annotations have their own "
               "terms; check both before any commercial use.")

DATASETS: dict[str, DatasetPreset] = {
    "cityscapes": DatasetPreset(
        name="cityscapes",
        display_name="Cityscapes",
        class_names=_CITYSCAPES_CLASSES,
        palette=_CITYSCAPES_PALETTE,
        ignore_index=255,
        reduce_zero_label=False,
        test_size=(1024, 2048),
        test_keep_ratio=True,
        train_crop_size=(1024, 1024),
        train_scale=(1024, 2048),
        recipe=TrainingRecipe("train", "val", (1024, 2048), 8, 32, 0.025, 80_000, 8_000),
        card=CardText(
            domain="urban street scenes filmed from a car in German and neighbouring cities, in daylight",
            terms="Cityscapes is not freely redistributable: its terms of use "
                  "(https://www.cityscapes-dataset.com/license/) permit non-commercial purposes only, and models "
                  "trained on it may carry those restrictions. Check them before any commercial use.",
            paper_splits=("val (500 images)", "test (evaluation server)"),
            label_note="Cityscapes trainIds 0-18 (`dabnet-zoo predict --cityscapes-label-ids` writes the official "
                       "labelIds for the evaluation server); 255 is ignored.",
        ),
        hub_dataset_id="cityscapes",
    ),
    "camvid": DatasetPreset(
        name="camvid",
        display_name="CamVid",
        class_names=_CAMVID_CLASSES,
        palette=_CAMVID_PALETTE,
        ignore_index=255,
        reduce_zero_label=False,
        test_size=(768, 960),
        test_keep_ratio=False,
        train_crop_size=(768, 960),
        train_scale=(768, 960),
        # The README's CamVid row trains on train+val, whose data config resizes around 1536x768 (not 960x768);
        # batch 2 x 4 GPUs and 10k iterations are from the README; the learning rate is not recorded (the
        # Cityscapes one is assumed).
        recipe=TrainingRecipe("train+val", "test", (768, 1536), 2, 8, 0.025, 10_000, 1_000, fully_recorded=False),
        card=CardText(
            domain="driving video recorded in Cambridge, UK",
            terms="CamVid is distributed by its authors under their own terms; check them before any commercial use.",
            paper_splits=("test (model trained on train+val)", None),
        ),
        hub_dataset_id="camvid",
    ),
    "coco_stuff10k": DatasetPreset(
        name="coco_stuff10k",
        display_name="COCO-Stuff-10k",
        class_names=_COCO_STUFF_CLASSES,
        palette=_COCO_STUFF_PALETTE,
        ignore_index=255,
        reduce_zero_label=True,
        test_size=(640, 640),
        test_keep_ratio=False,
        train_crop_size=(512, 512),
        train_scale=(512, 2048),
        # The original validates on the 1,000 test images (there is no val split).
        recipe=TrainingRecipe("train", "test", (512, 2048), 8, 32, 0.005, 80_000, 8_000),
        card=CardText(
            domain=_COCO_DOMAIN,
            terms=_COCO_TERMS,
            paper_splits=("test (1,000 images, the original's validation set)", None),
        ),
        hub_dataset_id="coco_stuff10k",
    ),
    "coco_stuff164k": DatasetPreset(
        name="coco_stuff164k",
        display_name="COCO-Stuff-164k",
        class_names=_COCO_STUFF_CLASSES,
        palette=_COCO_STUFF_PALETTE,
        ignore_index=255,
        reduce_zero_label=False,
        test_size=(640, 640),
        test_keep_ratio=False,
        train_crop_size=(512, 512),
        train_scale=(512, 2048),
        recipe=TrainingRecipe("train", "val", (512, 2048), 8, 32, 0.005, 160_000, 16_000),
        card=CardText(domain=_COCO_DOMAIN, terms=_COCO_TERMS, paper_splits=("val2017", None)),
        hub_dataset_id="coco_stuff164k",
    ),
}


def get_dataset_preset(name: str) -> DatasetPreset:
    """Return the preset called ``name``; an unknown name raises an error that lists the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownModelError(unknown_name_message("dataset", name, DATASETS)) from None


__all__ = ["CardText", "DatasetPreset", "DATASETS", "IMAGENET_MEAN", "IMAGENET_STD", "TrainingRecipe",
           "get_dataset_preset"]
