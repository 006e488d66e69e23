"""Nox sessions: everything a fresh machine needs is installed here.

- ``nox -s tests``: the whole test suite (the README's test command).
- ``nox -s demo``: the main job on the bundled zoo (hide a target, rank, compare).
- ``nox -s lint``: ruff.

torch is pinned first, to wheels that lie on this machine's disk (an uncapped ``torch``
requirement could download a multi-GB CUDA build): the test session uses torch 2.14.1 with
torchvision 0.29.1 (pytorchcv and timm import torchvision, which does not import beside
torch 2.13.0); the demo needs no torchvision and uses the smaller torch 2.13.0 CPU wheel.
karateclub 1.3.3 (graph2vec) pins numpy<1.23, so it is installed with ``--no-deps``.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

TORCH = "torch==2.13.0"
TORCH_VISION = ("torch==2.14.1", "torchvision==0.29.1")
KARATECLUB = "karateclub==1.3.3"


def _install(session: nox.Session, *extras: str, torch: tuple[str, ...] = (TORCH,)) -> None:
    session.install(*torch)
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install(spec)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite against the installed package (wheel, not the source tree)."""
    _install(session, "test", "archi", "proxies", "serve", "spark", torch=TORCH_VISION)
    session.install("--no-deps", KARATECLUB)
    session.run("pytest", *session.posargs, env={"HF_HUB_OFFLINE": "1"})


@nox.session
def demo(session: nox.Session) -> None:
    """Hide one target of the bundled 105-model zoo, rank it, print the top 10 and metrics."""
    _install(session)
    session.run("fennec", "demo", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Static checks with ruff."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
