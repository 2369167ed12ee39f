#!/usr/bin/python3
"""Writes tests/data/sacrebleu/cases.h: the cases tests/score_test.cpp checks
qkv's BLEU, chrF and 13a tokenizer against.

Two kinds of cases:
  - upstream: sacreBLEU's own test cases, transcribed from its test files
    (test/test_bleu.py, test/test_sentence_bleu.py, test/test_chrf.py at
    github.com/mjpost/sacrebleu commit f615c7286d4d813370efb824d94fc2bfcd3a6b94,
    sacreBLEU 2.6.0) with the expected values and tolerances written there.
    Cases of tokenizers qkv does not offer (intl, char) are left out.
  - sacrebleu-2.6.0: extra cases (13a edge cases, --lowercase on German,
    several and variable numbers of references, chrF2 defaults) whose expected
    values this script computes by running sacreBLEU itself.
The script also checks that sacreBLEU reproduces every upstream value.

Run with a sacreBLEU source tree (no install needed; its optional imports are
stubbed):
  git clone https://github.com/mjpost/sacrebleu /tmp/sacrebleu
  (cd /tmp/sacrebleu && git checkout f615c7286d4d813370efb824d94fc2bfcd3a6b94)
  echo '__version__ = "2.6.0"' > /tmp/sacrebleu/sacrebleu/version.py
  scripts/ref/make_sacrebleu_cases.py /tmp/sacrebleu [tests/data/sacrebleu/cases.h]
"""
import os
import sys
import tempfile
import types

SRC = sys.argv[1]
OUT = sys.argv[2] if len(sys.argv) > 2 else "tests/data/sacrebleu/cases.h"

# sacreBLEU imports modules only its dataset and report code uses: stub them.
stubs = tempfile.mkdtemp()
for mod, body in {"portalocker": "", "tabulate": "def tabulate(*a, **k): pass\n",
                  "colorama": "class Fore: pass\nclass Style: pass\ndef init(*a, **k): pass\n"}.items():
    with open(os.path.join(stubs, mod + ".py"), "w") as f:
        f.write(body)
os.makedirs(os.path.join(stubs, "lxml"))
open(os.path.join(stubs, "lxml", "__init__.py"), "w").close()
open(os.path.join(stubs, "lxml", "etree.py"), "w").close()
sys.path[:0] = [stubs, SRC]
import sacrebleu  # noqa: E402
from sacrebleu.metrics import BLEU, CHRF  # noqa: E402
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a  # noqa: E402

assert sacrebleu.__version__ == "2.6.0", sacrebleu.__version__
UP_BLEU = "upstream test/test_bleu.py"
UP_SENT = "upstream test/test_sentence_bleu.py"
UP_CHRF = "upstream test/test_chrf.py"
GEN = "sacrebleu-2.6.0"


def per_line(refs_streams):
    """sacreBLEU's refs[stream][line] (None = no reference) -> refs[line] = [references]."""
    return [[r for r in line if r is not None] for line in zip(*refs_streams)]


# BLEU cases: (origin, hyps, refs streams, options, expected, tolerance).
# options: tokenize, smooth, smooth_value (None = the method's default),
# effective_order, lowercase, max_order.
def bopt(tokenize="13a", smooth="exp", value=None, eff=False, lc=False, order=4):
    return dict(tokenize=tokenize, smooth=smooth, value=value, eff=eff, lc=lc, order=order)


RAW = dict(tokenize="none", smooth="floor", eff=True)  # compat.raw_corpus_bleu
readme_refs = [
    ['The dog bit the man.', 'It was not unexpected.', 'The man bit him first.'],
    ['The dog had bit the man.', 'No one was surprised.', 'The man had bitten the dog.'],
]
readme_hyps = ['The dog bit the man.', "It wasn't surprising.", 'The man had just bitten him.']
ro_ref = "producţia de zahăr brut se exprimă în zahăr alb;"
ro_sys = "Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;"

