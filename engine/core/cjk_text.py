"""Chinese text as a reader should see it: the artefacts of PDF extraction taken out.

The documents' texts were extracted from PDFs, which break lines mid-word ("机关事\\n业单位"), print
digits and Latin letters full-width ("２０２２") and sometimes end a Chinese sentence with an ASCII
"." instead of "。". :func:`normalise` repairs exactly these and nothing else; the verbatim text
stays what quotations are checked against (whitespace ignored there).
"""

from __future__ import annotations

import re

#: Characters of Chinese text: ideographs, CJK and full-width punctuation, full-width forms
#: (including full-width digits and letters, which are still full-width when line breaks are
#: removed), and the typographic quotes, ellipsis, dash and middle dot Chinese text uses.
_CJK = (
    "\u2e80-\u2fdf"  # radicals
    "\u3000-\u303f"  # CJK symbols and punctuation: 、。〈〉《》「」【】
    "\u3040-\u30ff"  # kana
    "\u3100-\u312f"  # bopomofo
    "\u3200-\u33ff"  # enclosed and compatibility forms
    "\u3400-\u4dbf"  # ideographs, extension A
    "\u4e00-\u9fff"  # ideographs
    "\uf900-\ufaff"  # compatibility ideographs
    "\ufe30-\ufe4f"  # CJK compatibility forms
    "\uff00-\uffef"  # full-width forms: （），：；！？％ and ０-９ Ａ-Ｚ ａ-ｚ
    "\U00020000-\U0003134f"  # ideographs, extensions B and later
    "\u2018\u2019\u201c\u201d"  # ‘’“”
    "\u2026\u2014\u00b7"  # … — ·
)
_FULL_WIDTH_ALNUM = "\uff10-\uff19\uff21-\uff3a\uff41-\uff5a"  # ０-９ Ａ-Ｚ ａ-ｚ

#: Whitespace of any kind (newlines, the ideographic space U+3000) between two characters of
#: Chinese text: a line break of the extraction, never a word boundary.
_BREAK = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
#: An ASCII "." after a Chinese character, but not after a digit or letter ("１０." numbers a list,
#: "1.5" is a decimal) nor before a Latin letter or another "." (a file name, an ellipsis). A
#: digit may follow: "房租减免.２０２２年对…" ends a sentence.
_PERIOD = re.compile(rf"(?<=[{_CJK}])(?<![{_FULL_WIDTH_ALNUM}])\.(?![A-Za-z\uff21-\uff3a\uff41-\uff5a.])")
_SPACES = re.compile(r"\s+")
#: Full-width digits and Latin letters to their ASCII forms (what NFKC does to these ranges only;
#: full-width punctuation such as （），：； stays as printed).
_HALF_WIDTH = {code: code - 0xFEE0 for code in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B))}


def normalise(text: str) -> str:
    """``text`` as shown to readers, in this order (the order makes the function idempotent):

    1. an ASCII "." ending a Chinese sentence becomes "。" ("快享.在" → "快享。在");
    2. whitespace between two characters of Chinese text (ideographs, Chinese punctuation and
       quotes, full-width forms) is removed ("机关事 业单位" → "机关事业单位");
    3. full-width digits and Latin letters become ASCII ("２０２２" → "2022");
    4. every other run of whitespace becomes one space, and the ends are stripped.

    Nothing else changes: Chinese punctuation (“”（）、，。：；) is kept, and so is a space
    between Latin words or between a number and a Chinese character ("不超过 200 万元").
    """
    text = _PERIOD.sub("。", text)
    text = _BREAK.sub("", text)
    text = text.translate(_HALF_WIDTH)
    return _SPACES.sub(" ", text).strip()
