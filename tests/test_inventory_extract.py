"""What the inventory's extractor reads, on a small MoE-shaped source parsed by libclang
itself: increments and decrements, `?:` and subscripts in templates, calls of function
templates with an explicit type, static members and fields read by name, a class with one
integer conversion; an expression the declarations cannot type is a hole, never dropped;
a pointer or a 64-bit operand decides that an expression is no 32-bit value; and the
JIT's valued macros are defined, so that the branches they guard are read."""

from __future__ import annotations

import pytest

pytest.importorskip("clang.cindex", reason="libclang (pip install libclang) parses the sources")

from boundcheck.drift.inventory.extract import UNTYPED  # noqa: E402
from boundcheck.drift.inventory.release import inventory  # noqa: E402

JIT_SPEC = """
def gen_trtllm_gen_fused_moe_sm100_module(where):
    return gen_jit_spec("fused_moe_trtllm_sm100", ["trtllm_fused_moe_kernel_launcher.cu"],
                        extra_cuda_cflags=["-DENABLE_FP8", f'-DTLLM_GEN_GEMM_CUBIN_PATH=\\\\"{where}\\\\"'])
"""

LAUNCHER = r"""
#include <cstdint>
struct Params { int mNumTokens; int const* mPtrCounts; float* mPtrOut; };
class FastDiv { public: operator int() const { return mDivisor; } int mDivisor; };
struct RoutingParams { FastDiv mDivided; static constexpr int MaxNumExperts = 128; };
template <typename T> struct Tiled { T mTile; int mTileM; int mTileN; };
template <typename T> T mulLog2(T a, T bLog2) { return a << bLog2; }

int stepped(int numTokens) {
  int total = 0;
  for (int i = 0; i < numTokens; i++) { total = total + 1; }
  for (int j = numTokens; j > 0; --j) { }
  int64_t wide = numTokens;
  for (int64_t w = 0; w < wide; ++w) { }
  return total;
}

template <typename KP>
int ternaries(KP const& kp, int numTokens, bool batchM) {
  int typed = numTokens * (batchM ? kp.mTileM : kp.mTileN);
  return typed + numTokens * (batchM ? kp.mTile : kp.mTileN);
}

template <typename T>
int untypable(T scale, int numTokens) { return scale * numTokens; }

template <typename P>
float* pointer(P const& p, int numTokens) { return p.mPtrOut + numTokens; }

template <typename P>
int64_t wide(P const& p, int numTokens, int64_t stride) { return p.mUnknown * stride + numTokens * stride; }

template <typename P>
int subscript(P const& p, int numTokens) { return p.mPtrCounts[numTokens] * 7; }

template <typename P>
int explicitCall(P const& p, int numTokens) { return mulLog2<int32_t>(numTokens, p.mNumTokens) + 1; }

template <typename KP>
int byName(KP const& kp, int numTokens) { return numTokens * KP::MaxNumExperts + numTokens * kp.mDivided; }

// the review's cases (each once dropped or mistyped)
struct Wide { int64_t mStride; bool mFlag; int const& mRefCount; };
struct Ar { int v[4]; int& operator[](int i) { return v[i]; } };
class Flagged { public: explicit operator bool() const { return d != 0; } operator int() const { return d; } int d; };
template <typename T> struct Wrap { operator T() const { return v; } T v; };
struct Holder { Flagged mFlagged; Wrap<int> mWrapped; Ar mAr; };
enum Unsigned : unsigned { kOne = 1 };
struct Config { static constexpr bool kOn = true; static constexpr Unsigned kU = kOne; };
struct Iterator { int v; };
Iterator operator++(Iterator& x, int);
namespace wide { inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; } }
namespace narrow { inline int ceil_div(int a, int b) { return (a + b - 1) / b; } }
#define STEP_UP(x) x++

template <typename T> int aliased(T v, int numTokens) { using Idx = T; Idx n = v; return n * numTokens; }
template <typename T> void dependentStep(T t, int numTokens) { t.mNumTokens++; }
template <typename P> void compound(P const& p, int numTokens) { int off = numTokens; off += p.mStride; }
template <typename P> int narrowed(P const& p, int64_t stride, int numTokens) { int x = numTokens * p.mStride; return x; }
template <typename P> int flags(P const& p, bool b, int numTokens) { return b * numTokens + p.mFlag + P::kOn * numTokens; }
template <typename P> int converted(P const& p, Flagged f, int numTokens) { return numTokens * f + p.mFlagged * numTokens; }
template <typename P> int wrapped(P const& p, int numTokens) { return p.mWrapped * numTokens; }
template <typename P> int referenced(P const& p, int numTokens) { return p.mRefCount * numTokens; }
template <typename P> int indexed(P const& p, int numTokens) { return p.mAr[numTokens] * 3; }
template <typename P> int qualified(P const& p, int numTokens) { return narrow::ceil_div(p.mRefCount + numTokens, 128) * 64; }
template <typename T> void templateTyped(int64_t num_tokens) { T i = num_tokens; i++; }
void macroStep(int numTokens) { int i = numTokens; STEP_UP(i); }
template <typename P> unsigned enumerated(P const& p, int numTokens) { return numTokens * P::kU; }

#ifdef TLLM_GEN_GEMM_CUBIN_PATH
int cubinBranch(int numTokens) { return numTokens * 3; }
#endif

void launcher(int64_t num_tokens, Params p, Tiled<int> t, RoutingParams r) {
  int numTokens = static_cast<int>(num_tokens);
  stepped(numTokens);
  ternaries(t, numTokens, true);
  untypable(2, numTokens);
  pointer(p, numTokens);
  wide(p, numTokens, 8);
  subscript(p, numTokens);
  explicitCall(p, numTokens);
  byName(r, numTokens);
  cubinBranch(numTokens);
  Wide w{8, true, numTokens};
  Holder h{};
  Config c;
  aliased(2, numTokens); dependentStep(p, numTokens); compound(w, numTokens); narrowed(w, 8, numTokens);
  flags(c, true, numTokens); flags(w, true, numTokens); converted(h, h.mFlagged, numTokens); wrapped(h, numTokens);
  referenced(w, numTokens); indexed(h, numTokens); qualified(w, numTokens); templateTyped<int>(num_tokens);
  macroStep(numTokens); enumerated(c, numTokens);
}
"""


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    package = tmp_path_factory.mktemp("release") / "flashinfer"
    (package / "jit").mkdir(parents=True)
    (package / "jit" / "fused_moe.py").write_text(JIT_SPEC)
    (package / "data" / "csrc").mkdir(parents=True)
    (package / "data" / "csrc" / "trtllm_fused_moe_kernel_launcher.cu").write_text(LAUNCHER)
    found = inventory(package / "data", cache=tmp_path_factory.mktemp("cache"))
    by_function = {}
    for f in found.findings:
        by_function.setdefault(f.function, []).append((f.code, f.operator, f.type))
    return found, by_function


