"""Each launcher's tile set, compiled from the release's own C++ and called by ctypes.

The tile set a precision runs is decided by a few lines of the launcher file: from 0.5.3
a launcher class's `static constexpr std::array<int32_t, N> mSupportedTileNums` (or
`mBaseSupportedTileNums`) and, where the set depends on dtypes, its static
`getSupportedTileNums(...)` (FP4: the activation and weight dtypes, 0.6.18.x also
per-token scaling; FP8 block scale: the Fp8QuantizationType); before (0.5.0 - 0.5.2) a
vector built inline in the entry function (`std::vector<int32_t> mSupportedTileN =
{...}; if (mDtypeAct != ...) mSupportedTileN.push_back(128); ...`).

This module extracts those pieces BY NAME from the folder's text (never from a copy kept
here): the class's array members and its getSupportedTileNums with the preprocessor lines
inside it (g++ decides `#ifndef TLLM_RUBIN_FEATURES`, as a public build does), the
`Fp8QuantizationType` enum, and the inline statements from the vector's declaration to
the statement that passes it to computeSelectedTileN. They are compiled behind a shim
that declares `btg::Dtype` with the enumerators these files compare against (only
identity matters to the code), and each is called for every dtype combination the model
describes. Which class or entry serves which precision, and which dtype pairs the FP4
entry deduces, are still read as text (boundcheck.drift.tile_sets): that is structure,
not arithmetic.

Releases up to 0.4.1 have no C++ tile set: the caller passes the tile (their tile sets
come from the kernel list and Python, checked as text).
"""

from __future__ import annotations

import ctypes
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

from ..releases import BFLOAT16, E2M1, E4M3, FP4_PRECISIONS, MX_E2M1, MX_E4M3, fp4_launcher_tiles
from .compiled import LAUNCHER, ExtractionError, compile_library, find_definitions, load_library, strip_comments
from .cxx import _Cpp
from .launcher import _entry_definitions
from .tile_sets import _FP4_ENTRY, _PLAIN_LAUNCHERS

FP4_CLASS = "FP4BlockScaleLauncher"
FP8_BLOCK_CLASS = "Fp8BlockScaleLauncher"
# btg::Dtype as the shim declares it: every enumerator the launcher files compare against
# (DtypeDecl.h encodes bit widths in the values; the tile-set code only tests identity).
DTYPES = (BFLOAT16, E2M1, MX_E2M1, E4M3, MX_E4M3, "Fp16", "Fp32", "MxInt4", "E5m2", "UE8m0", "Int8", "UInt8")
# The dtypes the model's FP4 rule is stated over: every pair of them is compared.
FP4_DTYPES = (BFLOAT16, E2M1, MX_E2M1, E4M3, MX_E4M3)
_PARAMETER_ROLES = {"dtype_act": "act", "dtype_weights": "weights", "use_per_token_scaling": "per_token",
                    "quantization_type": "quant"}
MAX_TILES = 32


@dataclass(frozen=True)
class TileSetCode:
    """One precision's tile-set code: `name` says where it lives (for messages), `target`
    the C++ function or array member that yields the tiles, `roles` the inputs the
    function takes, in order ("act", "weights", "per_token", "quant"; None: an array)."""

    name: str
    target: str
    roles: tuple | None


@dataclass(frozen=True)
class ExtractedTileSets:
    declarations: str  # enum and structs and inline functions, in namespace bc_tiles
    codes: tuple  # TileSetCode, in order; the wrapper's index
    quant_names: tuple  # Fp8QuantizationType's enumerators, by the index the wrapper takes

    def index(self, name: str) -> int:
        return [c.name for c in self.codes].index(name)


