#pragma once
// UTF-8 as input checks and terminals need it: where a byte sequence stops being valid, and text
// made safe to print (what is not printable shown as U+FFFD, never sent to the terminal as is).

#include <cstddef>
#include <string>
#include <string_view>

namespace ltb::util {

/// Length (1 to 4) of the valid UTF-8 sequence that starts at `text[at]`, or 0 when the bytes
/// there are not one: a stray continuation byte, a sequence cut short, an overlong form, a
/// surrogate or a code point past U+10FFFF.
std::size_t utf8_sequence_length(std::string_view text, std::size_t at);

/// TEXT with each byte of an invalid sequence, and each control character but tab and newline
/// (NUL, ESC, DEL, the C1 controls), replaced by U+FFFD: what it says stays readable, and a
/// terminal gets no escape sequence from it.
std::string printable(std::string_view text);

} // namespace ltb::util