def test_increments_and_decrements_of_32_bit_counters_are_listed(parsed):
    _, found = parsed
    assert ("i ++", "++", "int") in found["stepped"]
    assert ("-- j", "--", "int") in found["stepped"]
    assert not [f for f in found["stepped"] if f[0] == "++ w"]  # a 64-bit counter cannot wrap at 2^31


def test_a_conditional_is_typed_by_its_branches(parsed):
    holes = [h for h in parsed[0].holes if h.function == "ternaries"]
    assert ("numTokens * ( batchM ? kp . mTileM : kp . mTileN )", "*", "int (from declarations)") in (
        parsed[1]["ternaries"])
    # a branch of a template parameter's type: the expression (and the sum it is in) is a
    # hole, named, not dropped
    assert {h.message for h in holes} == {f"{UNTYPED}: numTokens * ( batchM ? kp . mTile : kp . mTileN )",
                                          f"{UNTYPED}: typed + numTokens * ( batchM ? kp . mTile : kp . mTileN )"}
    assert all(h.reached and h.statement.startswith("returntyped+numTokens*") for h in holes)


def test_an_untypable_expression_is_a_hole(parsed):
    holes = {h.function: h for h in parsed[0].holes}
    assert holes["untypable"].message == f"{UNTYPED}: scale * numTokens"
    assert "untypable" not in parsed[1]