def _class_members(cpp: _Cpp, cls: str) -> tuple[str, list[str]] | None:
    """(array member declarations, getSupportedTileNums definitions) of class `cls`."""
    span = cpp.class_span(cls)
    if span is None:
        return None
    body = cpp.text[span[0]:span[1]]
    arrays = [m.group(0) for m in re.finditer(
        r"static\s+constexpr\s+std::array\s*<[^>]*>\s+\w+\s*=\s*\{[^}]*\}\s*;", body)]
    functions = [re.sub(r"^\s*(?:public|private|protected)\s*:\s*", "", d, flags=re.M)
                 for d in find_definitions(body, "getSupportedTileNums")]
    return "\n  ".join(arrays), functions


def _roles(definition: str) -> tuple:
    """The inputs a getSupportedTileNums takes, by its parameter names."""
    from .compiled import parameters

    roles = []
    for declaration in parameters(definition, "getSupportedTileNums"):
        name = re.findall(r"\w+", declaration)[-1]
        if name not in _PARAMETER_ROLES:
            raise ExtractionError(f"getSupportedTileNums takes a parameter boundcheck does not know: {declaration!r}")
        roles.append(_PARAMETER_ROLES[name])
    return tuple(roles)


def _class_code(cpp: _Cpp, cls: str) -> tuple[str, TileSetCode] | None:
    members = _class_members(cpp, cls)
    if members is None:
        return None
    arrays, functions = members
    if len(functions) > 1:
        raise ExtractionError(f"{cls} defines getSupportedTileNums {len(functions)} times")
    struct = f"struct {cls} {{\n  {arrays}\n" + "".join(f"  {f}\n" for f in functions) + "};"
    if functions:
        name = f"{cls}::getSupportedTileNums"
        return struct, TileSetCode(name, name, _roles(functions[0]))
    if "mSupportedTileNums" not in arrays:
        raise ExtractionError(f"{cls} has neither getSupportedTileNums nor mSupportedTileNums")
    return struct, TileSetCode(f"{cls}::mSupportedTileNums", f"{cls}::mSupportedTileNums", None)


def _inline_span(body: str, entry: str) -> tuple[str, str]:
    """(statements, vector name): from `std::vector<int32_t> NAME = {...};` to the
    statement that passes NAME to computeSelectedTileN, in the entry's body."""
    for declaration in re.finditer(r"std::vector\s*<\s*int32_t\s*>\s+(\w+)\s*=\s*\{[^}]*\}\s*;", body):
        name = declaration.group(1)
        use = re.search(rf"computeSelectedTileN\s*\(\s*{name}\b", body[declaration.end():])
        if use is None:
            continue
        use_at = declaration.end() + use.start()
        statement_start = max(body.rfind(c, 0, use_at) for c in ";}") + 1
        return body[declaration.start():statement_start], name
    raise ExtractionError(f"{entry}: no std::vector<int32_t> of tiles passed to computeSelectedTileN")


def _inline_code(cpp: _Cpp, entry: str) -> tuple[str, TileSetCode] | None:
    entries = _entry_definitions(cpp)
    if entry not in entries:
        return None
    body = entries[entry].body  # found in cpp.code (literals blanked); read the same span in cpp.text
    start = cpp.code.find(body)
    if start < 0:
        raise ExtractionError(f"{entry}: its body could not be located")
    statements, name = _inline_span(cpp.text[start:start + len(body)], entry)
    function = (f"std::vector<int32_t> inline_{entry}(btg::Dtype mDtypeAct, btg::Dtype mDtypeWeights) {{\n"
                f"  (void)mDtypeAct; (void)mDtypeWeights;\n  {statements.strip()}\n  return {name};\n}}")
    return function, TileSetCode(f"{entry} (inline {name})", f"inline_{entry}", ("act", "weights"))


def _quant_enum(text: str) -> tuple[str, tuple]:
    m = re.search(r"enum\s+class\s+Fp8QuantizationType\b[^{;]*\{([^}]*)\}\s*;", text)
    if m is None:
        return "", ()
    names = tuple(re.findall(r"\b([A-Za-z_]\w*)\b\s*(?:=[^,]*)?(?:,|$)", m.group(1).strip()))
    return m.group(0), names


