#!/usr/bin/env python3
"""Compares an Autobahn fuzzingclient run (its index.json) with expected-results.json.

    compare.py INDEX_JSON EXPECTED_JSON [--update]

Each case must have the expected result, and that result must be a pass: `behavior` OK or
NON-STRICT (or INFORMATIONAL: the suite gives those cases no verdict), `behaviorClose` OK
or INFORMATIONAL. Prints every case that differs and ends with "N passed, M failed" (one
per case). With --update, writes the run's results as the new expectations instead.
"""

import json
import sys

AGENT = "sockeye"
PASSING = {"OK", "NON-STRICT", "INFORMATIONAL"}
PASSING_CLOSE = {"OK", "INFORMATIONAL"}
KEYS = ("behavior", "behaviorClose", "remoteCloseCode")


def case_key(case):
    return [int(part) for part in case.split(".")]


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        run = json.load(f).get(AGENT, {})
    got = {case: {k: r.get(k) for k in KEYS} for case, r in run.items()}
    if "--update" in argv[3:]:
        with open(argv[2], "w") as f:
            json.dump(got, f, indent=2, sort_keys=True)
            f.write("\n")
        print(f"wrote {len(got)} cases to {argv[2]}")
    with open(argv[2]) as f:
        expected = json.load(f)
    passed = failed = 0
    for case in sorted(set(expected) | set(got), key=case_key):
        want, have = expected.get(case), got.get(case)
        problems = []
        if have is None:
            problems.append("not run")
        elif want is None:
            problems.append(f"not expected: {have}")
        elif have != want:
            problems.append(f"expected {want}, got {have}")
        if have is not None and (
            have["behavior"] not in PASSING or have["behaviorClose"] not in PASSING_CLOSE
        ):
            problems.append(f"not a pass: {have['behavior']} / {have['behaviorClose']}")
        if problems:
            failed += 1
            print(f"case {case}: {'; '.join(problems)}")
        else:
            passed += 1
    if not got:
        failed += 1
        print("the run has no results")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
