"""`whichmodel train`: fit one candidate on the user's labelled file and save it."""

from __future__ import annotations

import argparse
from pathlib import Path

from whichmodel.cli.common import (
    add_data_arguments,
    hint_label_separator,
    is_frames_input,
    make_console,
    parse_settings,
    report_dropped,
)
from whichmodel.errors import UsageError
from whichmodel.terminal import plain

EXAMPLES = """\
examples:
  whichmodel train reviews.csv --text review --label stars --model tfidf --out models/tfidf
  whichmodel train tickets.jsonl --text "{subject}\\n{body}" --label team \\
      --model embedding --shots 8 --seed 1 --out models/emb8
  whichmodel train data.csv --text text --label tags --label-sep "|" --model tfidf --out m/
  whichmodel train data.csv --text text --label intent --model setfit --shots 8 \\
      --backbone all-MiniLM-L6-v2 --set head=linear --out models/setfit8
  whichmodel train data.csv --text text --label intent --model setfit --shots 8 \\
      --eval dev.csv --out models/setfit8   # early-stops on dev.csv, keeps the best body
  whichmodel train train.conll --model joint --out models/joint   # intents + slots
  whichmodel train slurp/devel.jsonl --model dual --out models/dual   # SLURP, two models
  whichmodel train tickets.csv --text body --label team --model distilled --shots 4 \\
      --unlabelled inbox.csv --set 'teacher={backend: local, shots: 4}' --out models/st
  whichmodel train tickets.csv --text body --model llm --shots 0 \\
      --labels billing,outage,refund --out models/llm0   # zero-shot: reads no labels
  whichmodel train tickets.csv --text body --label team --model llm --shots 4 \\
      --set shot_selection=nearest --set backend=api \\
      --set base_url=http://127.0.0.1:8080/v1 --set model=local --out models/llm4

--shots N takes N labelled examples per class (seeded), --budget N takes N in total
spread evenly over classes: that is how you simulate a labelling budget. Without either,
every row is used. --shots 0 is zero-shot: no labelled row, only the label set (--labels,
or the label column's values), for families that read label names (llm). For the llm
family --shots N also puts N examples in each prompt unless --set shots=K says otherwise.
Settings of a family go through --set KEY=VALUE (repeatable).

Intent + slot data needs no --text/--label: a .conll/.bio file (token<TAB>tag lines, a
'# intent = X' line before each sentence, a blank line between sentences) or SLURP JSON
lines (intent, tokens + entities). The joint and dual families train on its slot tags;
any other family trains on its intents alone.
"""


