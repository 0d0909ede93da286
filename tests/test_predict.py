"""predict(): folders of mixed images, bad files, batching, output files and formats, videos."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import dabnet_zoo.predict as predict_module
from dabnet_zoo import create_model, create_processor
from dabnet_zoo.cityscapes import train_ids_to_label_ids
from dabnet_zoo.errors import InputError
from dabnet_zoo.image_processing_dabnet import DabnetImageProcessor
from dabnet_zoo.predict import collect_inputs, predict, read_image
from dabnet_zoo.visualize import colorize, get_palette, overlay

CITYSCAPES_LABEL_IDS = {0, 7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33}


@pytest.fixture(scope="module")
def model():
    return create_model("dabnet_effb1").eval()


@pytest.fixture
def small():
    """Cityscapes' protocol (keep ratio) at a small size, so CPU tests stay fast."""
    return create_processor("cityscapes", size={"height": 32, "width": 64})


def rng_image(shape, dtype=np.uint8, high=256, seed=0):
    return np.random.default_rng(seed).integers(0, high, shape).astype(dtype)


def make_mixed_folder(root):
    """Grayscale, RGBA, 16-bit and palette images, a corrupt one, a stray text file; returns valid sizes."""
    (root / "sub").mkdir(parents=True)
    Image.fromarray(rng_image((20, 30))).save(root / "gray.png")
    Image.fromarray(rng_image((24, 40, 4), seed=1)).save(root / "rgba.png")
    Image.fromarray(rng_image((18, 26), np.uint16, 65536, seed=2)).save(root / "sub" / "deep.png")
    Image.fromarray(rng_image((16, 16, 3), seed=3)).quantize(colors=8).save(root / "palette.png")
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    (root / "notes.txt").write_text("not an image, ignored")
    return {"gray": (20, 30), "rgba": (24, 40), "sub/deep": (18, 26), "palette": (16, 16)}


def test_mixed_folder_processes_valid_images_and_skips_the_corrupt_one(tmp_path, model, small):
    sizes = make_mixed_folder(tmp_path / "in")
    assert Image.open(tmp_path / "in" / "sub" / "deep.png").mode == "I;16"
    assert Image.open(tmp_path / "in" / "palette.png").mode == "P"

    summary = predict(model, [tmp_path / "in"], tmp_path / "out", processor=small, batch_size=3, device="cpu",
                      progress=False)

    assert summary.num_segmented == 4 and summary.dataset == "cityscapes"
    assert [source for source, _ in summary.skipped] == [str(tmp_path / "in" / "corrupt.jpg")]
    palette = get_palette("cityscapes")
    for key, (height, width) in sizes.items():
        labels = np.asarray(Image.open(tmp_path / "out" / "labels" / f"{key}.png"))
        assert labels.shape == (height, width) and labels.dtype == np.uint8
        assert labels.max() < 19
        color = np.asarray(Image.open(tmp_path / "out" / "color" / f"{key}.png"))
        np.testing.assert_array_equal(color, colorize(labels, palette))
        blended = Image.open(tmp_path / "out" / "overlay" / f"{key}.png")
        assert blended.mode == "RGB" and blended.size == (width, height)
    assert not list((tmp_path / "out").rglob("corrupt*"))
    assert not list((tmp_path / "out").rglob("*.tmp")), "temporary files left behind"


def test_sixteen_bit_files_are_read_as_opencv_reads_them(tmp_path):
    values = rng_image((6, 7), np.uint16, 65536, seed=4)
    Image.fromarray(values).save(tmp_path / "deep.png")
    rgb = read_image(tmp_path / "deep.png")
    # the original reads with cv2.imread(IMREAD_COLOR), which keeps the high byte of 16-bit samples
    np.testing.assert_array_equal(rgb, cv2.imread(str(tmp_path / "deep.png"), cv2.IMREAD_COLOR)[..., ::-1])
    np.testing.assert_array_equal(rgb[..., 1], (values >> 8).astype(np.uint8))


