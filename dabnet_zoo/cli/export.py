"""``dabnet-zoo export onnx|openvino|tensorrt``: a model -> an ONNX file (dynamic batch, height and width), an
OpenVINO IR folder (FP32, or INT8 calibrated on the user's images) or a TensorRT engine (one input shape)."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

EXAMPLES = """examples:
  dabnet-zoo export onnx dabnet_r18_p2 dabnet_r18_p2.onnx
  dabnet-zoo export onnx converted/dabnet_r18_p2.cityscapes p2_fp16_labels.onnx --fp16 --include-postprocess
  dabnet-zoo export tensorrt dabnet_r18_p2 p2_fp16.engine --fp16 --size 1024x2048    # needs CUDA + tensorrt
  dabnet-zoo export openvino runs/demo/final demo_openvino                        # pip install "dabnet-zoo[openvino]"
  dabnet-zoo export openvino runs/demo/final demo_int8 --precision int8 --calibration-images data/synthetic/train
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="export a model for deployment (ONNX, OpenVINO, TensorRT)")
    formats = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)
    onnx = _add_format(formats, "onnx", "export to ONNX (dynamic batch, height and width: any size)",
                       "the .onnx file to write", "input HxW of a --static export, and the size the check runs at "
                                                  "(default 1024x2048)")
    onnx.add_argument("--fp16", action="store_true", help="compute in float16 (input/logits stay float32)")
    onnx.add_argument("--static", action="store_true", help="fix the shape to 1x3x--size instead of dynamic axes")
    onnx.set_defaults(func=run_onnx)
    openvino = _add_format(formats, "openvino", "export an OpenVINO IR folder for the CPU (FP32, or INT8 calibrated "
                                                "on your images)",
                           "the folder to write (openvino_model.xml/.bin, config.json)",
                           "input HxW of a --static export, and the size the checks run at (default 128x256)",
                           default_size=(128, 256))
    openvino.add_argument("--precision", choices=("fp32", "int8"), default="fp32",
                          help="weights: fp32, or int8 (NNCF, calibrated on --calibration-images). BF16 is chosen "
                               "when the model is compiled, not stored (default: fp32)")
    openvino.add_argument("--calibration-images", type=Path, default=None, metavar="DIR",
                          help="int8: images the model will see, prepared by its processor (required for int8)")
    openvino.add_argument("--max-images", type=positive_int, default=300,
                          help="calibration images used, spread over the folder (default 300)")
    openvino.add_argument("--static", action="store_true", help="fix the shape to 1x3x--size instead of dynamic axes")
    openvino.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    openvino.set_defaults(func=run_openvino)
    tensorrt = _add_format(formats, "tensorrt", "build a TensorRT engine (through ONNX) for one input shape",
                           "the .engine file to write", "input HxW (default 1024x2048)")
    tensorrt.add_argument("--fp16", action="store_true", help="compute in float16 (input/logits stay float32)")
    tensorrt.add_argument("--batch-size", type=int, default=1, help="the engine's batch size (default 1)")
    tensorrt.set_defaults(func=run_tensorrt)


def _add_format(formats: argparse._SubParsersAction, name: str, help: str, output_help: str,
                size_help: str, default_size: tuple[int, int] = (1024, 2048)) -> argparse.ArgumentParser:
    parser = formats.add_parser(name, help=help, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="zoo name, save_pretrained folder or Hub id")
    parser.add_argument("output", help=output_help)
    parser.add_argument("--dataset", default=None, help="dataset preset for a zoo name (default: cityscapes)")
    parser.add_argument("--size", type=parse_size, default=default_size, help=size_help)
    parser.add_argument("--include-postprocess", action="store_true",
                        help="end the graph with resize to the input size + argmax (int32 labels)")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip running the exported graph against PyTorch before writing")
    return parser


def parse_size(text: str) -> tuple[int, int]:
    """``"1024x2048"`` -> (1024, 2048), height first."""
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like HEIGHTxWIDTH, e.g. 1024x2048; got {text!r}") from None
    if min(height, width) < 1:
        raise argparse.ArgumentTypeError(f"height and width must be at least 1; got {text!r}")
    return height, width


def positive_int(text: str) -> int:
    """A count that must be at least 1 (threads, batch size, iterations): 0 is refused, not read as "default"."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run_onnx(args: argparse.Namespace) -> int:
    from ..export import export_onnx
    from ..zoo import load_model

    model = load_model(args.model, args.dataset)
    path = export_onnx(model, args.output, *args.size, include_postprocess=args.include_postprocess,
                       fp16=args.fp16, dynamic=not args.static, verify=not args.no_verify)
    print(f"Wrote {path}" + ("" if args.no_verify else " (verified: ONNX Runtime gives PyTorch's outputs within "
                                                       "the tolerance; -v prints the difference)"))
    return 0


def run_openvino(args: argparse.Namespace) -> int:
    from ..deploy import ProcessedImages, require_calibration
    from ..openvino import export_openvino, import_openvino
    from ..registry import resolve_model
    from ..zoo import load_model, model_processor

    import_openvino()  # fail before loading the model when OpenVINO is missing
    if args.precision == "int8":
        require_calibration(args.calibration_images)  # before loading the model
    ref = resolve_model(args.model, args.dataset)
    model = load_model(ref)
    calibration = None
    if args.calibration_images is not None:
        ref = ref.with_config(model.config)
        processor = model_processor(ref, model, ref.dataset)
        calibration = ProcessedImages(args.calibration_images, processor, args.max_images)
    path = export_openvino(model, args.output, args.precision, calibration,
                           include_postprocess=args.include_postprocess,
                           input_shape=(1, 3, *args.size) if args.static else None,
                           verify_size=None if args.no_verify else args.size, overwrite=args.overwrite,
                           inputs=[path for path in (args.model, args.calibration_images)
                                   if path is not None and os.path.exists(path)])
    print(f"Wrote {path} ({args.precision} weights"
          + (f", calibrated on {len(calibration)} images" if calibration is not None else "")
          + ("" if args.no_verify else "; FP32 graph verified against PyTorch in ONNX Runtime and OpenVINO")
          + "). OpenVINO computes in BF16 on CPUs that have it unless FP32 is asked for: "
            "dabnet_zoo.openvino.compile_openvino(path, 'fp32') or benchmark --backend openvino --precision fp32.")
    return 0


def run_tensorrt(args: argparse.Namespace) -> int:
    from ..export import build_tensorrt_engine, export_onnx, import_tensorrt
    from ..zoo import load_model

    import_tensorrt()  # fail before the export when TensorRT is missing
    model = load_model(args.model, args.dataset)
    with tempfile.TemporaryDirectory(prefix="dabnet-tensorrt-") as workdir:
        onnx_path = export_onnx(model, Path(workdir) / "model.onnx", *args.size,
                                include_postprocess=args.include_postprocess, fp16=args.fp16, dynamic=False,
                                batch_size=args.batch_size, verify=not args.no_verify)
        path = build_tensorrt_engine(onnx_path, args.output, (args.batch_size, 3, *args.size))
    print(f"Wrote {path}")
    return 0
