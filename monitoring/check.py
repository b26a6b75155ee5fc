"""Reads monitoring/'s expressions for scripts/monitoring-check.sh and
scripts/monitoring-test.sh.

check.py dashboard DASHBOARD RULES_OUT: the JSON loads; panel ids are unique; every panel that is no row has queries on the
dashboard's ${datasource}; each query's expression, Grafana's variables replaced by what
Grafana would send, goes into a recording rule of RULES_OUT, which the caller hands to
`promtool check rules`: promtool parses every expression. Prints each expression's
metric names to stdout (one a line).

check.py names RULES: the metric names of every `expr:` of a Prometheus rule file
(alerts.yml), one a line. A plain reading of the YAML (an inline expression or a `|`
block), so that no YAML module is needed.
"""

import json
import re
import sys

# What Grafana substitutes: the rate window, and the regex of a multi-value "All".
VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$instance": ".*", "$nas": ".*"}
FUNCTIONS_AND_WORDS = {
    "sum", "humanize", "min", "max", "avg", "count", "rate", "increase", "irate", "deriv",
    "histogram_quantile", "by", "without", "on", "ignoring", "and", "or", "unless",
    "le", "time", "abs", "clamp_min", "clamp_max", "offset", "bool",
}


def fail(msg):
    sys.exit(f"grafana/check.py: {msg}")


def metric_names(expr):
    # Label matchers and quoted strings out first, then identifiers not followed by "(".
    bare = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^\]]*\]', " ", expr)
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", bare)
    names = re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", bare)
    return {n for n in names if n not in FUNCTIONS_AND_WORDS and not re.fullmatch(r"[0-9e.]+", n)}


def rule_names(path):
    names, block, indent = set(), None, 0
    for line in open(path):
        stripped = line.strip()
        if block is not None:
            if stripped and len(line) - len(line.lstrip()) > indent:
                block.append(stripped)
                continue
            names |= metric_names(" ".join(block))
            block = None
        m = re.match(r"(\s*)expr:\s*(.*)$", line)
        if m:
            if m.group(2) in ("|", ">", "|-", ">-"):
                block, indent = [], len(m.group(1))
            else:
                names |= metric_names(m.group(2))
    if block:
        names |= metric_names(" ".join(block))
    return names


def dashboard(dashboard, rules_out):
    with open(dashboard) as f:
        dash = json.load(f)
    for key in ("title", "uid", "panels", "templating"):
        if key not in dash:
            fail(f"no {key}")
    variables = {v["name"] for v in dash["templating"]["list"]}
    ids, rules, names = set(), [], set()
    for panel in dash["panels"]:
        if panel["id"] in ids:
            fail(f"panel id {panel['id']} twice")
        ids.add(panel["id"])
        if panel["type"] == "row":
            continue
        if panel.get("datasource", {}).get("uid") != "${datasource}":
            fail(f"panel {panel['title']!r} does not use the ${{datasource}} variable")
        if not panel.get("targets"):
            fail(f"panel {panel['title']!r} has no query")
        for target in panel["targets"]:
            expr = target["expr"]
            for var in re.findall(r"\$\w+", expr):
                if var not in VARIABLES or (var[1:] not in variables and not var.startswith("$__")):
                    fail(f"panel {panel['title']!r}: unknown variable {var}")
            for var, value in VARIABLES.items():
                expr = expr.replace(var, value)
            rules.append({"record": f"dashboard:panel{panel['id']}:{target['refId']}", "expr": expr})
            names |= metric_names(expr)
    with open(rules_out, "w") as f:
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f, indent=1)
    return names


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "dashboard":
        names = dashboard(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "names":
        names = rule_names(sys.argv[2])
    else:
        sys.exit(__doc__)
    for n in sorted(names):
        print(n)


main()