def test_results_do_not_depend_on_the_batch(tmp_path, model, small):
    folder = tmp_path / "in"
    folder.mkdir()
    for i, shape in enumerate([(20, 40, 3), (20, 40, 3), (30, 20, 3), (20, 40, 3), (11, 13, 3)]):
        Image.fromarray(rng_image(shape, seed=10 + i)).save(folder / f"{i}.png")
    predict(model, [folder], tmp_path / "one", processor=small, batch_size=1, device="cpu", progress=False,
            save_color=False, save_overlay=False)
    predict(model, [folder], tmp_path / "many", processor=small, batch_size=4, device="cpu", progress=False,
            save_color=False, save_overlay=False)
    for i in range(5):
        one = np.asarray(Image.open(tmp_path / "one" / "labels" / f"{i}.png"))
        many = np.asarray(Image.open(tmp_path / "many" / "labels" / f"{i}.png"))
        np.testing.assert_array_equal(one, many)
    assert not (tmp_path / "one" / "color").exists() and not (tmp_path / "one" / "overlay").exists()


def test_segment_matches_the_processor_and_model_pipeline(model, small):
    # same network-input size, so no batch padding (which would change border features)
    images = [rng_image((20, 40, 3), seed=20), rng_image((10, 20, 3), seed=21)]
    maps = predict_module.segment(model, small, images)
    for image, label_map in zip(images, maps):
        inputs = small(image, return_tensors="pt")
        with torch.no_grad():
            logits = model(**inputs).logits
        expected = small.post_process_semantic_segmentation(logits, target_sizes=inputs["original_sizes"])[0]
        np.testing.assert_array_equal(label_map, expected.numpy())


@pytest.mark.parametrize("error", [MemoryError(), RuntimeError("DefaultCPUAllocator: can't allocate memory")])
def test_a_file_that_fails_to_segment_is_reported_and_the_rest_go_on(tmp_path, model, small, monkeypatch, error):
    # the 30x60 image runs out of memory (alone or in a batch); the others, before and after it, are segmented
    for i, shape in enumerate([(20, 40, 3), (30, 60, 3), (20, 40, 3), (20, 40, 3)]):
        Image.fromarray(rng_image(shape, seed=40 + i)).save(tmp_path / f"{i}.png")
    real_segment = predict_module.segment

    def segment(model, processor, images):
        if any(image.shape[:2] == (30, 60) for image in images):
            raise error
        return real_segment(model, processor, images)

    monkeypatch.setattr(predict_module, "segment", segment)
    summary = predict(model, [tmp_path], tmp_path / "out", processor=small, batch_size=3, progress=False)
    assert summary.num_segmented == 3
    assert [source for source, _ in summary.skipped] == [str(tmp_path / "1.png")]
    assert type(error).__name__ in summary.skipped[0][1]
    assert sorted(p.name for p in (tmp_path / "out" / "labels").iterdir()) == ["0.png", "2.png", "3.png"]


def test_overlays_blended_in_bands_equal_the_whole_blend(tmp_path, model, small, monkeypatch):
    monkeypatch.setattr(predict_module, "_BLEND_ROWS", 3)  # 20 rows: 7 bands, the last one short
    Image.fromarray(rng_image((20, 40, 3), seed=50)).save(tmp_path / "a.png")
    predict(model, [tmp_path / "a.png"], tmp_path / "out", processor=small, progress=False)
    labels = np.asarray(Image.open(tmp_path / "out" / "labels" / "a.png"))
    expected = overlay(read_image(tmp_path / "a.png"), labels, get_palette("cityscapes"), alpha=0.5)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "overlay" / "a.png")), expected)


def test_cityscapes_label_ids(tmp_path, model, small):
    Image.fromarray(rng_image((20, 40, 3), seed=30)).save(tmp_path / "street.png")
    predict(model, [tmp_path / "street.png"], tmp_path / "train", processor=small, device="cpu", progress=False)
    predict(model, [tmp_path / "street.png"], tmp_path / "ids", processor=small, device="cpu", progress=False,
            cityscapes_label_ids=True)
    train_ids = np.asarray(Image.open(tmp_path / "train" / "labels" / "street.png"))
    label_png = Image.open(tmp_path / "ids" / "labels" / "street.png")
    assert label_png.mode == "P"  # the original's submission format: an 8-bit palette PNG of labelIds
    label_ids = np.asarray(label_png)
    assert set(np.unique(label_ids).tolist()) <= CITYSCAPES_LABEL_IDS
    np.testing.assert_array_equal(label_ids, train_ids_to_label_ids(train_ids))


