"""``fennec probe``: score candidate models on the user's labelled sample with their real local weights."""

from __future__ import annotations

import argparse
import json

from fennec_core.cli.format import print_table, probe_bar, say
from fennec_core.errors import InputError


def _models(args: argparse.Namespace) -> list[str]:
    """The models to probe: ``--models a,b`` or the ``--top`` best of ``--zoo`` with local weights."""
    from fennec_core.task.probing import zoo_candidates

    if args.models and args.zoo:
        raise InputError("give --models or --zoo (with --top), not both")
    if args.models:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        if not models:
            raise InputError("--models is empty; give comma-separated model ids, e.g. mobilenet-v2,efficientnet-lite0")
        return models
    if not args.zoo:
        raise InputError("say which models to probe: --models a,b,c or --zoo ZOO --top N")
    from fennec_core.cli.zoo_commands import load_zoo

    engine = load_zoo(args)
    chosen, skipped = zoo_candidates(engine.zoo_.history, args.top, normalization=engine.resolved_normalization)
    if skipped:
        say(args, f"note: {len(skipped)} better-ranked model(s) of the zoo have no local weights: "
                  f"{', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}")
    if not chosen:
        raise InputError(f"none of the zoo's {len(engine.zoo_.history.model_ids)} models has local weights to probe "
                         "with; `fennec plugins` lists the backbones (install 'fennec[weights]')")
    return chosen


def cmd_probe(args: argparse.Namespace) -> int:
    """Run the estimator(s) on each model's features of the sample; write ``model,estimator,score``."""
    from fennec_core.io.files import check_output_path
    from fennec_core.io.probe_tables import read_text_sample, write_probes
    from fennec_core.task.probing import probe_models, read_image_sample

    if bool(args.images) == bool(args.texts):
        raise InputError("give the labelled sample as --images DIR (one subfolder per class) or --texts T.csv "
                         "(columns text,label), one of the two")
    estimators = [e.strip() for e in args.estimator.split(",") if e.strip()]
    if args.out:
        check_output_path(args.out, "-o")
    models = _models(args)
    sample = (read_image_sample(args.images, n=args.n, seed=args.seed) if args.images
              else read_text_sample(args.texts, n=args.n, seed=args.seed))
    scores = probe_models(models, sample, estimators=estimators, allow_download=args.allow_download,
                          batch_size=args.batch_size, progress=probe_bar(args, len(models)))
    if args.out:
        write_probes(scores, args.out)
    if args.json:
        print(json.dumps({"sample": {"source": sample.source, "n": len(sample.labels), "classes": len(sample.classes)},
                          "scores": [{"model": s.model, "estimator": s.estimator, "score": s.score,
                                      "seconds": round(s.seconds, 3), "load_seconds": round(s.load_seconds, 3)} for s in scores],
                          **({"out": args.out} if args.out else {})}, indent=2))
        return 0
    rows = [[s.model, s.estimator, f"{s.score:.4g}", f"{s.load_seconds:.2f}", f"{s.seconds:.2f}"]
            for s in sorted(scores, key=lambda s: (s.estimator, -s.score))]
    print_table(["model", "estimator", "score", "load s", "probe s"], rows)
    say(args, f"{len(models)} model(s) probed on {len(sample.labels)} {sample.modality} in {len(sample.classes)} "
              f"classes from {sample.source}" + (f"; wrote {args.out}" if args.out else ""))
    return 0