bleu_cases = [
    (UP_BLEU, ["this is a test", "another test"], [["ref1", "ref2"]], bopt(**RAW, value=.01), 0.0, 1e-8),
    (UP_BLEU, ["this is a test"], [["this is a test"]], bopt(**RAW, value=.01), 100.0, 1e-6),
    (UP_BLEU, ["this is a fest"], [["this is a test"]], bopt(**RAW, value=.01), 22.3606797749979, 1e-6),
    (UP_BLEU, readme_hyps, readme_refs, bopt(), 48.530827, 1e-6),
    (UP_BLEU, ["", "", ""], readme_refs, bopt(), 0.0, 1e-8),
    (UP_BLEU, readme_hyps, readme_refs, bopt(tokenize="none"), 49.1919566, 1e-6),
    (UP_BLEU, readme_hyps, readme_refs, bopt(smooth="none"), 48.530827, 1e-6),
    (UP_BLEU, ["am I am a character sequence"], [["I am a symbol string sequence a a"]],
     bopt(**RAW, value=0.0), 0.0, 1e-6),
    (UP_BLEU, ["am I am a character sequence"], [["I am a symbol string sequence a a"]],
     bopt(**RAW), 15.55722182, 1e-6),
    (UP_BLEU, ["test"], [["a test"]], bopt(**RAW, value=.01), 36.78794411714425, 1e-6),
    (UP_BLEU, ["a test"], [["a test"]], bopt(**RAW, value=.01), 100.0, 1e-6),
    (UP_BLEU, ["a little test"], [["a test"]], bopt(**RAW, value=.01), 3.218297948685433, 1e-6),
] + [
    # test_max_ngram_order compares the score printed with 2 decimals
    (UP_BLEU, readme_hyps, readme_refs, bopt(order=o), float(v), 0.005)
    for o, v in [(1, "77.65"), (2, "60.50"), (3, "53.93"), (4, "48.53"), (5, "46.14"), (6, "43.28")]
] + [
    (UP_SENT, [ro_sys], [[ro_ref]], bopt(tokenize=t, smooth=s, value=v, eff=True, lc=lc), e, 1e-3)
    for s, v, lc, t, e in [
        ('exp', None, False, '13a', 8.493), ('none', None, False, '13a', 0.0),
        ('floor', None, False, '13a', 4.51688), ('floor', 0.1, False, '13a', 4.51688),
        ('floor', 0.5, False, '13a', 10.10), ('add-k', None, False, '13a', 14.882),
        ('add-k', 1, False, '13a', 14.882), ('add-k', 2, False, '13a', 21.389),
        ('exp', None, False, 'none', 7.347)]
] + [
    (UP_SENT, ["this is a cat"], [["okay thanks"]], bopt(smooth=s, value=v, eff=True), 0.0, 1e-3)
    for s, v in [('exp', None), ('none', None), ('floor', None), ('floor', 0.1), ('add-k', None), ('add-k', 1)]
]

# Extra BLEU cases computed by sacreBLEU.
umlaut_hyps = ["ÜBER DIE BRÜCKE GEHEN WIR HEUTE ABEND.", "Die Straße ist nass, sagt Jürgen.",
               "Äpfel und Öl kosten 3,50 Euro..."]
umlaut_refs = [["Über die Brücke gehen wir heute Abend.", "Die Strasse ist nass, sagte Jürgen.",
                "Äpfel & Öl kosten 3,50 Euro ..."]]
edge_hyps = ["Wait... what?", "It costs 1.5. Really, 3-4 times &amp; more.",
             "Tom &quot;the cat&quot; said &lt;hi&gt; (twice) -- ok?", "A 1,000-page book, vol. 2."]
edge_refs = [["Wait ... what ?", "It costs 1.5 . Really , 3 - 4 times & more .",
              'Tom "the cat" said <hi> (twice) -- ok?', "A 1,000-page book , vol . 2 ."],
             ["Wait, what?", "It costs 1.5! Really 3-4 times and more.",
              'Tom said "hi" twice, ok?', "A thousand-page book, volume 2."]]
var_refs = [readme_refs[0], [None, "No one was surprised.", None]]
for lc in (False, True):
    bleu_cases.append((GEN, umlaut_hyps, umlaut_refs, bopt(lc=lc), None, 1e-9))
    bleu_cases.append((GEN, edge_hyps, edge_refs, bopt(lc=lc), None, 1e-9))
bleu_cases += [
    (GEN, edge_hyps, edge_refs, bopt(tokenize="none"), None, 1e-9),
    (GEN, edge_hyps, edge_refs[:1], bopt(), None, 1e-9),
    (GEN, readme_hyps, var_refs, bopt(), None, 1e-9),
    (GEN, ["", "a b c d"], [["x", ""]], bopt(), None, 1e-9),
    # equally close references: the shorter length counts
    (GEN, ["a b c d e", "a b"], [["a b c d", "a b c"], ["a b c d e f", "a"]], bopt(), None, 1e-9),
]

# chrF cases: (origin, hyps, refs streams, options, expected, tolerance); options:
# beta, whitespace, eps_smoothing, lowercase.
def copt(beta=2, ws=False, eps=False, lc=False):
    return dict(beta=beta, ws=ws, eps=eps, lc=lc)


