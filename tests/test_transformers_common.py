"""transformers' own common test suites, run against DABNet (issue 12).

``ModelTesterMixin`` for ``DabnetModel`` and ``DabnetForSemanticSegmentation``, ``ConfigTester`` for
``DabnetConfig`` and ``ImageProcessingTestMixin`` (with its semantic-segmentation post-processing mixin) for
``DabnetImageProcessor``: the suites transformers runs on every model it ships, taken from the source distribution
of the installed transformers (``tests/transformers_common.py`` fetches and caches them; offline, this module is
skipped). Tests that cannot apply to a convolutional segmentation network are skipped one by one, each with its
reason; everything else runs as transformers runs it.
"""

from __future__ import annotations

import copy
import unittest
from collections import OrderedDict

import pytest
import torch
import transformers
from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING

from dabnet_zoo.configuration_dabnet import DabnetConfig
from dabnet_zoo.image_processing_dabnet import DabnetImageProcessor
from dabnet_zoo.modeling_dabnet import DabnetForSemanticSegmentation, DabnetModel

from . import transformers_common

try:
    upstream = transformers_common.load()
except transformers_common.FetchError as error:
    pytest.skip(f"transformers' common tests unavailable: {error}", allow_module_level=True)

ModelTesterMixin = upstream.modeling.ModelTesterMixin
floats_tensor = upstream.modeling.floats_tensor
ids_tensor = upstream.modeling.ids_tensor
ConfigTester = upstream.configuration.ConfigTester
ImageProcessingTester = upstream.image_processing.ImageProcessingTester
ImageProcessingTestMixin = upstream.image_processing.ImageProcessingTestMixin
PostProcessSemanticSegmentationTestMixin = upstream.image_processing.PostProcessSemanticSegmentationTestMixin

# The common tests find a model's base class and head classes by name in transformers' static tables of its own
# models (MODEL_MAPPING_NAMES ...), e.g. to train only heads and to check base-model loading. DABNet is registered
# with the Auto classes at run time instead (dabnet_zoo.auto_registration), so the fetched module gets copies of
# those tables that list it, as a model shipped with transformers would be listed.
for _table, _model_class in (
    ("MODEL_MAPPING_NAMES", DabnetModel),
    ("MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES", DabnetForSemanticSegmentation),
):
    setattr(upstream.modeling, _table,
            OrderedDict({**getattr(upstream.modeling, _table), DabnetConfig.model_type: _model_class.__name__}))


