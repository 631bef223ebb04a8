"""The ctypes declarations against include/ustb_openai.h, and the 3.8 grammar promise."""

import ast
import os
import re
import unittest

from tests.emulator import PACKAGE_ROOT
from ustb_openai import PUZZLE_AUTO, QRState, _exceptions, _lib

HEADER = os.path.join(
    os.environ.get("USTB_INCLUDE_DIR") or os.path.join(PACKAGE_ROOT, "..", "..", "include"),
    "ustb_openai.h",
)


def header_text():
    """The header without its comments."""
    with open(HEADER, encoding="utf-8") as f:
        return re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)


class BindingsTest(unittest.TestCase):
    def test_status_table_matches_the_header(self):
        enum = re.search(r"typedef enum \{([^}]*)\} ustb_status;", header_text())
        self.assertIsNotNone(enum, "no ustb_status enum in the header")
        declared = {m.group(1): int(m.group(2))
                    for m in re.finditer(r"\b(USTB_\w+)\s*=\s*(-?\d+)", enum.group(1))}
        self.assertGreaterEqual(len(declared), 16, "statuses parsed from the header")
        self.assertEqual(_exceptions.STATUS, declared)
        normal = {"USTB_OK", "USTB_END_OF_STREAM", "USTB_STOPPED"}
        self.assertEqual(set(_exceptions.ERROR_CLASSES), set(declared) - normal,
                         "an exception class for every error status")
        for name, value in declared.items():
            self.assertEqual(_lib.lib().ustb_status_name(value).decode(), name)

    def test_login_constants_match_the_header(self):
        text = header_text()
        enum = re.search(r"typedef enum \{([^}]*)\} ustb_login_state;", text)
        self.assertIsNotNone(enum, "no ustb_login_state enum in the header")
        declared = {m.group(1): int(m.group(2))
                    for m in re.finditer(r"\bUSTB_LOGIN_(\w+)\s*=\s*(-?\d+)", enum.group(1))}
        self.assertEqual({s.name: s.value for s in QRState}, declared)
        auto = re.search(r"#define USTB_PUZZLE_AUTO (-?\d+)", text)
        self.assertEqual(PUZZLE_AUTO, int(auto.group(1)))

    def test_declarations_match_the_header(self):
        text = header_text()
        found = {}
        for m in re.finditer(r"\b(ustb_\w+)\(([^)]*)\);", text):
            params = m.group(2).strip()
            found[m.group(1)] = 0 if params in ("", "void") else params.count(",") + 1
        loaded = _lib.lib()
        for name, (restype, argtypes) in _lib._PROTOTYPES.items():
            self.assertIn(name, found, "declared here but not in the header")
            self.assertEqual(len(argtypes), found[name], name)
            fn = getattr(loaded, name)  # exported by the built library, declarations applied
            self.assertEqual(list(fn.argtypes), argtypes, name)
            self.assertIs(fn.restype, restype, name)
        # Header functions this wrapper does not need (e.g. ustb_chunk_delta, a JSON helper
        # for hosts without a parser) are listed, not failed, so the C API can grow.
        unbound = sorted(set(found) - set(_lib._PROTOTYPES))
        if unbound:
            print("\n  not bound (not needed by Python): %s" % ", ".join(unbound), end=" ")

    def test_owned_strings_are_not_c_char_p(self):
        # A c_char_p restype or out-pointer would copy the text and lose the pointer to free.
        import ctypes

        for name, (_restype, argtypes) in _lib._PROTOTYPES.items():
            for arg in argtypes:
                self.assertIsNot(arg, ctypes.POINTER(ctypes.c_char_p), name)

    def test_sources_parse_as_python_3_8(self):
        for folder in ("ustb_openai", "tests", "."):
            path = os.path.join(PACKAGE_ROOT, folder)
            for name in sorted(os.listdir(path)):
                if name.endswith(".py"):
                    with open(os.path.join(path, name), encoding="utf-8") as f:
                        ast.parse(f.read(), name, feature_version=(3, 8))


if __name__ == "__main__":
    unittest.main()
