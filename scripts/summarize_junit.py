#!/usr/bin/env python3
"""Counts passed/failed/skipped test cases over JUnit XML files (lit, ctest,
pytest) and prints a per-file breakdown to stderr and
`N passed, N failed, N skipped`."""
import sys
import xml.etree.ElementTree as ET


def count(path):
    passed = failed = skipped = 0
    for case in ET.parse(path).getroot().iter("testcase"):
        tags = {child.tag for child in case}
        if tags & {"failure", "error"}:
            failed += 1
        elif "skipped" in tags or case.get("status") in ("notrun", "disabled"):
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main(paths):
    total = [0, 0, 0]
    for path in paths:
        p, f, s = count(path)
        print(f"{path}: {p} passed, {f} failed, {s} skipped", file=sys.stderr)
        total = [total[0] + p, total[1] + f, total[2] + s]
    # Skipped tests (unsupported here: no GPU) are counted on the last line
    # so that a suite that silently stops running is visible.
    print(f"{total[0]} passed, {total[1]} failed, {total[2]} skipped")


if __name__ == "__main__":
    main(sys.argv[1:])
