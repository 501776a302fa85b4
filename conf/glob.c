/*
 * conf/glob.c: shell-style glob matching for model names. `*` matches any run
 * of characters, slashes included (a provider claims every org/model id
 * with star-slash-star), `?` one character, `[...]` one character of a class (ranges
 * a-z, negation with a leading `!` or `^`, a `]` first in the class is
 * literal), and a backslash makes the next character literal. A `[` without its
 * `]` is a literal `[`.
 *
 * The match is iterative and keeps only the position of the last `*`: on a
 * mismatch it retries that star one character further. Earlier stars never
 * need revisiting (the last star can absorb whatever they would have), so the
 * cost is O(len(pattern) * len(s)) even for patterns like "*a*a*a*a*b".
 */
#include "conf.h"

/* Matches one character against the class starting just after `[`. Returns a
 * pointer just past the closing `]` and sets *ok, or NULL when the class is
 * not closed (then `[` is literal). */
static const char *match_class(const char *p, unsigned char c, bool *ok)
{
    bool negate = false, found = false;
    if (*p == '!' || *p == '^') {
        negate = true;
        p++;
    }
    bool first = true;
    for (;;) {
        if (*p == '\0')
            return NULL;
        if (*p == ']' && !first)
            break;
        first = false;
        unsigned char lo = (unsigned char)*p;
        if (lo == '\\' && p[1] != '\0')
            lo = (unsigned char)*++p;
        p++;
        unsigned char hi = lo;
        if (p[0] == '-' && p[1] != ']' && p[1] != '\0') {
            hi = (unsigned char)p[1];
            p += 2;
            if (hi == '\\' && *p != '\0')
                hi = (unsigned char)*p++;
        }
        if (lo <= c && c <= hi)
            found = true;
    }
    *ok = found != negate;
    return p + 1;
}

bool llg_conf_glob_match(const char *pattern, const char *s)
{
    const char *p = pattern;
    const char *star_p = NULL, *star_s = NULL;

    for (;;) {
        if (*p == '*') {
            while (*p == '*')
                p++;
            if (*p == '\0')
                return true;
            star_p = p;
            star_s = s;
            continue;
        }
        if (*s == '\0') {
            if (*p == '\0')
                return true;
            return false;
        }

        bool ok = false;
        const char *next = NULL;
        if (*p == '?') {
            ok = true;
            next = p + 1;
        } else if (*p == '[' && (next = match_class(p + 1, (unsigned char)*s, &ok)) != NULL) {
            /* class matched or not: ok says */
        } else if (*p == '\\' && p[1] != '\0') {
            ok = p[1] == *s;
            next = p + 2;
        } else if (*p != '\0') {
            ok = *p == *s;
            next = p + 1;
        }

        if (ok) {
            p = next;
            s++;
        } else if (star_p != NULL) {
            p = star_p;
            s = ++star_s;
        } else {
            return false;
        }
    }
}