def test_a_pointer_or_a_64_bit_operand_is_no_32_bit_value(parsed):
    holes = {h.function for h in parsed[0].holes}
    assert "pointer" not in parsed[1] and "pointer" not in holes
    # p.mUnknown names no declaration (a hole of its own), but times an int64_t it is 64-bit
    assert "wide" not in parsed[1]
    assert not [h for h in parsed[0].holes if h.function == "wide" and h.message.startswith(UNTYPED)]


def test_subscripts_explicit_calls_static_members_and_conversions_are_typed(parsed):
    found = parsed[1]
    assert ("p . mPtrCounts [ numTokens ] * 7", "*", "int (from declarations)") in found["subscript"]
    assert ("mulLog2 < int32_t > ( numTokens , p . mNumTokens ) + 1", "+", "int (from declarations)") in (
        found["explicitCall"])
    assert ("numTokens * KP :: MaxNumExperts", "*", "int (from declarations)") in found["byName"]
    assert ("numTokens * kp . mDivided", "*", "int (from declarations)") in found["byName"]


def test_the_branch_a_valued_jit_macro_guards_is_read(parsed):
    assert ("numTokens * 3", "*", "int") in parsed[1]["cubinBranch"]


def _holes(parsed, function):
    return {h.message for h in parsed[0].holes if h.function == function}


def test_what_a_review_found_dropped_is_listed_or_a_hole(parsed):
    found = parsed[1]
    # an alias of a template parameter, a template-typed counter, a class template's
    # conversion: undecided, so holes
    assert _holes(parsed, "aliased") == {f"{UNTYPED}: n * numTokens"}
    assert _holes(parsed, "templateTyped") == {f"{UNTYPED}: i ++"}
    assert _holes(parsed, "wrapped") == {f"{UNTYPED}: p . mWrapped * numTokens"}
    # a dependent postfix ++ where a free operator++(T&, int) is declared
    assert ("t . mNumTokens ++", "++", "int (from declarations)") in found["dependentStep"]
    # a compound assignment stores into its left side: int, whatever the right side's width
    assert ("off += p . mStride", "+=", "int (from declarations)") in found["compound"]
    # a template's 64-bit product stored into an int
    assert ("numTokens * p . mStride", "narrowing", "int (from declarations)") in found["narrowed"]
    # bool operands promote to int
    assert {("b * numTokens", "*", "int"),
            ("P :: kOn * numTokens", "*", "int (from declarations)")} <= set(found["flags"])
    # a class's one integer conversion (an explicit bool one aside), as a parameter or a field
    assert {("numTokens * f", "*", "int"),
            ("p . mFlagged * numTokens", "*", "int (from declarations)")} <= set(found["converted"])
    assert ("p . mRefCount * numTokens", "*", "int (from declarations)") in found["referenced"]
    assert ("p . mAr [ numTokens ] * 3", "*", "int (from declarations)") in found["indexed"]
    # the qualifier picks the declaration: narrow::ceil_div returns an int, wide::ceil_div an int64_t
    assert ("narrow :: ceil_div ( p . mRefCount + numTokens , 128 ) * 64", "*", "int (from declarations)") in (
        found["qualified"])
    assert ("i ++", "++", "int") in found["macroStep"]  # an increment a macro spells
    assert ("numTokens * P :: kU", "*", "unsigned int (from declarations)") in found["enumerated"]
