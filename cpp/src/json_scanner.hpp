// What the small hand-written JSON readers share (usage metrics, the jsonb check): a cursor
// over the text and its lexical steps. They never allocate and give up instead of throwing.
#pragma once

#include <cstddef>
#include <string_view>

namespace asap_native {

/// A forward-only cursor over JSON text; readers derive from it and add their grammar.
class JsonScanner {
protected:
    explicit JsonScanner(std::string_view text)
        : pos_(text.data()), end_(text.data() + text.size()) {}

    /// The next character, or '\0' at the end.
    char peek() const { return pos_ < end_ ? *pos_ : '\0'; }
    /// Steps over `c` if it comes next.
    bool take(char c) {
        if (pos_ < end_ && *pos_ == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    /// Steps over `word` if it comes next.
    bool literal(std::string_view word) {
        if (static_cast<std::size_t>(end_ - pos_) < word.size() ||
            std::string_view(pos_, word.size()) != word)
            return false;
        pos_ += word.size();
        return true;
    }
    /// Steps over JSON whitespace (space, tab, newline, carriage return).
    void skip_space() {
        while (pos_ < end_ && (*pos_ == ' ' || *pos_ == '\t' || *pos_ == '\n' || *pos_ == '\r'))
            ++pos_;
    }
    /// True when only whitespace is left.
    bool at_end() {
        skip_space();
        return pos_ == end_;
    }

    const char* pos_;
    const char* end_;
};

}  // namespace asap_native
