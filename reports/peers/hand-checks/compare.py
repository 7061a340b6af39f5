"""Set the hand-verified verdicts (hand-checks/<peer>.verdicts, evidence in hand-checks/<peer>.md)
beside the harness's cells (reports/<peer>/results.json) and write reports/peers/HAND-CHECKS.md.

One row per hand-checked cell: the request (the first curl command of its evidence section), what
came back (the section's "Observed" lines, else the first answer's status), the hand verdict, the
harness's cell on both axes (behaviour, wire) with the verdicts of its cases, and whether the two
agree. The agreement is computed from the hand verdict's words (supported / accepted but ignored /
rejected / broken / inconclusive, and "+ wire strict / spec-violated / breaks the SDK" when the hand
check judged the wire), then overridden by hand-checks/judgments.tsv where reading the evidence
says more than the words (tab-separated: peer, key, the cell's state/wire when judged, agree|disagree|not comparable, note;
a judgment applies only while the cell is unchanged).

usage: python reports/peers/hand-checks/compare.py [PEER ...]   (default: the four hand-checked peers)
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
PEERS = ["llama-cpp-python", "llama-server", "transformers-serve", "llama-stack"]
BEHAVIOURS = ["accepted but ignored", "supported", "rejected", "broken", "inconclusive"]
# Hand keys that are not one matrix row: the rows they stand for (and, for one case, its id).
SPLIT = {
    "chat.completions · logprobs / top_logprobs": [("chat.completions", "logprobs"), ("chat.completions", "top_logprobs")],
    "chat.completions · presence_penalty / frequency_penalty": [
        ("chat.completions", "presence_penalty"),
        ("chat.completions", "frequency_penalty"),
    ],
    "chat.completions · response_format json_object": [("chat.completions", "response_format")],
    "chat.completions · response_format json_schema": [("chat.completions", "response_format")],
    "chat.completions · tools (auto)": [("chat.completions", "tools")],
}
CASE_FILTER = {
    "chat.completions · response_format json_object": "chat.response_format.json_object",
    "chat.completions · response_format json_schema": "chat.response_format.json_schema",
}
# One case's verdict in the cell vocabulary (for hand checks of one case of a row, CASE_FILTER).
CASE_STATE = {
    "pass": "supported",
    "fail": "accepted but ignored",
    "unsupported": "rejected",
    "error": "broken",
    "skipped": "untested",
    "inconclusive": "inconclusive",
}
MARK = {
    "supported": "✅",
    "accepted but ignored": "⚠️",
    "rejected": "❌",
    "broken": "💥",
    "inconclusive": "❔",
    "untested": "–",
    "schema-invalid": "🧩",
}


def parse_verdicts(path: Path) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if " → " in line:
            key, text = line.split(" → ", 1)
            rows.append((key.strip(), text.strip()))
    return rows


def parse_evidence(path: Path) -> dict[str, dict[str, list[str]]]:
    """Per section (### KEY): the curl commands, the '→ HTTP' lines, the 'Observed:' lines."""
    sections: dict[str, dict[str, list[str]]] = {}
    if not path.exists():
        return sections
    cur = None
    in_code = False
    code: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("### "):
            cur = sections.setdefault(line[4:].strip(), {"curl": [], "http": [], "observed": []})
            continue
        if cur is None:
            continue
        if line.startswith("```"):
            if in_code:
                block = "\n".join(code)
                if block.startswith("curl "):
                    cur["curl"].append(block)
                code = []
            in_code = not in_code
            continue
        if in_code:
            code.append(line)
        elif line.startswith("→ HTTP"):
            cur["http"].append(line[2:])
        elif line.startswith("Observed: "):
            cur["observed"].append(line[len("Observed: ") :])
        elif re.match(r"^.+\(`curl .*\*\*\d+ distinct of \d+\*\*", line):  # sample lines
            label = line.split(" (`curl", 1)[0]
            count = re.search(r"\*\*(\d+ distinct of \d+)\*\*", line)
            cur["observed"].append(f"{label}: {count.group(1) if count else '?'}")
    return sections


def behaviour_of(text: str, parameter: str | None = None) -> str | None:
    """The behaviour a hand verdict names (for a split key, the part about `parameter`)."""
    t = text.lower()
    if parameter:
        m = re.search(re.escape(parameter) + r" (supported|accepted but ignored|inconclusive|rejected|broken)", t)
        if m:
            return m.group(1)
    if t.startswith("broken for the sdk"):
        return None  # a wire verdict in behaviour words: judged by hand (judgments.tsv)
    for b in BEHAVIOURS:
        if t.startswith(b):
            return b
    return None


def wire_of(text: str) -> str | None:
    t = text.lower()
    if "breaks the sdk" in t or "breaks-sdk" in t:
        return "breaks-sdk"
    if "wire strict" in t:
        return "strict"
    if "spec-violated" in t or "sdk accepts" in t or re.search(r"\+ wire: ", t):
        return "spec-violated"
    m = re.search(r"\+ wire as ([a-z_.]+(?: [a-z_.]+)?)", t)
    if m:
        return "as " + m.group(1)
    return None


def short(s: str, n: int) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def cell_text(cells, cases, rows, case_filter):
    parts = []
    states = []
    wires = []
    for endpoint, parameter in rows:
        cell = cells.get((endpoint, parameter))
        if cell is None:
            parts.append(f"`{parameter}`: no cell")
            continue
        ids = [case_filter] if case_filter else cell["case_ids"]
        verdicts = ", ".join(f"{i} {cases[i]['verdict']}" if i in cases else f"{i} ?" for i in ids)
        wire = cell.get("wire", "unknown")
        if case_filter and case_filter in cases:
            wire = cases[case_filter].get("wire", wire)
        state = cell["state"]
        if case_filter and case_filter in cases:  # a hand check of one case of the row: that case's verdict
            state = CASE_STATE.get(cases[case_filter]["verdict"], state)
        uc = " · under concurrency: " + "; ".join(cell["under_concurrency"]) if cell.get("under_concurrency") else ""
        label = f"`{parameter}`: " if len(rows) > 1 else ""
        if case_filter:
            label = f"case {case_filter}: "
        parts.append(f"{label}{MARK.get(state, '')} {state} · wire {wire} ({verdicts}){uc}")
        states.append(state)
        wires.append(wire)
    return "<br>".join(parts), states, wires


def anchor(key: str) -> str:
    a = key.lower()
    a = re.sub(r"[^\w\- ]", "", a)
    return a.replace(" ", "-")


def main(peers: list[str]) -> None:
    judgments: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    jpath = HERE / "judgments.tsv"
    if jpath.exists():
        with jpath.open(encoding="utf-8") as f:
            for row in csv.reader(f, delimiter="\t"):
                if row and not row[0].startswith("#") and len(row) >= 4:
                    judgments.setdefault((row[0], row[1]), []).append((row[2], row[3], row[4] if len(row) > 4 else ""))
    out = [
        "# Hand checks against the harness's cells",
        "",
        "Per peer, every cell verified by hand with curl (reports/peers/hand-checks/check-<peer>.sh; the",
        "full requests, answers and reasoning are in hand-checks/<peer>.md, linked from each row) set beside",
        "the harness's cell for the same row in reports/<peer>/results.json, on both axes (behaviour and",
        "wire). Hand verdicts come from properties of one answer or from distinct counts over five seeds,",
        "never from comparing two greedy answers. `Agree?` is computed from the words of the hand verdict",
        "and then, where reading the evidence says more, set by hand in hand-checks/judgments.tsv (its note",
        "is shown). Regenerate with `.venv/bin/python reports/peers/hand-checks/compare.py`.",
        "",
    ]
    summary = []
    body = []
    disagreements = []
    superseded = []
    for peer in peers:
        vpath = HERE / f"{peer}.verdicts"
        rpath = REPO / "reports" / peer / "results.json"
        if not vpath.exists():
            continue
        evidence = parse_evidence(HERE / f"{peer}.md")
        hand_date = ""
        md = HERE / f"{peer}.md"
        if md.exists():
            m = re.search(r"^- Date: (\S+)", md.read_text(encoding="utf-8"), re.M)
            hand_date = m.group(1) if m else ""
        if not rpath.exists():
            body += [f"## {peer}", "", f"No reports/{peer}/results.json: the harness has not measured it.", ""]
            continue
        res = json.loads(rpath.read_text(encoding="utf-8"))
        if res["run"]["options"].get("only"):
            body += [f"## {peer}", "", f"reports/{peer}/results.json is not a full run (only {res['run']['options']['only']}): not compared.", ""]
            summary.append(f"| {peer} | {len(parse_verdicts(vpath))} | – | – | not compared: no full run |")
            continue
        cells = {(c["endpoint"], c["parameter"]): c for c in res["cells"]}
        cases = {c["case_id"]: c for c in res["cases"]}
        hand = parse_verdicts(vpath)
        hand_wire = {k: wire_of(t) for k, t in hand}
        counts = {"agree": 0, "disagree": 0, "not comparable": 0}
        rows_md = [
            f"## {peer}",
            "",
            f"Hand checks: {hand_date} (hand-checks/{peer}.md). Harness: reports/{peer}/results.json, run "
            f"{res['run']['started_at'][:19]}Z, {len(res['cases'])} cases.",
            "",
            "| Cell | Request (curl, `$BASE` = the server's /v1) | What came back | Hand verdict | Harness cell (behaviour · wire, cases) | Agree? |",
            "|---|---|---|---|---|---|",
        ]
        for key, text in hand:
            ev = evidence.get(key, {"curl": [], "http": [], "observed": []})
            curl = ev["curl"][0] if ev["curl"] else "(see evidence)"
            curl = curl.replace(" -H 'Content-Type: application/json'", "")
            if len(ev["curl"]) > 1:
                curl += f" (+{len(ev['curl']) - 1} more)"
            came = "; ".join(ev["observed"]) or "; ".join(ev["http"][:2])
            if key.startswith("concurrency"):
                rows = [("chat.completions", "stream")]
            else:
                rows = SPLIT.get(key)
                if rows is None:
                    endpoint, _, parameter = key.partition(" · ")
                    rows = [(endpoint, parameter)]
            harness, states, wires = cell_text(cells, cases, rows, CASE_FILTER.get(key))
            # automatic judgment
            verdicts = []
            for (_, parameter), state, wire in zip(rows, states, wires):
                hb = behaviour_of(text, parameter if len(rows) > 1 else None)
                hw = hand_wire.get(key)
                if hw and hw.startswith("as "):
                    ref = hw[3:]
                    ref_key = next((k for k, _ in hand if k.endswith("· " + ref) or k == ref), None)
                    hw = hand_wire.get(ref_key) if ref_key else None
                    if hw and hw.startswith("as "):
                        hw = None
                if hb is None:
                    verdicts.append(("not comparable", "hand verdict needs reading"))
                elif hb == "inconclusive" and state != "inconclusive":
                    verdicts.append(("not comparable", "inconclusive by hand"))
                elif hb != state:
                    verdicts.append(("disagree", f"behaviour: hand {hb}, harness {state}"))
                elif hw and wire not in ("unknown", hw):
                    verdicts.append(("disagree", f"wire: hand {hw}, harness {wire}"))
                else:
                    verdicts.append(("agree", ""))
            if not verdicts:
                verdicts = [("not comparable", "no harness cell")]
            worst = next((v for v in verdicts if v[0] == "disagree"), None) or next(
                (v for v in verdicts if v[0] == "not comparable"), verdicts[0]
            )
            judged, note = worst
            auto = True
            signature = ";".join(f"{st}/{w}" for st, w in zip(states, wires))
            for when, j, jnote in judgments.get((peer, key), []):
                if when == signature:
                    judged, note, auto = j, jnote, False
            for when, j, jnote in judgments.get((peer, key), []):
                if when != signature:  # judged against an earlier run's cell: kept as a record
                    superseded.append((peer, key, when, signature, j, jnote))
            counts[judged] = counts.get(judged, 0) + 1
            shown = {"agree": "agree", "disagree": "**DISAGREE**", "not comparable": "not comparable"}[judged]
            if note:
                shown += f": {note}"
            if auto and judged != "agree":
                shown += " (computed)"
            if judged == "disagree":
                disagreements.append((peer, key, note, harness))
            cell_link = f"[{key}](hand-checks/{peer}.md#{anchor(key)})"
            esc = lambda s: s.replace("|", "\\|")  # noqa: E731
            rows_md.append(
                f"| {cell_link} | `{esc(short(curl, 260))}` | {esc(short(came, 260))} | {esc(short(text, 320))} | {esc(harness)} | {esc(shown)} |"
            )
        summary.append(
            f"| {peer} | {len(hand)} | {counts['agree']} | {counts['disagree']} | {counts['not comparable']} |"
        )
        body += rows_md + [""]
    out += ["| Peer | Cells checked by hand | Agree | Disagree | Not comparable |", "|---|---|---|---|---|"]
    out += summary + [""]
    if disagreements:
        out += ["## Disagreements", ""]
        for peer, key, note, harness in disagreements:
            out.append(f"- **{peer} · {key}**: {note} (harness: {harness})")
        out.append("")
    out += body
    if superseded:
        out += [
            "## Judgments made against an earlier run",
            "",
            "hand-checks/judgments.tsv judged these cells as they were in an earlier run; the cell has changed",
            "since (usually: the harness was fixed), so the computed agreement is shown above instead.",
            "",
            "| Peer | Cell | Cell then | Cell now | Judgment then |",
            "|---|---|---|---|---|",
        ]
        for peer, key, when, now, j, jnote in superseded:
            out.append(f"| {peer} | {key} | {when} | {now} | {j}: {jnote.replace('|', '/')} |")
        out.append("")
    (REPO / "reports" / "peers" / "HAND-CHECKS.md").write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"wrote reports/peers/HAND-CHECKS.md ({len(disagreements)} disagreements)", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:] or PEERS)
