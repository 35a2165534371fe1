"""`grounding-eval --model M --task T ...`: parse the command line (one parser for every kind) and hand it to
the run function of the named tasks' kind, which evaluates and prints."""

from __future__ import annotations

from typing import Sequence

from rich.console import Console

from grounding_eval.cli.args import Parser, comma_list, positive_int
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds import DEFAULT_KIND, TaskKind, get_kind
from grounding_eval.tasks.manager import TaskManager


def build_parser() -> Parser:
    p = Parser(prog="grounding-eval", description="Evaluate what a language model knows about the perceptual world.")
    p.add_argument("--model", required=True, help="Hugging Face id or local folder (KIND:NAME for other encoder kinds)")
    p.add_argument("--task", required=True, help="task name(s), comma-separated; see `grounding-eval tasks`")
    p.add_argument("--model-args", default=None, help="text model options k=v,... (layer, pooling, dtype, revision, ...)")
    p.add_argument("--audio-backbone", "--perception-encoder", default=None, help="perception encoder to use instead of the task's")
    p.add_argument("--backbone-args", default=None, help="perception encoder options k=v,...")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or auto (default: GPU when there is one)")
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--seed", type=int, default=None, help="base seed; run i uses seed + i (default: the task's)")
    p.add_argument("--num-runs", type=positive_int, default=None, help="number of class splits (default: the task's)")
    p.add_argument("--allow-many-runs", action="store_true",
                   help="accept --num-runs above 100 (the shipped tasks use 5 to 10; each run trains the probe anew)")
    p.add_argument("--limit", type=positive_int, default=None, help="at most N instances per concept (quick runs)")
    p.add_argument("--controls", default=None, help="comma-separated controls (permuted_text, random_init, procrustes); default: the task's")
    p.add_argument("--output-path", default="results", help="folder (or .json file) for the results JSON; '' to skip")
    p.add_argument("--include-path", action="append", default=[], help="extra folder of task YAML files")
    p.add_argument("--cache-dir", default=None, help="embedding cache folder, for every kind (default: $GROUNDING_EVAL_CACHE/embeddings or ~/.cache/grounding-eval/embeddings)")
    p.add_argument("--no-cache", action="store_true", help="recompute every embedding")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--plots", action="store_true", help="also write PNG figures next to the results JSON")
    # Generative tasks (kind: generative; docs/generative.md)
    p.add_argument("--allow-code-execution", action="store_true",
                   help="run model-written programs (generative tasks marked unsafe_code refuse without it)")
    p.add_argument("--generation-only", default=None, metavar="FILE.jsonl", help="generative: write the generations and stop")
    p.add_argument("--load-generations", default=None, metavar="FILE.jsonl", help="generative: score saved generations")
    p.add_argument("--n-samples", type=positive_int, default=None, help="generative: programs per prompt (default: the task's)")
    return p


def cmd(argv: Sequence[str], console: Console) -> int:
    """Parse the command line and hand it to the run function of the named tasks' kind (the kinds table)."""
    args = build_parser().parse_args(argv)
    return kind_of(comma_list(args.task) or [], args.include_path).load("run")(args, console)


def kind_of(task_names: Sequence[str], include_paths: Sequence[str]) -> TaskKind:
    """The kind of the named tasks (all of them); mixing kinds in one call is refused."""
    manager = TaskManager(list(include_paths))
    kinds = {name: manager.get(name).kind for name in task_names}
    if len(set(kinds.values())) > 1:
        # Named against the default kind's tasks when there are some, else against the first task's kind.
        base = DEFAULT_KIND if DEFAULT_KIND in kinds.values() else next(iter(kinds.values()))
        odd = next(n for n, k in kinds.items() if k != base)
        raise GroundingEvalError(f"task {odd} is a {kinds[odd]} task: run it on its own (--task {odd}), "
                                 f"not beside {base} tasks")
    return get_kind(next(iter(kinds.values()), DEFAULT_KIND))
