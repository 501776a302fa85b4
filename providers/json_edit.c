/*
 * providers/json_edit.c: top-level member splicing (see json_edit.h). The
 * scanner only finds where values begin and end; the body was validated by
 * the JSON parser before, so it needs no full grammar.
 */
#include "providers/json_edit.h"

#include <string.h>

static size_t skip_ws(const char *s, size_t i, size_t len)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* Returns the index just past the string starting at s[i] == '"', or 0. */
static size_t skip_string(const char *s, size_t i, size_t len)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return 0;
}

/* Returns the index just past the value starting at s[i], or 0. Iterative:
 * nesting depth costs nothing. */
static size_t skip_value(const char *s, size_t i, size_t len)
{
    size_t depth = 0;
    do {
        if (i >= len)
            return 0;
        char c = s[i];
        if (c == '"') {
            if ((i = skip_string(s, i, len)) == 0)
                return 0;
        } else if (c == '{' || c == '[') {
            depth++;
            i++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return 0;
            depth--;
            i++;
        } else if (depth > 0 && (c == ',' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
            i++;
        } else {
            /* a literal or number: up to a delimiter (a NUL byte is none:
             * strchr() finds the terminator, and the scan stood still) */
            while (i < len && (s[i] == '\0' || strchr(",}] \t\r\n", s[i]) == NULL))
                i++;
        }
    } while (depth > 0);
    return i;
}

/* The value of the four hex digits at s, or -1. */
static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = llg_hexval(s[i]);
        if (h < 0)
            return -1;
        v = v * 16 + (unsigned)h;
    }
    *out = v;
    return 0;
}

/* 1 when the raw member name `raw` (between its quotes, escapes as sent)
 * spells `key`. A client may escape any character of a name ("mo\u0064el"),
 * and the parsers here and upstream read it decoded: comparing the raw bytes
 * would leave that member in place and add a second "model" after it. */
static int key_equals(const char *raw, size_t n, const char *key)
{
    const unsigned char *k = (const unsigned char *)key;
    size_t i = 0;
    while (i < n) {
        unsigned char b[4];
        size_t blen = 1;
        b[0] = (unsigned char)raw[i++];
        if (b[0] == '\\') {
            if (i >= n)
                return 0;
            char e = raw[i++];
            unsigned cp;
            if (e == '"' || e == '\\' || e == '/') {
                b[0] = (unsigned char)e;
            } else if (e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
                b[0] = e == 'b' ? '\b' : e == 'f' ? '\f' : e == 'n' ? '\n' : e == 'r' ? '\r' : '\t';
            } else if (e == 'u' && i + 4 <= n && hex4(raw + i, &cp) == 0) {
                i += 4;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    unsigned lo;
                    if (i + 6 > n || raw[i] != '\\' || raw[i + 1] != 'u' || hex4(raw + i + 2, &lo) != 0 || lo < 0xdc00 ||
                        lo > 0xdfff)
                        return 0;
                    i += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                if (cp < 0x80) {
                    b[0] = (unsigned char)cp;
                } else if (cp < 0x800) {
                    b[0] = (unsigned char)(0xc0 | (cp >> 6));
                    b[1] = (unsigned char)(0x80 | (cp & 0x3f));
                    blen = 2;
                } else if (cp < 0x10000) {
                    b[0] = (unsigned char)(0xe0 | (cp >> 12));
                    b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                    b[2] = (unsigned char)(0x80 | (cp & 0x3f));
                    blen = 3;
                } else {
                    b[0] = (unsigned char)(0xf0 | (cp >> 18));
                    b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
                    b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                    b[3] = (unsigned char)(0x80 | (cp & 0x3f));
                    blen = 4;
                }
            } else {
                return 0;
            }
        }
        for (size_t j = 0; j < blen; j++)
            if (*k == '\0' || *k++ != b[j])
                return 0;
    }
    return *k == '\0';
}

static const llg_json_patch_t *find_patch(const llg_json_patch_t *p, size_t n, const char *key, size_t klen, unsigned char *used)
{
    for (size_t i = 0; i < n; i++) {
        if (key_equals(key, klen, p[i].key)) {
            used[i] = 1;
            return &p[i];
        }
    }
    return NULL;
}

typedef struct member {
    size_t start;  /* just after the '{' or ',' before it */
    size_t kstart; /* its name, inside the quotes */
    size_t klen;
    size_t vstart; /* its value */
    size_t vend;
    size_t next; /* just after the ',' that follows it, or at the '}' */
    const llg_json_patch_t *patch;
} member_t;

/* The top-level member of an object that starts at s[*i] (just after the '{'
 * or a ','; `first`: after the '{'). Returns 1 for a member a ',' follows (*i
 * is then past the comma), 2 for the last one and 0 for an empty object (both
 * with the closing '}' at *close), -1 when the text is not an object. */
