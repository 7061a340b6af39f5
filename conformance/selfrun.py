"""The main job in one process: the reference server on the bundled model, then a run against it.

It exists so that a new user (and CI) can see the whole tool work with one command, without
juggling a background server by hand.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from conformance.providers import Claim, find_profile
from conformance.results import CaseResult, RunResults, Verdict, load
from reference_server.launcher import ServerStartError, running_server

PROVIDER = "reference-server"


def undocumented_shortfalls(results: RunResults) -> list[CaseResult]:
    """Cases that did not pass, except refusals the provider's profile documents as unsupported.

    The reference server refuses, with OpenAI's error envelope, what its model cannot do (e.g.
    `suffix` without fill-in-the-middle tokens) and documents it in specs/providers/; such a refusal
    is the truth, shown as "rejected" in every report, but it is not a defect of the main job.
    """
    profile = find_profile(PROVIDER)
    out = []
    for case in results.cases:
        if case.verdict is Verdict.PASS:
            continue
        claim = profile.claim(case.endpoint, case.parameter) if profile else None
        if case.verdict is Verdict.UNSUPPORTED and claim is not None and claim.claim is Claim.UNSUPPORTED:
            continue
        out.append(case)
    return out


def _out_dir(extra: list[str]) -> tuple[Path, list[str]]:
    if "--out" in extra:
        i = extra.index("--out")
        if i + 1 < len(extra):
            return Path(extra[i + 1]), extra
    out = Path("reports") / PROVIDER
    return out, [*extra, "--out", str(out)]


def main(argv: Sequence[str] | None = None) -> int:
    """Start the reference server, then `conformance run --base-url <it> --provider reference-server ARGS`.

    Exit 0 when every case passed or was refused as the profile documents; otherwise the run's status.
    """
    from conformance.cli import main as cli_main

    out, extra = _out_dir(list(sys.argv[1:] if argv is None else argv))
    print("starting the reference server on the bundled model...", file=sys.stderr)
    try:
        with running_server() as srv:
            print(f"reference server ready at {srv.base_url}", file=sys.stderr)
            status = cli_main(["run", "--base-url", srv.base_url, "--provider", PROVIDER, *extra])
    except ServerStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if status != 1:
        return status
    results = load(out / "results.json")
    shortfalls = undocumented_shortfalls(results)
    documented = [c for c in results.cases if c.verdict is not Verdict.PASS and c not in shortfalls]
    if documented:
        names = ", ".join(f"{c.endpoint}/{c.parameter}" for c in documented)
        verdict = "main job fails" if shortfalls else "main job passes"
        print(
            f"{verdict}: {len(documented)} case(s) refused as specs/providers/{PROVIDER}.yaml documents "
            f"({names}); {len(shortfalls)} other case(s) did not pass",
            file=sys.stderr,
        )
    return 1 if shortfalls else 0


if __name__ == "__main__":
    sys.exit(main())
