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
            /* a literal or number: up to a delimiter */
            while (i < len && strchr(",}] \t\r\n", s[i]) == NULL)
                i++;
        }
    } while (depth > 0);
    return i;
}

static const llg_json_patch_t *find_patch(const llg_json_patch_t *p, size_t n, const char *key, size_t klen, unsigned char *used)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(p[i].key) == klen && memcmp(p[i].key, key, klen) == 0) {
            used[i] = 1;
            return &p[i];
        }
    }
    return NULL;
}

int llg_json_patch_object(const char *s, size_t len, const llg_json_patch_t *patches, size_t npatches, llg_strbuf_t *out)
{
    unsigned char used[32] = {0};
    if (npatches > sizeof(used))
        return -1;
    size_t i = skip_ws(s, 0, len);
    if (i >= len || s[i] != '{')
        return -1;
    llg_strbuf_append(out, s, i + 1);
    i++;
    int members = 0;  /* members written so far */
    size_t tail = i;  /* where the bytes after the last member begin */
    for (;;) {
        size_t item_start = i;
        i = skip_ws(s, i, len);
        if (i < len && s[i] == '}')
            break;
        if (i >= len || s[i] != '"')
            return -1;
        size_t kstart = i + 1;
        size_t kend = skip_string(s, i, len);
        if (kend == 0)
            return -1;
        i = skip_ws(s, kend, len);
        if (i >= len || s[i] != ':')
            return -1;
        size_t vstart = skip_ws(s, i + 1, len);
        size_t vend = skip_value(s, vstart, len);
        if (vend == 0)
            return -1;
        const llg_json_patch_t *p = find_patch(patches, npatches, s + kstart, kend - 1 - kstart, used);
        if (p == NULL) {
            if (members++ > 0)
                llg_strbuf_append(out, ",", 1);
            /* keep the member's leading whitespace only for the first one */
            llg_strbuf_append(out, s + item_start, vend - item_start);
        } else if (p->value != NULL) {
            if (members++ > 0)
                llg_strbuf_append(out, ",", 1);
            llg_strbuf_append(out, s + item_start, vstart - item_start);
            llg_strbuf_appends(out, p->value);
        }
        tail = vend;
        i = skip_ws(s, vend, len);
        if (i < len && s[i] == ',') {
            i++;
            continue;
        }
        if (i < len && s[i] == '}')
            break;
        return -1;
    }
    for (size_t k = 0; k < npatches; k++) {
        if (used[k] || patches[k].value == NULL)
            continue;
        if (members++ > 0)
            llg_strbuf_append(out, ",", 1);
        llg_strbuf_append_json_string(out, patches[k].key, strlen(patches[k].key));
        llg_strbuf_append(out, ":", 1);
        llg_strbuf_appends(out, patches[k].value);
    }
    /* the closing brace with the whitespace around it (that between members
     * may change; the members themselves never do) */
    llg_strbuf_append(out, s + tail, len - tail);
    return 0;
}