chrf_cases = [
    (UP_CHRF, h, [r], copt(beta=3, eps=True), e, 1e-4) for h, r, e in [
        (["abcdefg"], ["hijklmnop"], 0.0), (["a"], ["b"], 0.0), ([""], ["b"], 0.0), ([""], ["ref"], 0.0),
        ([""], ["reference"], 0.0), (["aa"], ["ab"], 8.3333), (["a", "b"], ["a", "c"], 8.3333),
        (["a"], ["a"], 16.6667), (["a b c"], ["a b c"], 50.0), (["a b c"], ["abc"], 50.0),
        ([" risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ."],
         ["risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ."], 63.361730),
        ([" Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. "],
         ["Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."], 64.1302698),
        (["Niemand hat die Absicht, eine Mauer zu errichten"], ["Niemand hat die Absicht, eine Mauer zu errichten"], 100.0)]
] + [
    (UP_CHRF, h, [r], copt(beta=3), e, 1e-4) for h, r, e in [
        (["a"], ["a"], 100.0), ([""], ["reference"], 0.0), (["a b c"], ["a b c"], 100.0), (["a b c"], ["abc"], 100.0),
        ([""], ["c"], 0.0), (["a", "b"], ["a", "c"], 50.0), (["aa"], ["ab"], 25.0)]
] + [
    (UP_CHRF, h, [r], copt(beta=3, ws=True), e, 1e-4) for h, r, e in [
        (["Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich."],
         ["Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."], 67.3481606),
        (["risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ."],
         ["risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ."], 65.2414427)]
] + [
    (UP_CHRF, [h], [[r]], copt(eps=True), e, 1e-4) for h, r, e in [
        ('Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.',
         'Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře.', 39.14078509),
        ('Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři.',
         'A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři.', 31.22557079),
        ('Lapali po dechu, jejich životy skončily dřív, než skutečně začaly.',
         'Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli.', 57.15704367)]
]
for lc in (False, True):
    chrf_cases.append((GEN, umlaut_hyps, umlaut_refs, copt(lc=lc), None, 1e-9))
chrf_cases += [
    (GEN, readme_hyps, readme_refs, copt(), None, 1e-9),
    (GEN, readme_hyps, var_refs, copt(), None, 1e-9),
    (GEN, edge_hyps, edge_refs, copt(), None, 1e-9),
    # references shorter than the n-gram orders, and an empty one
    (GEN, ["abcdefgh", "ab c", "xyz"], [["abc", "abcdefgh", ""]], copt(), None, 1e-9),
    (GEN, ["abcdefgh", "ab c", "xyz"], [["abc", "abcdefgh", ""]], copt(eps=True), None, 1e-9),
    (GEN, ["abcdefgh", "ab c"], [["abc", "a b c"]], copt(ws=True), None, 1e-9),
    (GEN, ["ΟΔΟΣ ΣΟΦΟΣ", "Straße\u00a0İstanbul"], [["οδος σοφος", "strasse i̇stanbul"]], copt(lc=True), None, 1e-9),
]

# 13a tokenizer (after optional lowercasing, as BLEU applies it): (line, lowercase).
tok_lines = [
    ("...", False), ("Wait...what?", False), ("1.5.", False), ("It costs 1.5.", False), ("3-4", False),
    ("a-b 3-4 3- -4 x-3", False), ("&amp;", False), ("&amp;lt;", False), ("&quot;hi&quot; &lt;b&gt; &apos;",
                                                                                   False),
    ("AT&T's 1,000.00 $5,000 1.5,2 .5 5.", False), ("(a) [b] {c} <d> a/b a:b a;b a@b a#b a%b a^b a_b a`b a~b a|b",
                                                  False),
    ("  spaces\tand\ttabs  ", False), ("<skipped> hello <skipped>", False), ("e.g. U.S.A. etc.", False),
    ("Ärger über Öl, Übermut.", True), ("STRASSE ẞ Straße", True), ("ΟΔΟΣ Σ", True), ("İstanbul", True),
    ("don't 'quote' \"dq\"", False), ("100,000-200,000 km.", False), ("x\u00a0y\u2003z\u3000w", False),
]


def bleu_metric(o):
    return BLEU(tokenize=o["tokenize"], smooth_method=o["smooth"], smooth_value=o["value"],
                effective_order=o["eff"], lowercase=o["lc"], max_ngram_order=o["order"])


def chrf_metric(o):
    return CHRF(beta=o["beta"], whitespace=o["ws"], eps_smoothing=o["eps"], lowercase=o["lc"])


def c_str(s):
    out = '"'
    for ch in s:
        if ch in '"\\':
            out += "\\" + ch
        elif ord(ch) < 0x20:
            out += "\\%03o" % ord(ch)
        else:
            out += ch
    return out + '"'


def c_lines(lines):
    return "{" + ", ".join(c_str(x) for x in lines) + "}"


def c_refs(refs_streams):
    return "{" + ", ".join(c_lines(r) for r in per_line(refs_streams)) + "}"


def c_bool(b):
    return "true" if b else "false"