static int next_member(const char *s, size_t len, size_t *i, int first, member_t *m, size_t *close)
{
    size_t j = skip_ws(s, *i, len);
    if (first && j < len && s[j] == '}') {
        *close = j;
        return 0;
    }
    if (j >= len || s[j] != '"')
        return -1;
    size_t kend = skip_string(s, j, len);
    if (kend == 0)
        return -1;
    m->start = *i;
    m->kstart = j + 1;
    m->klen = kend - 1 - m->kstart;
    j = skip_ws(s, kend, len);
    if (j >= len || s[j] != ':')
        return -1;
    m->vstart = skip_ws(s, j + 1, len);
    m->vend = skip_value(s, m->vstart, len);
    if (m->vend == 0)
        return -1;
    j = skip_ws(s, m->vend, len);
    if (j < len && s[j] == ',') {
        m->next = *i = j + 1;
        return 1;
    }
    if (j < len && s[j] == '}') {
        m->next = *i = *close = j;
        return 2;
    }
    return -1;
}

int llg_json_member(const char *s, size_t len, const char *key, const char **value, size_t *vlen)
{
    size_t i = skip_ws(s, 0, len), close;
    if (i >= len || s[i] != '{')
        return 0;
    i++;
    int found = 0, r;
    member_t m;
    for (int first = 1; (r = next_member(s, len, &i, first, &m, &close)) > 0; first = 0) {
        if (!found && key_equals(s + m.kstart, m.klen, key)) {
            found = 1;
            *value = s + m.vstart;
            *vlen = m.vend - m.vstart;
        }
        if (r == 2)
            return found;
    }
    return 0;
}

int llg_json_element(const char *s, size_t len, size_t *pos, const char **value, size_t *vlen)
{
    size_t i = *pos;
    if (i == 0) {
        /* the '[', and an empty array */
        i = skip_ws(s, 0, len);
        if (i >= len || s[i] != '[')
            return -1;
        i = skip_ws(s, i + 1, len);
        if (i < len && s[i] == ']') {
            *pos = i;
            return 0;
        }
    } else {
        /* after an element: a ',' and the next one, or the ']' */
        i = skip_ws(s, i, len);
        if (i < len && s[i] == ']')
            return 0;
        if (i >= len || s[i] != ',')
            return -1;
        i = skip_ws(s, i + 1, len);
    }
    size_t end = skip_value(s, i, len);
    if (end == 0 || end == i)
        return -1;
    *value = s + i;
    *vlen = end - i;
    *pos = end;
    return 1;
}

#define MAX_MEMBERS 1024

int llg_json_patch_object(const char *s, size_t len, const llg_json_patch_t *patches, size_t npatches, llg_strbuf_t *out)
{
    unsigned char used[32] = {0};
    member_t members[MAX_MEMBERS];
    size_t n = 0;
    if (npatches > sizeof(used))
        return -1;

    /* pass 1: where every top-level member is */
    size_t i = skip_ws(s, 0, len);
    if (i >= len || s[i] != '{')
        return -1;
    size_t open = i + 1;
    i = open;
    size_t close = 0;
    for (;;) {
        member_t m;
        int r = next_member(s, len, &i, n == 0, &m, &close);
        if (r < 0 || (r > 0 && n == MAX_MEMBERS))
            return -1;
        if (r == 0)
            break;
        m.patch = find_patch(patches, npatches, s + m.kstart, m.klen, used);
        members[n++] = m;
        if (r == 2)
            break;
    }

    /* the last member that stays (n: none); the removed ones after it go with
     * the comma that follows it */
    size_t last_kept = n;
    for (size_t k = 0; k < n; k++)
        if (members[k].patch == NULL || members[k].patch->value != NULL)
            last_kept = k;

    /* pass 2: the original bytes, with replaced values and removed members cut out */
    size_t pos = 0, kept = 0;
    for (size_t k = 0; k < n; k++) {
        const member_t *m = &members[k];
        if (m->patch == NULL) {
            kept++;
        } else if (m->patch->value != NULL) {
            llg_strbuf_append(out, s + pos, m->vstart - pos);
            llg_strbuf_appends(out, m->patch->value);
            pos = m->vend;
            kept++;
        } else if (last_kept == n || k < last_kept) {
            /* the member, its comma and the space before the next one (the
             * last of all: up to its value's end) */
            llg_strbuf_append(out, s + pos, m->start - pos);
            pos = k + 1 < n ? m->next : m->vend;
        } else {
            /* after the last member that stays: from the end of its value */
            const member_t *lk = &members[last_kept];
            if (lk->vend > pos)
                llg_strbuf_append(out, s + pos, lk->vend - pos);
            pos = m->vend;
        }
    }
    /* new members go after the last value, before the space and the '}' */
    size_t tail = n > 0 ? members[n - 1].vend : open;
    if (tail < pos)
        tail = pos;
    llg_strbuf_append(out, s + pos, tail - pos);
    for (size_t k = 0; k < npatches; k++) {
        if (used[k] || patches[k].value == NULL)
            continue;
        if (kept++ > 0)
            llg_strbuf_append(out, ",", 1);
        llg_strbuf_append_json_string(out, patches[k].key, strlen(patches[k].key));
        llg_strbuf_append(out, ":", 1);
        llg_strbuf_appends(out, patches[k].value);
    }
    (void)close;
    llg_strbuf_append(out, s + tail, len - tail);
    return 0;
}
