"""``dabnet-zoo push``: upload a model folder, its generated card and its results to the Hugging Face Hub."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  dabnet-zoo push converted/dabnet_r18_p2.cityscapes --repo-id dabnet-zoo/dabnet_r18_p2.cityscapes --dry-run
  dabnet-zoo push converted/dabnet_r18_p2.cityscapes --repo-id dabnet-zoo/dabnet_r18_p2.cityscapes
  dabnet-zoo push runs/p8/final --repo-id me/my-dabnet --model dabnet_r18_p8.camvid --private --revision v1

Uploads model.safetensors, config.json, preprocessor_config.json, the remote-code modules, conversion.json,
a model card generated for the folder and the model's results JSON; other files are listed as skipped.
--dry-run lists exactly those files with their sizes and uses no network. Log in first (`hf auth login`).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "push",
        help="upload a model folder with its card to the Hugging Face Hub",
        description="Create a Hub model repo and upload a model folder, its generated card and its results.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model_dir", metavar="DIR", help="folder with config.json and model.safetensors")
    parser.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="Hub model repo (created if missing)")
    parser.add_argument("--model", metavar="VARIANT.DATASET",
                        help="zoo model the folder holds (default: from conversion.json or the repo name)")
    parser.add_argument("--private", action="store_true", help="create the repo private")
    parser.add_argument("--revision", metavar="BRANCH", help="branch to upload to (created if missing; default main)")
    parser.add_argument("--dry-run", action="store_true", help="list the files and sizes; upload nothing")
    parser.add_argument("--no-remote-code", action="store_true",
                        help="do not ship the modules and auto_map for trust_remote_code users")
    parser.add_argument("--root", default=".", metavar="DIR",
                        help="repository root holding results/ and benchmarks/results/ (default .)")
    parser.add_argument("--commit-message", help="commit message (default: 'Upload MODEL with dabnet-zoo')")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..publish import push_folder

    report = push_folder(
        args.model_dir,
        args.repo_id,
        model=args.model,
        root=args.root,
        private=args.private,
        revision=args.revision,
        dry_run=args.dry_run,
        remote_code=not args.no_remote_code,
        commit_message=args.commit_message,
    )
    visibility = "private" if report.private else "public"
    branch = report.revision or "main"
    verb = "Dry run: would upload" if report.dry_run else "Uploaded"
    print(f"{verb} {len(report.files)} files ({report.total_size:,} bytes) of {report.model} to "
          f"{report.repo_id} ({visibility}, branch {branch}):")
    width = max(len(f.path_in_repo) for f in report.files)
    size_width = max(len(f"{f.size:,}") for f in report.files)
    for staged in report.files:
        print(f"  {staged.path_in_repo.ljust(width)}  {f'{staged.size:,}'.rjust(size_width)} bytes  {staged.source}")
    if report.skipped:
        print(f"Skipped (not uploaded): {', '.join(report.skipped)}")
    if report.dry_run:
        print("Nothing was uploaded (dry run).")
    else:
        print(f"Commit: {report.commit_url or report.commit_oid}")
    from ..registry import get_weights

    registry_repo = get_weights(report.model).hub_repo_id
    if report.repo_id == registry_repo:
        print(f"To serve these weights with pretrained=True, record in the registry entry of {report.model} "
              f"(dabnet_zoo/registry.py): {report.registry_fields()}")
    else:
        print(f"sha256 of model.safetensors: {report.weights_sha256} ({report.weights_size:,} bytes). "
              f"pretrained=True serves {report.model} from {registry_repo}, not from this repo.")
    return 0