def test_label_ids_need_a_cityscapes_model(tmp_path):
    camvid = create_model("dabnet_effb1", dataset="camvid").eval()
    Image.fromarray(rng_image((8, 8, 3))).save(tmp_path / "a.png")
    with pytest.raises(InputError, match="Cityscapes"):
        predict(camvid, [tmp_path / "a.png"], tmp_path / "out", cityscapes_label_ids=True, progress=False)


def test_dataset_is_found_from_the_class_names(tmp_path):
    camvid = create_model("dabnet_effb1", dataset="camvid").eval()
    Image.fromarray(rng_image((10, 12, 3))).save(tmp_path / "a.png")
    tiny = DabnetImageProcessor(size=(16, 16), keep_ratio=False)
    summary = predict(camvid, [tmp_path / "a.png"], tmp_path / "out", processor=tiny, progress=False)
    assert summary.dataset == "camvid"
    color = np.asarray(Image.open(tmp_path / "out" / "color" / "a.png"))
    camvid_colours = {tuple(c) for c in get_palette("camvid").tolist()}
    assert {tuple(c) for c in color.reshape(-1, 3).tolist()} <= camvid_colours


def test_custom_classes_get_generated_colours_and_no_resize(tmp_path, monkeypatch):
    custom = create_model("dabnet_effb1", num_labels=5).eval()
    Image.fromarray(rng_image((14, 18, 3))).save(tmp_path / "a.png")
    used = {}
    real_segment = predict_module.segment

    def spy(model, processor, images):
        used["processor"] = processor
        return real_segment(model, processor, images)

    monkeypatch.setattr(predict_module, "segment", spy)
    summary = predict(custom, [tmp_path / "a.png"], tmp_path / "out", progress=False)
    assert summary.dataset is None and used["processor"].do_resize is False
    labels = np.asarray(Image.open(tmp_path / "out" / "labels" / "a.png"))
    assert labels.shape == (14, 18) and labels.max() < 5


def test_saved_processor_beside_the_weights_is_used(tmp_path, monkeypatch):
    create_model("dabnet_effb1").save_pretrained(tmp_path / "model")
    DabnetImageProcessor(size={"height": 24, "width": 48}).save_pretrained(tmp_path / "model")
    Image.fromarray(rng_image((10, 20, 3))).save(tmp_path / "a.png")
    used = {}
    real_segment = predict_module.segment

    def spy(model, processor, images):
        used["size"] = processor.size
        return real_segment(model, processor, images)

    monkeypatch.setattr(predict_module, "segment", spy)
    summary = predict(str(tmp_path / "model"), [tmp_path / "a.png"], tmp_path / "out", device="cpu", progress=False)
    assert summary.num_segmented == 1 and summary.dataset == "cityscapes"
    assert used["size"] == {"height": 24, "width": 48}


def test_an_explicit_dataset_wins_over_the_saved_processor(tmp_path, monkeypatch):
    create_model("dabnet_effb1").save_pretrained(tmp_path / "model")
    DabnetImageProcessor(size={"height": 24, "width": 48}).save_pretrained(tmp_path / "model")
    Image.fromarray(rng_image((10, 20, 3))).save(tmp_path / "a.png")
    used = {}

    def stub(model, processor, images):  # records the processor; no forward pass at the full test size
        used["processor"] = processor
        return [np.zeros(image.shape[:2], np.int64) for image in images]

    monkeypatch.setattr(predict_module, "segment", stub)
    predict(str(tmp_path / "model"), [tmp_path / "a.png"], tmp_path / "out", dataset="cityscapes", device="cpu",
            progress=False)
    expected = create_processor("cityscapes")
    assert (used["processor"].size, used["processor"].keep_ratio) == (expected.size, expected.keep_ratio)


