"""``dabnet-zoo export onnx``: a model -> an ONNX file with dynamic batch, height and width."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  dabnet-zoo export onnx dabnet_r18_p2 dabnet_r18_p2.onnx
  dabnet-zoo export onnx converted/dabnet_r18_p2.cityscapes p2_fp16_labels.onnx --fp16 --include-postprocess
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="export a model for deployment (ONNX)")
    formats = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)
    onnx = formats.add_parser(
        "onnx",
        help="export to ONNX (dynamic batch, height and width: multiples of 32·P)",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    onnx.add_argument("model", help="zoo name, save_pretrained folder or Hub id")
    onnx.add_argument("output", help="the .onnx file to write")
    onnx.add_argument("--dataset", default=None, help="dataset preset for a zoo name (default: cityscapes)")
    onnx.add_argument("--size", default="1024x2048", help="example input HxW, multiples of 32·P (default 1024x2048)")
    onnx.add_argument("--include-postprocess", action="store_true",
                      help="end the graph with resize to the input size + argmax (int32 labels)")
    onnx.add_argument("--fp16", action="store_true", help="compute in float16 (input/logits stay float32)")
    onnx.add_argument("--static", action="store_true", help="fix the example shape instead of dynamic axes")
    onnx.set_defaults(func=run)


def parse_size(text: str) -> tuple[int, int]:
    """``"1024x2048"`` -> (1024, 2048), height first."""
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like HEIGHTxWIDTH, e.g. 1024x2048; got {text!r}") from None
    return height, width


def run(args: argparse.Namespace) -> int:
    from ..export import export_onnx
    from ..zoo import load_model

    model = load_model(args.model, args.dataset)
    path = export_onnx(model, args.output, *parse_size(args.size), include_postprocess=args.include_postprocess,
                       fp16=args.fp16, dynamic=not args.static)
    print(f"Wrote {path}")
    return 0
