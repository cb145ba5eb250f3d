"""Differential test: the same scripted IMAP sessions against pymap 0.36.7 (a reference
IMAP server, dev dependency only) and against ephemail, compared after normalisation.

How it works (see scripts.py, harness.py, normalise.py; conftest.py starts both
servers, pymap_server.py runs pymap with UIDs from 1 and one user per script):
- each script gets a fresh mailbox on both servers, filled by the same APPENDs (same
  bytes, flags and internal dates), then runs its commands as exact bytes on a new
  connection after LOGIN and SELECT;
- every response is normalised (normalise.py lists each rule with its RFC reason: text
  after OK/NO/BAD, UIDVALIDITY values, capability lists, untagged order, FETCH item
  order, quoted vs literal strings, case of MIME tokens, INTERNALDATE zone);
- everything else must match line for line, except the entries of
  `deviations.PYMAP_DEVIATIONS`: places where pymap is the one that departs from the
  RFC (or where the RFC allows both answers), each with the line pymap sends, the line
  the RFC asks for, and the reference. ephemail must send the corrected line;
- a step where ephemail is the one that is wrong stays asserted at the RFC's answer:
  it is listed in `deviations.KNOWN_EPHEMAIL_BUGS` and checked by its own test, marked
  xfail(strict=True) so that the fix makes it fail until the entry is removed.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

import pytest

from tests.imap.differential.deviations import KNOWN_EPHEMAIL_BUGS, PYMAP_DEVIATIONS, KnownBug
from tests.imap.differential.harness import Exchange, run_script, user_for
from tests.imap.differential.scripts import SCRIPTS, SETUP, Script, login

Runs = Callable[[Script], tuple[list[Exchange], list[Exchange]]]


def _corrected(script: str, step: str, lines: list[str]) -> tuple[list[str], list[str]]:
    """pymap's lines with the deviations applied, and the entries that matched nothing."""
    fixed = list(lines)
    stale: list[str] = []
    for deviation in PYMAP_DEVIATIONS:
        if deviation.script != script or deviation.step != step:
            continue
        if deviation.pymap is not None:
            if deviation.pymap not in fixed:
                stale.append(deviation.pymap)
                continue
            fixed.remove(deviation.pymap)
        if deviation.correct is not None:
            fixed.append(deviation.correct)
    return _reorder(fixed), stale


def _reorder(lines: list[str]) -> list[str]:
    """Re-apply normalise()'s order: untagged (sorted), EXPUNGEs in order, tagged last."""
    tagged = [line for line in lines if not line.startswith("*")]
    expunges = [line for line in lines if line.startswith("*") and line.endswith(" EXPUNGE")]
    others = sorted(line for line in lines if line not in tagged and line not in expunges)
    return others + expunges + tagged


def _show(exchange: Exchange) -> str:
    sent = exchange.command if len(exchange.command) < 300 else exchange.command[:300] + b"..."
    received = b"".join(exchange.responses)
    if len(received) > 3000:
        received = received[:3000] + b"..."
    return f"    C: {sent!r}\n    S: {received!r}"


def compare_step(script: str, reference: Exchange, ours: Exchange) -> list[str]:
    """The differences of one step (empty when ephemail gives the RFC's answer)."""
    assert reference.command == ours.command, (reference.label, ours.label)
    expected, stale = _corrected(script, reference.label, reference.normalised)
    problems = [
        f"{ours.label}: stale allow-list entry, pymap no longer sends {line}" for line in stale
    ]
    if expected != ours.normalised:
        diff = "\n".join(
            difflib.unified_diff(
                expected, ours.normalised, "pymap (corrected)", "ephemail", lineterm="", n=0
            )
        )
        problems.append(
            f"{ours.label} {ours.command[:80]!r}\n{diff}\n  pymap:\n{_show(reference)}"
            f"\n  ephemail:\n{_show(ours)}"
        )
    return problems


def _known_bug_steps(script: str) -> set[str]:
    return {bug.step for bug in KNOWN_EPHEMAIL_BUGS if bug.script == script}


@pytest.fixture(scope="module")
def runs(pymap_port: int, ephemail_port: int) -> Runs:
    """Each script run once per server (the known-bug tests reuse the runs)."""
    cache: dict[str, tuple[list[Exchange], list[Exchange]]] = {}

    def run(script: Script) -> tuple[list[Exchange], list[Exchange]]:
        if script.name not in cache:
            cache[script.name] = (run_script(pymap_port, script), run_script(ephemail_port, script))
        return cache[script.name]

    return run


@pytest.mark.parametrize("script", SCRIPTS, ids=[script.name for script in SCRIPTS])
def test_same_session_same_answers(script: Script, runs: Runs) -> None:
    """Every step of the script gives the RFC's answer on ephemail: pymap's, corrected
    where pymap departs from the RFC (known ephemail bugs are checked separately)."""
    reference, ours = runs(script)
    problems: list[str] = []
    skipped = _known_bug_steps(script.name)
    for theirs, mine in zip(reference, ours, strict=False):
        if theirs.label not in skipped:
            problems.extend(compare_step(script.name, theirs, mine))
    if len(reference) != len(ours):
        problems.append(f"pymap ran {len(reference)} commands, ephemail {len(ours)}")
    assert not problems, f"script {script.name}: {len(problems)} difference(s)\n" + "\n\n".join(
        problems
    )


def _bug_params() -> list[object]:
    return [
        pytest.param(
            bug,
            id=f"{bug.script}-{bug.step}",
            marks=pytest.mark.xfail(strict=True, reason=bug.why),
        )
        for bug in KNOWN_EPHEMAIL_BUGS
    ]


@pytest.mark.parametrize("bug", _bug_params())
def test_known_ephemail_bug(bug: KnownBug, runs: Runs) -> None:
    """The step of a known ephemail bug, held to the RFC's answer."""
    script = next(script for script in SCRIPTS if script.name == bug.script)
    reference, ours = runs(script)
    theirs = next(exchange for exchange in reference if exchange.label == bug.step)
    mine = next(exchange for exchange in ours if exchange.label == bug.step)
    problems = compare_step(script.name, theirs, mine)
    assert not problems, "\n".join(problems)


def _commands(script: Script) -> dict[str, bytes]:
    """Step label -> command, as harness.run_script numbers them."""
    steps = {f"setup S{number}": command for number, command in enumerate(SETUP, start=2)}
    session = [login(user_for(script))]
    if script.select is not None:
        session.append(script.select)
    session.extend(script.commands)
    steps.update({f"A{number}": command for number, command in enumerate(session, start=1)})
    return steps


def test_every_allow_list_entry_names_a_real_step() -> None:
    """An entry for a step that does not exist (or moved) would hide nothing and rot."""
    scripts = {script.name: script for script in SCRIPTS}
    entries = [(d.script, d.step, d.command, d.why) for d in PYMAP_DEVIATIONS]
    entries += [(b.script, b.step, b.command, b.why) for b in KNOWN_EPHEMAIL_BUGS]
    for script_name, step, command, why in entries:
        steps = _commands(scripts[script_name])
        assert step in steps, (script_name, step)
        assert steps[step].startswith(command), (script_name, step, steps[step][:60], command)
        assert why