class DabnetModelTester:
    """Small DABNet models and inputs for the common tests.

    The context path is timm's ResNet-18 at its fixed widths; only the DABNet parts are narrowed. 64x64 images
    with patch size 2 are a size the original accepts (every stage side is even), so no internal padding is
    involved; 3 classes keep the heads small.
    """

    def __init__(self, parent, batch_size=2, image_size=64, num_channels=3, patch_size=2, num_labels=3):
        self.parent = parent
        self.is_training = True
        self.batch_size = batch_size
        self.image_size = image_size
        self.num_channels = num_channels
        self.patch_size = patch_size
        self.num_labels = num_labels
        self.spatial_channels = (8, 8, 16)
        self.sim_channels = (8, 8, 8, 8)
        self.context_channels = 16
        self.fusion_channels = 16
        self.decode_head_channels = 16
        self.auxiliary_head_channels = 8

    def get_config(self) -> DabnetConfig:
        return DabnetConfig(
            patch_size=self.patch_size,
            num_channels=self.num_channels,
            num_labels=self.num_labels,
            spatial_channels=self.spatial_channels,
            sim_channels=self.sim_channels,
            context_channels=self.context_channels,
            fusion_channels=self.fusion_channels,
            decode_head_channels=self.decode_head_channels,
            auxiliary_head_channels=self.auxiliary_head_channels,
        )

    def prepare_config_and_inputs(self):
        pixel_values = floats_tensor([self.batch_size, self.num_channels, self.image_size, self.image_size])
        pixel_labels = ids_tensor([self.batch_size, self.image_size, self.image_size], self.num_labels)
        return self.get_config(), pixel_values, pixel_labels

    def prepare_config_and_inputs_for_common(self):
        config, pixel_values, _ = self.prepare_config_and_inputs()
        return config, {"pixel_values": pixel_values}

    def create_and_check_model(self, config, pixel_values, pixel_labels):
        model = DabnetModel(config).eval()
        with torch.no_grad():
            result = model(pixel_values)
        side = self.image_size // 8
        self.parent.assertEqual(result.last_hidden_state.shape, (self.batch_size, self.fusion_channels, side, side))
        self.parent.assertEqual(
            [tuple(state.shape) for state in result.auxiliary_hidden_states],
            [(self.batch_size, self.context_channels, side, side),
             (self.batch_size, self.context_channels, side // 2, side // 2)],
        )

    def create_and_check_for_semantic_segmentation(self, config, pixel_values, pixel_labels):
        model = DabnetForSemanticSegmentation(config).eval()
        side = self.image_size // 8
        with torch.no_grad():
            result = model(pixel_values)
            self.parent.assertEqual(result.logits.shape, (self.batch_size, self.num_labels, side, side))
            self.parent.assertIsNone(result.loss)
            result = model(pixel_values, labels=pixel_labels)
        self.parent.assertEqual(result.logits.shape, (self.batch_size, self.num_labels, side, side))
        self.parent.assertEqual(result.loss.shape, ())
        self.parent.assertTrue(torch.isfinite(result.loss))


class DabnetModelTest(ModelTesterMixin, unittest.TestCase):
    all_model_classes = (DabnetModel, DabnetForSemanticSegmentation)
    test_resize_embeddings = False
    has_attentions = False
    # transformers skips test_can_init_all_missing_weights for models "added before 2023", which it dates by a
    # copyright line that dabnet_zoo's files do not have; DABNet's _init_weights covers every tensor: check it.
    test_can_init_all_missing_weights_before_2023 = True

    def setUp(self):
        self.model_tester = DabnetModelTester(self)

    def test_model(self):
        self.model_tester.create_and_check_model(*self.model_tester.prepare_config_and_inputs())

    def test_for_semantic_segmentation(self):
        self.model_tester.create_and_check_for_semantic_segmentation(*self.model_tester.prepare_config_and_inputs())

    def test_hidden_states_output(self):
        # transformers' version expects (sequence, hidden size) states; DABNet's are feature maps: the stem (1/2),
        # the four SIM-enhanced stages (1/4 ... 1/32) and the fused 1/8 feature, asked for by argument or config.
        tester = self.model_tester
        side = tester.image_size
        expected = [
            (tester.batch_size, 64, side // 2, side // 2),  # ResNet-18's deep stem
            *[(tester.batch_size, width, side // 2**k, side // 2**k)
              for k, width in zip(range(2, 6), (64, 128, 256, 512))],  # its four stages
            (tester.batch_size, tester.fusion_channels, side // 8, side // 8),
        ]
        for model_class in self.all_model_classes:
            config, inputs_dict = tester.prepare_config_and_inputs_for_common()
            model = model_class(copy.deepcopy(config)).eval()
            with torch.no_grad():
                self.assertIsNone(model(**inputs_dict).hidden_states)
                by_argument = model(**inputs_dict, output_hidden_states=True).hidden_states
            config.output_hidden_states = True
            model = model_class(config).eval()
            with torch.no_grad():
                by_config = model(**inputs_dict).hidden_states
            for hidden_states in (by_argument, by_config):
                self.assertEqual([tuple(state.shape) for state in hidden_states], expected)

    def test_gradient_checkpointing_is_refused(self):
        # supports_gradient_checkpointing=False is honest: DABNet has no GradientCheckpointingLayer, and asking for
        # checkpointing fails loudly instead of silently checkpointing nothing.
        config, _ = self.model_tester.prepare_config_and_inputs_for_common()
        for model_class in self.all_model_classes:
            model = model_class(config)
            self.assertFalse(model.supports_gradient_checkpointing)
            with self.assertRaisesRegex(ValueError, "does not support"):
                model.activation_checkpointing_enable()


def _skipped(reason: str):
    @unittest.skip(reason=reason)
    def test(self):
        pass

    return test


# Common tests that cannot apply to DABNet, by reason. Most of them would pass without checking anything (their
# loops skip models without the feature); they are reported as skipped instead.
_NOT_APPLICABLE = {
    "DABNet has no input or output embeddings (a convolutional network on pixels), hence no tied weights": (
        "test_model_get_set_embeddings", "test_tied_weights_keys", "test_tied_weights_are_sharded_together",
    ),
    "the context path is timm's ResNet-18 (11 M parameters) at its fixed widths, which DabnetConfig cannot narrow "
    "(the DABNet layers around it are shrunk instead); the depth has no num_hidden_layers to bound": (
        "test_model_is_small", "test_num_layers_is_small",
    ),
    "DABNet does not support gradient checkpointing (supports_gradient_checkpointing=False; "
    "test_gradient_checkpointing_is_refused checks that enabling it raises)": (
        "test_training_gradient_checkpointing", "test_training_gradient_checkpointing_use_reentrant_false",
        "test_training_gradient_checkpointing_use_reentrant_true", "test_gradient_checkpointing_backward_compatibility",
        "test_gradient_checkpointing_enable_disable", "test_peft_gradient_checkpointing_enable_disable",
    ),
    "DABNet has no get_text/image/audio/video_features (an API of multimodal models)": tuple(
        name for name in dir(ModelTesterMixin)
        if name.startswith(("test_get_text_features", "test_get_image_features", "test_get_audio_features",
                            "test_get_video_features"))
    ),
    "transformers runs it on sequence/image classification heads only; loading DABNet weights into another class "
    "count is tested in tests/test_weights.py": (
        "test_problem_types", "test_load_with_mismatched_shapes", "test_can_load_ignoring_mismatched_shapes",
    ),
    "DABNet is not generative (test_generation_tester_mixin_inheritance checks that)": (
        "test_model_base_model_prefix",
    ),
    "DABNet records no outputs through transformers' output-capturing hooks (_can_record_outputs is unset)": (
        "test_format_of_can_record_outputs",
    ),
}
for _reason, _names in _NOT_APPLICABLE.items():
    for _name in _names:
        # Not for a test transformers has since removed, nor for the stub (None) of a parameterized test's name.
        if callable(getattr(ModelTesterMixin, _name, None)):
            setattr(DabnetModelTest, _name, _skipped(_reason))


class DabnetConfigTest(unittest.TestCase):
    def setUp(self):
        self.model_tester = DabnetModelTester(self)
        # Non-default values of every DABNet field but num_labels (ConfigTester sets that itself), as JSON has them.
        self.config_tester = ConfigTester(
            self,
            config_class=DabnetConfig,
            has_text_modality=False,
            common_properties=["num_channels", "num_labels", "patch_size"],
            context_path="efficientnet_b1",
            patch_size=4,
            num_channels=3,
            spatial_channels=[16, 32, 48],
            sim_channels=[8, 16, 16, 16],
            context_channels=48,
            fusion_channels=64,
            decode_head_channels=32,
            auxiliary_head_channels=16,
            classifier_dropout_prob=0.2,
            auxiliary_loss_weights=[0.5, 0.25],
            semantic_loss_ignore_index=-100,
            image_mean=[127.5, 127.5, 127.5],
            image_std=[64.0, 64.0, 64.0],
        )

    def test_config(self):
        self.config_tester.run_common_tests()

    def test_config_common_kwargs_cover_pretrained_config(self):
        # ConfigTester.check_config_arguments_init passes every common argument to DabnetConfig and checks that it
        # is kept. The list is ours (transformers_common.CONFIG_COMMON_KWARGS): it must name every argument of the
        # installed PreTrainedConfig, each with a value that is not the default, or that check proves nothing.
        kwargs = transformers_common.CONFIG_COMMON_KWARGS
        missing = set(transformers_common.pretrained_config_fields()) - set(kwargs)
        self.assertEqual(missing - transformers_common.CONFIG_FIELDS_NOT_COVERED, set())
        defaults = transformers.PreTrainedConfig()
        self.assertEqual([key for key, value in kwargs.items() if getattr(defaults, key) == value], [])


class DabnetImageProcessingTester(ImageProcessingTester):
    """Small random images (30 to 100 pixels a side) resized to 32x48; 3 classes for the post-processing."""

    def __init__(self, parent, **kwargs):
        kwargs.setdefault("size", {"height": 32, "width": 48})
        kwargs.setdefault("do_resize", True)
        kwargs.setdefault("do_normalize", True)
        kwargs.setdefault("image_mean", [123.675, 116.28, 103.53])
        kwargs.setdefault("image_std", [58.395, 57.12, 57.375])
        kwargs.setdefault("num_labels", 3)
        super().__init__(parent, batch_size=4, min_resolution=30, max_resolution=100, **kwargs)

    def _get_image_processing_classes(self):
        # transformers looks its own processors up by the test file's folder name; DABNet's are what
        # dabnet_zoo.auto_registration registered with AutoImageProcessor, backend by backend.
        return dict(IMAGE_PROCESSOR_MAPPING[DabnetConfig])


class DabnetImageProcessingTest(ImageProcessingTestMixin, PostProcessSemanticSegmentationTestMixin, unittest.TestCase):
    image_processor_tester_class = DabnetImageProcessingTester
    test_cast_dtype = True  # transformers runs test_cast_dtype_device only for processors that opt in

    def test_every_backend_is_the_dabnet_processor(self):
        # What the tests below run on, and why the backend comparisons are skipped.
        self.assertEqual(set(self.image_processing_classes), {"pil", "torchvision"})
        self.assertEqual(set(self.image_processing_classes.values()), {DabnetImageProcessor})

    _ONE_IMPLEMENTATION = (
        "one implementation (OpenCV, the original's test protocol) is registered for both the 'pil' and "
        "'torchvision' backends, so comparing the backends would compare it with itself"
    )

    @unittest.skip(reason=_ONE_IMPLEMENTATION)
    def test_backends_equivalence(self):
        pass

    @unittest.skip(reason=_ONE_IMPLEMENTATION)
    def test_backends_equivalence_batched(self):
        pass

    @unittest.skip(
        reason="DabnetImageProcessor feeds RGB networks only: it always produces 3 channels (alpha is dropped, as "
        "the original's OpenCV reading does) and takes 3-value image_mean/image_std"
    )
    def test_call_numpy_4_channels(self):
        pass

    @unittest.skip(
        reason="its child process imports transformers alone, where a saved DABNet processor is remote code that "
        "loads only with trust_remote_code=True (tests/test_remote_code.py tests that path)"
    )
    def test_pil_can_run_without_torchvision(self):
        pass
