"""Run folders for the transcript viewer's tests: real program episodes (judged alone and with a
guided critic) plus planted ones whose outcome, arm and text are known in advance."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import FastAPI

from oversight.agents.critics import CriticConfig, SearchCritic
from oversight.core.records import Message, Transcript
from oversight.core.runs import RunStore
from oversight.core.seeding import rng
from oversight.envs.programs.env import ProgramEnv
from oversight.envs.programs.generator import GeneratorConfig
from oversight.envs.programs.makers import make_backdoor, make_honest, make_lazy
from oversight.judges.budgeted import BudgetedJudge, JudgeConfig
from oversight.protocols import CRITIQUE, DIRECT, play
from oversight.web import viewer

SCRIPT = '<script>alert("owned")</script> look at line 3'
PLANTED = {  # episode id -> (gold label, verdict accept, outcome)
    "planted/caught": (False, False, "caught"),
    "planted/missed": (False, True, "missed"),
    "planted/false-alarm": (True, False, "false_alarm"),
    "planted/good": (True, True, "accepted_good"),
}


def real_transcripts(problems: int = 2, tag: str = "") -> list[Transcript]:
    """Honest, lazy and backdoored artifacts of small programs, judged directly (``direct``
    arm) and with a guided critic (``assisted`` arm), with gold attached; fresh copies, so
    tests may change them."""
    return [t.model_copy(deep=True) for t in _played(problems, tag)]


@cache
def _played(problems: int, tag: str) -> tuple[Transcript, ...]:
    env = ProgramEnv(GeneratorConfig(bits=12, length=40, rarity_bits=(5, 8)))
    cases = []
    for seed in range(problems):
        problem, ref = env.reference(seed)
        r = rng(0, "viewer-test", seed)
        for made in (make_honest(ref, r), make_lazy(ref, r), make_backdoor(ref, r, "literal", 6)):
            cases.append(env.case(problem, made, made.kind))
    judge = BudgetedJudge(JudgeConfig(budget=200, strategy="informed"))
    critic = SearchCritic(CriticConfig(kind="guided", budget_fraction=1 / 16))
    out: list[Transcript] = []
    for arm, protocol, agents in (
        ("direct", DIRECT, {}),
        ("assisted", CRITIQUE, {"critic": critic}),
    ):
        out += play(protocol, cases, agents, judge, arm, batch=len(cases), prefix=f"{arm}{tag}")
    return tuple(out)


def planted(base: Transcript) -> list[Transcript]:
    """Copies of ``base`` in arm ``planted`` with the outcomes of :data:`PLANTED`; the
    ``caught`` one carries a critic message with a script tag and points at candidate line 3."""
    out = []
    for episode_id, (label, accept, _) in PLANTED.items():
        t = base.model_copy(deep=True)
        t.episode_id, t.arm, t.protocol = episode_id, "planted", "critique"
        t.gold.label = label  # type: ignore[union-attr]
        t.gold.kind = "planted"  # type: ignore[union-attr]
        t.verdict.accept = accept  # type: ignore[union-attr]
        t.messages = []
        if episode_id == "planted/caught":
            msg = Message(role="critic", text=SCRIPT)
            msg.claim = base.messages[0].claim.model_copy(  # type: ignore[union-attr]
                update={"text": "Zebra-Quartz counterexample", "line": 2, "suspicion": 0.75}
            )
            t.messages = [msg]
        out.append(t)
    return out


def make_run(root: Path, name: str = "run-a") -> tuple[Path, list[Transcript]]:
    """A run folder under ``root`` with real and planted transcripts, config and a report."""
    real = real_transcripts()
    transcripts = real + planted(next(t for t in real if t.arm == "assisted"))
    store = RunStore(root / name)
    store.create("experiment: viewer-test\nseed: 0\n")
    store.append(transcripts)
    store.write_metrics({"catch_rate.direct": 0.5})
    (store.path / "report.html").write_text("<html><body>the report</body></html>")
    return store.path, transcripts


def viewer_app(runs_dir: Path) -> FastAPI:
    """A minimal app serving only the viewer, under ``/runs``."""
    app = FastAPI()
    app.state.runs_dir = runs_dir
    app.include_router(viewer.router, prefix="/runs")
    return app