def test_exif_orientation_is_applied(tmp_path, model, small):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(rng_image((20, 40, 3))).save(tmp_path / "phone.jpg", exif=exif)
    predict(model, [tmp_path / "phone.jpg"], tmp_path / "out", processor=small, progress=False)
    assert Image.open(tmp_path / "out" / "labels" / "phone.png").size == (20, 40)  # (width, height), upright


def test_output_folder_inside_the_input_folder_is_not_read_back(tmp_path, model, small):
    Image.fromarray(rng_image((8, 8, 3))).save(tmp_path / "a.png")
    for _ in range(2):
        summary = predict(model, [tmp_path], tmp_path / "out", processor=small, progress=False)
        assert summary.num_segmented == 1


def test_clashing_names_get_distinct_outputs(tmp_path):
    Image.fromarray(rng_image((8, 8, 3))).save(tmp_path / "a.png")
    Image.fromarray(rng_image((8, 8, 3), seed=1)).save(tmp_path / "a.jpg")
    keys = [source.key for source in collect_inputs([tmp_path])]
    assert sorted(keys) == ["a", "a-2"]


def test_input_errors(tmp_path, model):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="does not exist"):
        predict(model, [tmp_path / "missing.png"], tmp_path / "out", progress=False)
    with pytest.raises(InputError, match="No images"):
        predict(model, [tmp_path / "empty"], tmp_path / "out", progress=False)
    Image.fromarray(rng_image((8, 8, 3))).save(tmp_path / "a.png")
    with pytest.raises(InputError, match="batch_size"):
        predict(model, [tmp_path / "a.png"], tmp_path / "out", batch_size=0, progress=False)
    with pytest.raises(InputError, match="device"):
        predict(model, [tmp_path / "a.png"], tmp_path / "out", device="gpu7", progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            predict(model, [tmp_path / "a.png"], tmp_path / "out", device="cuda", progress=False)


@pytest.mark.parametrize("failing", ["encode", "rename"])
def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch, failing):
    def broken_save(self, fp, format=None, **params):
        fp.write(b"\x89PNG partial")
        raise OSError("disk full")

    def broken_replace(source, target):
        raise OSError("disk full")

    if failing == "encode":
        monkeypatch.setattr(Image.Image, "save", broken_save)
    else:
        monkeypatch.setattr("os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        predict_module._save_png(Image.new("L", (2, 2)), tmp_path / "labels" / "a.png")
    assert not [path for path in tmp_path.rglob("*") if path.is_file()]


def test_video_without_pyav_is_reported_and_skipped(tmp_path, model, small, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # makes `import av` fail
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 64)
    Image.fromarray(rng_image((8, 8, 3))).save(tmp_path / "a.png")
    summary = predict(model, [tmp_path], tmp_path / "out", processor=small, progress=False)
    assert summary.num_segmented == 1
    assert len(summary.skipped) == 1 and "pip install av" in summary.skipped[0][1]


def write_video(path, num_frames, **options):
    """A 64x48 MPEG-4 clip of flat grey frames, written with PyAV (skips the test without it)."""
    av = pytest.importorskip("av")
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 12 * i, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_video_frames_are_segmented(tmp_path, model, small):
    write_video(tmp_path / "clip.mp4", 3)
    summary = predict(model, [tmp_path / "clip.mp4"], tmp_path / "out", processor=small, progress=False)
    assert summary.num_segmented == 3 and not summary.skipped
    frames = sorted(p.name for p in (tmp_path / "out" / "labels" / "clip").iterdir())
    assert frames == ["000000.png", "000001.png", "000002.png"]
    assert Image.open(tmp_path / "out" / "labels" / "clip" / "000000.png").size == (64, 48)


def test_a_truncated_video_is_reported_with_its_missing_frames(tmp_path, model, small):
    path = tmp_path / "clip.mp4"
    write_video(path, 20, movflags="faststart")  # the frame count is written before the frames
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    summary = predict(model, [path], tmp_path / "out", processor=small, progress=False)
    assert 0 < summary.num_segmented < 20
    assert len(summary.skipped) == 1 and "of its 20 declared frames" in summary.skipped[0][1]
