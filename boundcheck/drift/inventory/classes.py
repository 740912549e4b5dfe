"""What each finding of the inventory is: modeled, bounded, not reached, or not yet classified.

- **modeled**: the expression is part of a boundcheck.kernel_limits entry that holds in the
  release (its verbatim code, whitespace aside, contains the expression), so its closed
  form, proof and twin cover it, and `chunk` and the guard apply it;
- **bounded**: within its limit whenever the modeled bounds hold: a rule of rules.py states
  an upper bound over the maxima of bounds.py (checked against the finding's type), or
  names the kernel_limits entry or the proof that bounds it;
- **not reached**: no call path from the launcher's functions (taint.reached_functions), or
  a rule of rules.py names the source fact that keeps the statement from running;
- **independent of n**: the taint over-approximates (it seeds every grid index) and a rule
  of rules.py says why the value does not grow with the token count;
- **no effect**: the value only chooses among launch settings that are each valid, or is
  never read (a rule of rules.py says which);
- **unclassified**: everything else (tests/test_inventory_rules.py fails on any).
"""

from __future__ import annotations

from collections import Counter

from boundcheck.kernel_limits import LIMITS_TABLE
from boundcheck.versions import version_key

from . import bounds
from .rules_bmm import BMM_RULES
from .rules import (BOUNDED_RULES, INDEPENDENT_RULES, NO_EFFECT_RULES, UNREACHED_RULES, Independent, NoEffect,
                    Unreached, squash)

RULES = UNREACHED_RULES + INDEPENDENT_RULES + NO_EFFECT_RULES + BOUNDED_RULES + BMM_RULES

MODELED, BOUNDED, NOT_REACHED, INDEPENDENT, NO_EFFECT, UNCLASSIFIED = (
    "modeled", "bounded", "not reached", "independent of n", "no effect", "unclassified")
CLASSES = (MODELED, BOUNDED, NOT_REACHED, INDEPENDENT, NO_EFFECT, UNCLASSIFIED)


def entries_in(version: str) -> list:
    v = version_key(version)
    return [e for e in LIMITS_TABLE if e.kind != "grid" and v >= version_key(e.first)
            and (not e.last or v <= version_key(e.last))]


def rule_for(finding, version: str | None = None):
    """The first rule that matches the finding (in `version`, when given), or None."""
    for rule in RULES:
        if rule.matches(finding.function, finding.code, version):
            return rule
    return None


def models(entry, finding, version: str) -> bool:
    """Whether the finding is (part of) the entry's expression: an operation (not a bare
    operand, which many expressions share) within the entry's verbatim code, in one of the
    entry's files and, where the entry names them, functions."""
    code = squash(finding.code)
    if not code or not any(op in code for op in ("*", "+", "<<")) or code not in squash(entry.code_in(version)):
        return False
    files = entry.files or (entry.where.split(":")[0].split("/")[-1],)
    if finding.file.rsplit("/", 1)[-1] not in files:
        return False
    return not entry.functions or finding.function.endswith(entry.functions)


def label(rule) -> str:
    """R1, R2, ...: the rule's place in RULES (docs/int32_inventory.md's rules table)."""
    return f"R{RULES.index(rule) + 1}"


def kind_of(rule) -> str:
    """The class a rule gives where it holds."""
    return {Unreached: NOT_REACHED, Independent: INDEPENDENT, NoEffect: NO_EFFECT}.get(type(rule), BOUNDED)


def bounded_reason(rule, finding, version: str) -> str | None:
    """The reason a Bounded rule gives for this finding, or None where it does not hold."""
    if rule.entries:
        holding = [name for name in rule.entries if name in {e.name for e in entries_in(version)}]
        return f"{rule.reason} (kernel_limits {', '.join(holding)})" if holding else None
    if rule.proof:
        return f"{rule.reason} (proof {rule.proof})"
    holds, value, limit = bounds.check(rule.bound, finding.type)
    if not holds:
        return None
    return f"{rule.reason}: at most {rule.bound} = {value:,} < 2^{limit.bit_length() - 1}"


def classify(finding, version: str) -> tuple[str, str]:
    """(class, reason) of one finding of `version`'s inventory."""
    if not finding.reached:
        return NOT_REACHED, "no call path from the launcher's functions"
    for entry in entries_in(version):
        if models(entry, finding, version):
            return MODELED, entry.name
    rule = rule_for(finding, version)
    if rule is None:
        return UNCLASSIFIED, ""
    if kind_of(rule) != BOUNDED:
        return kind_of(rule), rule.reason
    reason = bounded_reason(rule, finding, version)
    return (BOUNDED, reason) if reason else (UNCLASSIFIED, f"the rule does not hold here: {rule.reason}")


def counts(inventory, version: str) -> Counter:
    return Counter(classify(f, version)[0] for f in inventory.findings)