def extract_tile_sets(launcher_text: str) -> ExtractedTileSets:
    """Every precision's tile-set code in a launcher file (see the module docstring)."""
    cpp = _Cpp(launcher_text)
    text = strip_comments(launcher_text)
    enum, quant_names = _quant_enum(text)
    pieces, codes = [], []
    classes = [(cls, entry) for cls, entry in _PLAIN_LAUNCHERS.values()] + [(FP4_CLASS, _FP4_ENTRY)]
    for cls, inline_entry in classes:
        found = _class_code(cpp, cls)
        if found is None and inline_entry is not None:
            found = _inline_code(cpp, inline_entry)
        if found is not None:
            pieces.append(found[0])
            codes.append(found[1])
    if any("quant" in (c.roles or ()) for c in codes) and not quant_names:
        raise ExtractionError("getSupportedTileNums takes an Fp8QuantizationType the file does not declare")
    return ExtractedTileSets("\n".join([enum] + pieces), tuple(codes), quant_names)


_SHIM = """#include <array>
#include <cstdint>
#include <exception>
#include <vector>
namespace bc_tiles {
namespace btg { enum class Dtype { %s }; }
%s
%s
}  // namespace bc_tiles
"""

_WRAPPER = """
extern "C" int64_t bc_tile_set(int64_t which, int64_t act, int64_t weights, int64_t per_token,
                               int64_t quant, int32_t* out, int64_t capacity) {
  using namespace bc_tiles;
  static const btg::Dtype dtypes[] = { %s };
  try {
    btg::Dtype act_dtype = dtypes[act], weights_dtype = dtypes[weights];
    (void)act_dtype; (void)weights_dtype; (void)per_token; (void)quant;
    switch (which) {
%s
      default: return -2;
    }
  } catch (std::exception const&) {
    return -1;
  }
}
"""


_ROLE_ARGUMENTS = {"act": "act_dtype", "weights": "weights_dtype", "per_token": "per_token != 0",
                   "quant": "bc_quant(quant)"}


def generated_source(ex: ExtractedTileSets) -> str:
    quant_switch = ""
    if ex.quant_names:
        cases = " ".join(f"case {i}: return Fp8QuantizationType::{n};" for i, n in enumerate(ex.quant_names))
        quant_switch = (f"inline Fp8QuantizationType bc_quant(int64_t i) {{ switch (i) {{ {cases} }} "
                        f"return Fp8QuantizationType::{ex.quant_names[0]}; }}")
    cases = []
    for i, code in enumerate(ex.codes):
        call = code.target
        if code.roles is not None:
            call += "(" + ", ".join(_ROLE_ARGUMENTS[r] for r in code.roles) + ")"
        cases.append(f"      case {i}: {{ auto const tiles = {call};\n"
                     f"        int64_t n = 0;\n"
                     f"        for (auto t : tiles) {{ if (n >= capacity) return -3; out[n++] = static_cast<int32_t>(t); }}\n"
                     f"        return n; }}")
    dtypes = ", ".join(f"btg::Dtype::{d}" for d in DTYPES)
    return (_SHIM % (", ".join(DTYPES), ex.declarations, quant_switch)
            + _WRAPPER % (dtypes, "\n".join(cases)))


def _build(ex: ExtractedTileSets, label: str) -> Path:
    return compile_library("bc_tiles", generated_source(ex), f"the tile sets of {label}", opt="-O1")


