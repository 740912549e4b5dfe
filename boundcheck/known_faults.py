"""Per-release faults of flashinfer's trtllm-gen MoE path that chunking cannot fix.

The chunk bound keeps grid.y and the 32-bit offsets in range; a fault listed here breaks a
launch of any size, so no chunk size avoids it. `boundcheck chunk` and `boundcheck status`
name it for the releases it holds in; the fix is an upgrade.

Trust: each fault's release range is what the release sources show (the verbatim code and
its file:line, for the first and last release of the range and of the fix);
tests/test_known_faults.py re-reads the fetched sources of every modeled release and fails
where a release disagrees with the range. What the closed cubins do is not in the sources:
`evidence` says where that part comes from.
"""

from __future__ import annotations

from dataclasses import dataclass

from .installed import release_of
from .versions import version_key

__all__ = ["Citation", "KnownFault", "KNOWN_FAULTS", "ROUTE_MAP_OVER_READ", "faults_for"]

LAUNCHER = "data/csrc/trtllm_fused_moe_kernel_launcher.cu"


@dataclass(frozen=True)
class Citation:
    """A statement of one release's sources: file (relative to the `flashinfer/` package),
    the lines where each occurrence starts, and the statement verbatim (whitespace runs
    joined into one blank)."""

    version: str
    file: str
    lines: tuple[int, ...]
    code: str

    def __str__(self) -> str:
        return f"{self.file}:{','.join(map(str, self.lines))} (flashinfer {self.version}): {self.code}"


@dataclass(frozen=True)
class KnownFault:
    name: str
    first: str  # the first modeled release it holds in
    last: str  # the last one; fixed_in is the next release
    fixed_in: str
    what: str  # what happens, one sentence
    fix: str  # what the fix does
    reference: str  # where it was found and fixed
    evidence: str  # where the facts the sources cannot show come from
    faulty: tuple[Citation, ...]  # the faulty code in `first` and in `last`
    fixed: tuple[Citation, ...]  # the fixed code in `fixed_in` and in the newest modeled release

    def holds_in(self, version: str) -> bool:
        key = version_key(release_of(version))
        return version_key(self.first) <= key <= version_key(self.last)

    @property
    def code(self) -> str:
        return self.faulty[-1].code

    @property
    def where(self) -> str:
        last = self.faulty[-1]
        return f"{last.file}:{','.join(map(str, last.lines))} (flashinfer {last.version})"

    def line(self, version: str) -> str:
        """The one line `chunk` and `status` print."""
        return (f"known fault in flashinfer {release_of(version)} that chunking cannot fix: {self.what}; "
                f"fixed in {self.fixed_in} ({self.reference})")

    def to_json(self, version: str) -> dict:
        """The fault as `--json` reports it for `version`, its one line included."""
        return {
            "message": self.line(version), "name": self.name,
            "first": self.first, "last": self.last, "fixed_in": self.fixed_in,
            "what": self.what, "fix": self.fix, "reference": self.reference, "evidence": self.evidence,
            "code": self.code, "where": self.where,
            "faulty": [_citation_json(c) for c in self.faulty], "fixed": [_citation_json(c) for c in self.fixed],
        }


def _citation_json(citation: Citation) -> dict:
    return {"version": citation.version, "file": citation.file, "lines": list(citation.lines),
            "code": citation.code}


ROUTE_MAP_OVER_READ = KnownFault(
    name="route_map_over_read",
    # 0.2.8 carves the route map out of the caller's workspace buffer (expert_weights
    # follows it there), so a one-past read stays inside that allocation; 0.2.9 is the first
    # release that allocates it as a tensor of its own, without the pad.
    first="0.2.9",
    last="0.6.15.post1",
    fixed_in="0.6.16",
    what=("the routed batched-GEMM kernels read one int32 past the end of the route map "
          "(permuted_idx_to_token_idx, allocated with no spare element), an illegal memory access "
          "whenever the allocation ends at a mapped-region boundary, at any token count"),
    fix="the launcher allocates the route map with max_num_padded_tokens + 1 elements",
    reference="flashinfer PR #4237",
    evidence=("the allocation without and with the + 1 is in every release's launcher (checked by "
              "tests/test_known_faults.py); the over-read itself is in the closed GEMM cubins: flashinfer "
              "PR #4237 (2026-07-29) found it in the cubins then shipped (Bmm_*_dynB with routeAct, an "
              "off-by-one clamp reading index (ctaIdxY + 1) * tileN from the last CTA); the older releases' "
              "cubins were not disassembled"),
    faulty=(
        Citation("0.2.9", LAUNCHER, (151, 420, 754),
                 "at::Tensor permuted_idx_to_token_idx = at::detail::empty_cuda( {max_num_padded_tokens}, "
                 "at::ScalarType::Int, routing_logits.device(), std::nullopt);"),
        Citation("0.6.15.post1", LAUNCHER, (453, 1844),
                 "permuted_idx_to_token_idx = alloc_tensor({max_num_padded_tokens}, dl_int32, "
                 "hidden_states.device());"),
    ),
    fixed=(
        Citation("0.6.16", LAUNCHER, (455, 1869),
                 "permuted_idx_to_token_idx = alloc_tensor({max_num_padded_tokens + 1}, dl_int32, "
                 "hidden_states.device());"),
        Citation("0.7.4", LAUNCHER, (1583,),
                 "permuted_idx_to_token_idx = _alloc_tensor({max_num_padded_tokens + 1}, dl_int32, "
                 "hidden_states.device());"),
    ),
)

KNOWN_FAULTS: tuple[KnownFault, ...] = (ROUTE_MAP_OVER_READ,)


def faults_for(version: str | None) -> list[KnownFault]:
    """The known faults of a flashinfer release (a local tag is dropped); [] for None."""
    if version is None:
        return []
    return [fault for fault in KNOWN_FAULTS if fault.holds_in(version)]
