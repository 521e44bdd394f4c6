// UTF-8 sequences: valid ones of each length, and every way a sequence can be broken.

#include "util/utf8.hpp"

#include <doctest/doctest.h>
#include <string>

using ltb::util::printable;
using ltb::util::utf8_sequence_length;

TEST_CASE("utf8: lengths of valid sequences") {
  CHECK(utf8_sequence_length("a", 0) == 1);
  CHECK(utf8_sequence_length("\xC3\xA9", 0) == 2);         // é
  CHECK(utf8_sequence_length("\xE2\x82\xAC", 0) == 3);     // €
  CHECK(utf8_sequence_length("\xF0\x9F\x98\x80", 0) == 4); // an emoji
  CHECK(utf8_sequence_length("\xF4\x8F\xBF\xBF", 0) == 4); // U+10FFFF, the last code point
  CHECK(utf8_sequence_length("x\xC3\xA9", 1) == 2);
}

TEST_CASE("utf8: broken sequences are 0") {
  CHECK(utf8_sequence_length("", 0) == 0);
  CHECK(utf8_sequence_length("\xFF", 0) == 0);
  CHECK(utf8_sequence_length("\x80", 0) == 0);             // a stray continuation byte
  CHECK(utf8_sequence_length("\xC3", 0) == 0);             // cut short
  CHECK(utf8_sequence_length("\xE2\x82", 0) == 0);         // cut short
  CHECK(utf8_sequence_length("\xC3(", 0) == 0);            // not followed by a continuation
  CHECK(utf8_sequence_length("\xC0\xAF", 0) == 0);         // overlong '/'
  CHECK(utf8_sequence_length("\xE0\x80\xAF", 0) == 0);     // overlong '/'
  CHECK(utf8_sequence_length("\xF0\x80\x80\xAF", 0) == 0); // overlong '/'
  CHECK(utf8_sequence_length("\xED\xA0\x80", 0) == 0);     // a surrogate
  CHECK(utf8_sequence_length("\xF4\x90\x80\x80", 0) == 0); // past U+10FFFF
}

TEST_CASE("utf8: printable replaces what a terminal must not get, keeps the rest") {
  CHECK(printable("eth1 é\t€\n") == "eth1 é\t€\n");
  CHECK(printable(std::string("a\0b", 3)) == "a\xEF\xBF\xBD"
                                             "b");
  CHECK(printable("\x1B[2J") == "\xEF\xBF\xBD[2J");
  CHECK(printable("x\x7F") == "x\xEF\xBF\xBD");
  CHECK(printable("\xC2\x9B"
                  "1m") == "\xEF\xBF\xBD"
                           "1m"); // C1's CSI, one character
  CHECK(printable("\xFF\xFE") == "\xEF\xBF\xBD\xEF\xBF\xBD");
}