class CompiledTileSets:
    """A release's tile-set code, compiled: `tiles(name, act=..., weights=..., ...)`."""

    def __init__(self, ex: ExtractedTileSets, label: str = ""):
        self.extracted = ex
        self.label = label
        self._lib = load_library(_build(ex, label))
        self._lib.bc_tile_set.restype = ctypes.c_int64
        self._lib.bc_tile_set.argtypes = [ctypes.c_int64] * 5 + [ctypes.POINTER(ctypes.c_int32), ctypes.c_int64]

    @property
    def names(self) -> tuple:
        return tuple(c.name for c in self.extracted.codes)

    def code(self, name: str) -> TileSetCode:
        return self.extracted.codes[self.extracted.index(name)]

    def tiles(self, name: str, act=BFLOAT16, weights=BFLOAT16, per_token=False, quant=None) -> tuple:
        which = self.extracted.index(name)
        quant_index = self.extracted.quant_names.index(quant) if quant is not None else 0
        out = (ctypes.c_int32 * MAX_TILES)()
        count = self._lib.bc_tile_set(which, DTYPES.index(act), DTYPES.index(weights), int(per_token),
                                      quant_index, out, MAX_TILES)
        if count < 0:
            raise RuntimeError(f"{name} failed in the compiled code (code {count})")
        return tuple(out[:count])


def compiled_tile_sets(folder: Path, label: str = "") -> CompiledTileSets:
    return CompiledTileSets(extract_tile_sets((folder / LAUNCHER).read_text()), label or str(folder))


@dataclass(frozen=True)
class TileSetDifference:
    function: str
    inputs: str
    flashinfer: tuple
    model: tuple


def _plain_code(ref: CompiledTileSets, cls: str, entry: str | None) -> str | None:
    for name in ref.names:
        if name.startswith(f"{cls}::") or (entry is not None and name.startswith(f"{entry} (inline")):
            return name
    return None


def compare_tile_sets(ref: CompiledTileSets, era) -> dict[str, tuple[int, list[TileSetDifference]]]:
    """function -> (inputs compared, differences) of the compiled tile sets against the
    era's: every plain launcher's set, the FP8 block-scale set per quantization type the
    model runs (DeepSeekFp8 -> fp8_block, MxFp8 -> mxfp8), and the FP4 set for every
    (act, weights, per-token) over FP4_DTYPES against the model's FP4 rule."""
    results: dict[str, tuple[int, list]] = {}

    def check(name, inputs, model, **call):
        compared, differences = results.setdefault(name, (0, []))
        got = ref.tiles(name, **call)
        if tuple(got) != tuple(model):
            differences.append(TileSetDifference(name, inputs, tuple(got), tuple(model)))
        results[name] = (compared + 1, differences)

    for precision, (cls, entry) in _PLAIN_LAUNCHERS.items():
        name = _plain_code(ref, cls, entry)
        if name is None or precision not in era.tiles:
            continue
        if "quant" in (ref.code(name).roles or ()):
            check(name, "quantization_type=DeepSeekFp8", era.tiles[precision], quant="DeepSeekFp8")
            if "mxfp8" in era.tiles and "MxFp8" in ref.extracted.quant_names:
                check(name, "quantization_type=MxFp8", era.tiles["mxfp8"], quant="MxFp8")
        else:
            check(name, "(no inputs)", era.tiles[precision])
    fp4 = _plain_code(ref, FP4_CLASS, _FP4_ENTRY)
    if fp4 is not None and any(p in era.tiles for p in FP4_PRECISIONS):
        for act, weights, per_token in itertools.product(FP4_DTYPES, FP4_DTYPES, (False, True)):
            check(fp4, f"dtype_act={act} dtype_weights={weights} per_token_scaling={per_token}",
                  fp4_launcher_tiles(era.fp4, act, weights, per_token),
                  act=act, weights=weights, per_token=per_token)
    return results


def describe_inputs(name: str, compared: int) -> str:
    if name.startswith(FP4_CLASS) or name.startswith(_FP4_ENTRY):
        return f"every (dtype_act, dtype_weights, per-token scaling) over {', '.join(FP4_DTYPES)} ({compared})"
    if compared > 1:
        return f"each quantization type the model runs ({compared})"
    return "its one input"
