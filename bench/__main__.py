"""`make bench`: how fast, how bounded and how well measured the converter pipeline is, against
the targets of the tracker issue "Fast, bounded, measured".

Run it through bench/run.sh, which installs what the bench needs (bench/requirements.txt, wrk)
and starts the local stack. Then `python -m bench`:

1. makes its corpus with ffmpeg (bench/corpus.py, once, into the git-ignored bench/corpus/);
2. starts the four services as real processes on loopback, with a vhost, a database, keys and
   an SMTP sink of their own (bench/system.py), and registers a user; `--mongodb-uri` and
   `--amqp-url` point them at servers the user provides instead;
3. measures one figure per module of bench/figures/, in the order of results.md: the store, the
   convert step, end to end, memory, throughput and the gateway;
4. compares each figure with its target (bench/targets.py) and, for every MISS, profiles the
   cause (bench/findings.py: py-spy, psutil);
5. writes results.json, results.md and chart.png (bench/report.py).

`--smoke` runs every step on the smallest file, once, with small batches: tests/bench runs it to
keep the bench itself working. Its figures say nothing about speed.

Every wait has a deadline, and the processes, vhost and database the bench made are removed
however it ends (Ctrl-C included).
"""
from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench import corpus, findings, report, system, targets
from bench.client import Client, MailWatcher
from bench.context import FIGURE_NAMES, FULL, SMOKE, Context, attempt
from bench.figures import Figures, convert, end_to_end, gateway, memory, store, throughput
from bench.machine import Machine

logger = logging.getLogger("bench")

BENCH_DIR = Path(__file__).resolve().parent
CORPUS_DIR = BENCH_DIR / "corpus"
DEFAULT_RESULTS_DIR = BENCH_DIR / "results"


def main(argv=None):
    options = parse_args(argv)
    # The bench's own progress at INFO; the libraries (pika, matplotlib) only when they warn.
    logging.basicConfig(level=logging.WARNING, format="[bench] %(asctime)s %(message)s", datefmt="%H:%M:%S",
                        stream=sys.stdout)
    logger.setLevel(logging.INFO)
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the clean-up below runs.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    plan = SMOKE if options.smoke else FULL
    results_dir = options.results_dir
    results_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # Before the stale profiles go: results.md counts the tracked files changed since the commit.
    machine = Machine.at_start()
    # Profiles are written only for this run's misses; an earlier run's must not linger beside them.
    for stale in results_dir.glob("profile-*"):
        stale.unlink()
    logger.info("%s run on %s cores, load average %s", plan.mode, machine.nproc, machine.load_average_start)

    videos = corpus.ensure(plan.files, CORPUS_DIR)
    work_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    figures, judgements, found, servers = Figures(), [], {}, {}
    table = targets.table(plan)
    try:
        with system.running(system.Stack.from_env(), work_dir, mongo_uri=options.mongodb_uri,
                            amqp_url=options.amqp_url) as running:
            servers = {"mongodb": running.mongo_server, "broker": running.broker_server}
            logger.info("against %s and %s", running.mongo_server, running.broker_server)
            user = Client.register(running.gateway_url)
            scratch = work_dir / "scratch"
            scratch.mkdir()
            context = Context(running, user, MailWatcher(running.mail_dir), videos, plan, scratch)
            try:
                figures = measure(context, wanted=set(options.only or FIGURE_NAMES))
                judgements = targets.judge(table, figures)
                found = findings.profile_misses(table, judgements, context, figures, results_dir,
                                                passes_too=options.profile_all)
            finally:
                logger.info("stopping the services")
    except BaseException:
        print_service_logs(work_dir)
        raise
    finally:
        if options.keep_work_dir:
            logger.info("work directory kept: %s", work_dir)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)

    logger.info("stopped; writing the results")
    machine = machine.at_end(started)
    report.write(results_dir, plan=plan, machine=machine, servers=servers, corpus=corpus.describe(videos),
                 figures=figures, judgements=judgements, findings=found)
    for judgement in judgements:
        logger.info("%-4s %s: %s (target %s)", judgement.verdict, judgement.title, judgement.shown,
                    judgement.target_shown)
    logger.info("results in %s (%.0f s)", results_dir, machine.bench_seconds)
    return 0


def measure(context, wanted) -> Figures:
    """The ``wanted`` figures, and those they are computed from; the others are None."""
    figures = Figures()
    # First, and on an empty server: what the store can do is what every other figure is read against.
    if "store" in wanted:
        figures.store = attempt("the store", store.measure, context)
    # Throughput and the gateway go before the large files: a job the converter cannot
    # finish would leave its video in the shared GridFS meanwhile, and slow them down.
    if wanted & {"convert", "end_to_end", "memory"}:
        figures.convert = attempt("convert step", convert.measure, context)
    if "throughput" in wanted:
        figures.throughput = attempt("throughput", throughput.measure, context)
    if "gateway" in wanted:
        figures.gateway = attempt("gateway", gateway.measure, context)
    if wanted & {"end_to_end", "memory"}:
        figures.end_to_end = attempt("end to end", end_to_end.measure, context, figures.convert)
    if "memory" in wanted:
        figures.memory = attempt("memory", memory.measure, context, figures.end_to_end)
    return figures


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help="smallest file only, one iteration, small batches (for tests/bench)")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR,
                        help="where results.json, results.md, chart.png and profiles go")
    parser.add_argument("--only", action="append", choices=FIGURE_NAMES,
                        help="measure this figure alone (repeatable), and what it is computed from; "
                             "the others' targets read 'not measured'")
    parser.add_argument("--profile-all", action="store_true",
                        help="profile every target as if it were missed (tests/bench, to run every profiler)")
    parser.add_argument("--mongodb-uri",
                        help="run against this MongoDB (or MongoDB-protocol server) instead of the bench's own; "
                             "make bench MONGODB_URI=...")
    parser.add_argument("--amqp-url",
                        help="run against this RabbitMQ (URL with its vhost) instead of a vhost of its own on "
                             "the stack's; make bench AMQP_URL=...")
    parser.add_argument("--keep-work-dir", action="store_true",
                        help="keep the services' logs and scratch files (printed at the end)")
    return parser.parse_args(argv)


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def print_service_logs(work_dir):
    """The end of each service's log, for a run that failed."""
    for log in sorted((work_dir / "logs").glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-15:]
        print(f"--- last lines of {log.name}:", *lines, sep="\n", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