out = []
out.append("// Generated by scripts/ref/make_sacrebleu_cases.py; do not edit.")
out.append("// sacreBLEU: github.com/mjpost/sacrebleu, commit f615c7286d4d813370efb824d94fc2bfcd3a6b94 (2.6.0).")
out.append('// origin "upstream test/...": a case of that sacreBLEU test file, its expected value and tolerance;')
out.append('// origin "sacrebleu-2.6.0": an extra case, expected value computed by running sacreBLEU 2.6.0.')
out.append("// refs: the references of each hypothesis line (a variable number per line).")
out.append("#pragma once")
out.append("#include <string>")
out.append("#include <vector>")
out.append("")
out.append("namespace sacrebleu_cases {")
out.append("")
out.append("struct Bleu {")
out.append("  const char* origin;")
out.append("  std::vector<std::string> hyps;")
out.append("  std::vector<std::vector<std::string>> refs;")
out.append("  const char* tokenize;  // 13a, none")
out.append("  const char* smooth;    // exp, none, floor, add-k")
out.append("  double smooth_value;   // -1: the method's default")
out.append("  bool effective_order, lowercase;")
out.append("  int max_order;")
out.append("  double expected, tolerance;")
out.append("  const char* signature;  // sacreBLEU's, for the generated cases (\"\" otherwise)")
out.append("  std::vector<long> counts, totals;  // generated cases: matched and total n-grams")
out.append("  long sys_len, ref_len;")
out.append("};")
out.append("")
out.append("struct Chrf {")
out.append("  const char* origin;")
out.append("  std::vector<std::string> hyps;")
out.append("  std::vector<std::vector<std::string>> refs;")
out.append("  int beta;")
out.append("  bool whitespace, eps_smoothing, lowercase;")
out.append("  double expected, tolerance;")
out.append("  const char* signature;")
out.append("};")
out.append("")
out.append("struct Tok13a {")
out.append("  std::string line;")
out.append("  bool lowercase;")
out.append("  std::string expected;")
out.append("};")
out.append("")
out.append("inline const std::vector<Bleu> kBleu = {")
n_checked = 0
for origin, hyps, refs, o, expected, tol in bleu_cases:
    m = bleu_metric(o)
    s = m.corpus_score(hyps, refs)
    if expected is None:
        expected = s.score
        sig, counts, totals, sl, rl = str(m.get_signature()), s.counts, s.totals, s.sys_len, s.ref_len
    else:
        assert abs(s.score - expected) < tol, (origin, hyps, o, s.score, expected)
        n_checked += 1
        sig, counts, totals, sl, rl = "", [], [], -1, -1
    out.append("    {%s, %s, %s, %s, %s, %r, %s, %s, %d, %r, %r, %s, {%s}, {%s}, %d, %d}," % (
        c_str(origin), c_lines(hyps), c_refs(refs), c_str(o["tokenize"]), c_str(o["smooth"]),
        -1.0 if o["value"] is None else float(o["value"]), c_bool(o["eff"]), c_bool(o["lc"]), o["order"],
        float(expected), tol, c_str(sig), ", ".join(map(str, counts)), ", ".join(map(str, totals)), sl, rl))
out.append("};")
out.append("")
out.append("inline const std::vector<Chrf> kChrf = {")
for origin, hyps, refs, o, expected, tol in chrf_cases:
    m = chrf_metric(o)
    s = m.corpus_score(hyps, refs)
    if expected is None:
        expected, sig = s.score, str(m.get_signature())
    else:
        assert abs(s.score - expected) < tol, (origin, hyps, o, s.score, expected)
        n_checked += 1
        sig = ""
    out.append("    {%s, %s, %s, %d, %s, %s, %s, %r, %r, %s}," % (
        c_str(origin), c_lines(hyps), c_refs(refs), o["beta"], c_bool(o["ws"]), c_bool(o["eps"]), c_bool(o["lc"]),
        float(expected), tol, c_str(sig)))
out.append("};")
out.append("")
out.append("inline const std::vector<Tok13a> kTok13a = {")
tok = Tokenizer13a()
for line, lc in tok_lines:
    out.append("    {%s, %s, %s}," % (c_str(line), c_bool(lc), c_str(tok((line.lower() if lc else line).rstrip()))))
out.append("};")
out.append("")
out.append("// Python's str.isspace() over the code points below 0x3001 (what str.split() and rstrip() remove).")
out.append("inline const std::vector<char32_t> kPythonSpaces = {%s};" % ", ".join(
    "0x%X" % c for c in range(0x3001) if chr(c).isspace()))
out.append("")
out.append("}  // namespace sacrebleu_cases")
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w", encoding="utf-8") as f:
    f.write("\n".join(out) + "\n")
print("wrote %s: %d BLEU, %d chrF, %d 13a cases (%d upstream values reproduced by sacreBLEU)" % (
    OUT, len(bleu_cases), len(chrf_cases), len(tok_lines), n_checked))