def register(sub: argparse._SubParsersAction) -> None:
    from whichmodel.models.base import available_families

    parser = sub.add_parser(
        "train", help="train one candidate on your labelled data and save it",
        description="Train one candidate classifier and save it as a folder "
                    "(whichmodel.json + safetensors, never pickle).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", metavar="DATA",
                        help="CSV, TSV, JSONL or Parquet file, or a Hugging Face dataset "
                             "name / saved folder")
    add_data_arguments(parser, label_required=False, text_required=False)
    parser.add_argument("--model", required=True, choices=available_families(trainable=True),
                        help="model family")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--shots", type=int, metavar="N",
                      help="N labelled examples per class (0: zero-shot)")
    size.add_argument("--budget", type=int, metavar="N", help="N labelled examples in total")
    parser.add_argument("--labels", metavar="A,B,C",
                        help="the label set, comma-separated, in this order (default: the "
                             "label column's values); with --shots 0 the file's labels are "
                             "not read at all")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for sampling and training (default 0)")
    parser.add_argument("--backbone", metavar="NAME",
                        help="sentence-transformers backbone: hub name, local folder, or a "
                             "packaged model (default all-MiniLM-L6-v2)")
    parser.add_argument("--set", dest="settings", action="append", metavar="KEY=VALUE",
                        help="a family setting, e.g. --set C=3 (repeatable)")
    parser.add_argument("--split", metavar="NAME", help="split of a Hugging Face dataset")
    parser.add_argument("--eval", metavar="FILE",
                        help="labelled validation data with the same columns: families that "
                             "early-stop (setfit, encoder) score it during training and keep "
                             "the best point; never use your test set here")
    parser.add_argument("--unlabelled", metavar="FILE",
                        help="texts without labels (same --text column) for a family that "
                             "labels them with an LLM teacher and trains on them "
                             "(distilled)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder to save the model in: a new or empty folder, or an "
                             "earlier model, which it replaces (any other folder is refused)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from whichmodel.data import few_shot_sample, load_dataset
    from whichmodel.models.base import (
        available_families,
        check_save_target,
        family_settings,
        get_family,
    )

    console = make_console()
    family = get_family(args.model)
    settings = parse_settings(args.settings)
    params = set(family_settings(args.model))
    if args.backbone:
        if "backbone" not in params:
            raise UsageError(f"--backbone does not apply to the {args.model!r} family "
                             f"(its settings: {', '.join(sorted(params))})")
        settings["backbone"] = args.backbone
    if "seed" in params:
        settings.setdefault("seed", args.seed)
    zero_shot = args.shots == 0 or args.budget == 0
    given = _label_list(args.labels)
    if zero_shot and not family.supports_unseen_classes:
        users = [name for name in available_families(trainable=True)
                 if get_family(name).supports_unseen_classes]
        raise UsageError(f"--{'shots' if args.shots == 0 else 'budget'} 0 trains on no "
                         f"labelled rows, which {args.model!r} cannot do; families that read "
                         f"label names can: {', '.join(users)}")
    frames = args.text is None and is_frames_input(args.data, None)
    slot_model = bool(getattr(family, "uses_slot_tags", False))
    if slot_model and not frames:
        raise UsageError(f"{args.model!r} learns intents and slots: give a .conll/.bio file "
                         "or SLURP JSON lines, without --text/--label")
    if frames and args.eval and not is_frames_input(args.eval, None):
        raise UsageError(f"--eval {args.eval} must be intent + slot data like DATA (a .conll "
                         "file or SLURP JSON lines)")
    uses_pool = bool(getattr(family, "uses_unlabelled_pool", False))
    if uses_pool != bool(args.unlabelled):
        raise UsageError(f"{args.model!r} learns from an LLM teacher's labels of unlabelled "
                         "texts: give --unlabelled FILE" if uses_pool else
                         f"--unlabelled is for families that label texts with a teacher "
                         f"(distilled), not {args.model!r}; drop it")
    if args.text is None and not frames:
        raise UsageError("--text is required (the text column, or a template such as "
                         "'{title}\\n{body}'); only intent + slot files (.conll, SLURP "
                         "JSON lines) need none")
    if args.label is None and not (zero_shot and given) and not frames:
        raise UsageError("--label is required (only a zero-shot model, --shots 0 with "
                         "--labels, reads no label column)")
    if "shots" in params and args.shots is not None:
        settings.setdefault("shots", args.shots)  # examples per prompt (llm)
    unknown = set(settings) - params
    if unknown:
        raise UsageError(f"unknown setting(s) for {args.model!r}: {', '.join(sorted(unknown))}; "
                         f"its settings are: {', '.join(sorted(params))}")

    if args.eval and not family.uses_eval_split:
        users = [name for name in available_families() if get_family(name).uses_eval_split]
        raise UsageError(f"--eval is used for early stopping, which {args.model!r} does not "
                         f"do (families that do: {', '.join(users)}); drop --eval")
    # Settings, the backbone and --out are checked before the data is read: a refusal
    # costs nothing.
    model = family(**settings)
    model.check_settings()
    from whichmodel.backbones import check_model_backbone

    check_model_backbone(model)
    check_save_target(args.out, reads=[p for p in (args.data, args.eval, args.unlabelled)
                                       if p and Path(p).exists()])
    if zero_shot and given:  # the label set is all a zero-shot model learns from
        from whichmodel.data import Dataset

        dataset = Dataset([], [], source=str(args.data))
    else:
        dataset = load_dataset(args.data, args.text or "text", args.label,
                               label_sep=args.label_sep, split=args.split,
                               drop_invalid=args.drop_invalid)
        report_dropped(dataset, console)
        hint_label_separator(dataset, args.label_sep, console)
    classes = given or (dataset.classes if zero_shot else None)
    evaluation = None
    if args.eval:
        evaluation = load_dataset(args.eval, args.text or "text", args.label,
                                  label_sep=args.label_sep, drop_invalid=args.drop_invalid)
        report_dropped(evaluation, console)
    if zero_shot:
        dataset = dataset.subset([])
    elif args.shots is not None or args.budget is not None:
        dataset = few_shot_sample(dataset, shots=args.shots, budget=args.budget, seed=args.seed)
    # predict and evaluate read the same fields from the saved model.
    model.input_fields_ = {"text": args.text, "label": args.label,
                           "label_sep": args.label_sep}
    if frames:  # predict and evaluate read such files again, or need --text
        model.input_fields_["format"] = "intents+slots"
    console.print(f"training [bold]{args.model}[/] on {len(dataset)} examples, "
                  f"{len(classes or dataset.classes)} classes"
                  + (" (multi-label)" if dataset.multi_label else ""))
    # No spinner here: families that train for long show their own progress bars.
    fit_options: dict = {} if classes is None else {"classes": classes}
    if evaluation is not None:
        fit_options.update(eval_texts=evaluation.texts, eval_labels=evaluation.labels)
    if uses_pool:
        from whichmodel.batch import read_text_chunks

        fit_options["unlabelled_texts"] = [
            t for chunk in read_text_chunks(args.unlabelled, args.text or "text",
                                            drop_invalid=True) for t in chunk.texts]
    if slot_model:
        fit_options["slot_tags"] = dataset.slot_tags
        if evaluation is not None:
            if evaluation.slot_tags is None:
                raise UsageError(f"--eval {args.eval} has no slot tags; give a .conll file "
                                 "or SLURP JSON lines like the training data")
            fit_options["eval_slot_tags"] = evaluation.slot_tags
    model.fit(dataset.texts, dataset.labels, **fit_options)
    out = model.save(args.out)
    console.print(f"trained in {model.training_['train_seconds']:.1f} s; saved to "
                  f"{plain(out)}")
    log = getattr(model, "log_", {})
    if log.get("evaluations"):
        best = next(e for e in log["evaluations"] if e["step"] == log["best_step"])
        console.print(f"early stopping: kept step {best['step']} of {log['steps']} "
                      f"(score {best['score']:.4f} on {plain(args.eval)})")
    return 0


def _label_list(text: str | None) -> list[str] | None:
    """``--labels a,b,c`` as a list, each label once, in the order given."""
    if text is None:
        return None
    labels = [part.strip() for part in text.split(",") if part.strip()]
    if len(labels) < 2:
        raise UsageError(f"--labels needs at least 2 labels separated by commas, got "
                         f"{text!r}")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise UsageError(f"--labels lists {repeated[0]!r} twice; list each label once")
    return labels
