/*
 * tests/mock/content.c: what llmgate-mock's answers say, whatever their wire
 * format: the prompt read from the request (the last user message, its
 * words for the usage), the turn after tool results ("tool said: ..."), the
 * answer cut into chunks, the fake tool calls of tools=N (their names from
 * the request's tools, their arguments) and the fake reasoning of
 * thinking=1.
 */
#include "mock.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* ---- the answer's text ---- */

static void add_content(struct mbuf *o, const cJSON *content)
{
    if (cJSON_IsString(content)) {
        mbuf_adds(o, content->valuestring);
    } else if (cJSON_IsArray(content)) {
        const cJSON *part;
        cJSON_ArrayForEach(part, content)
        {
            const cJSON *tx = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (cJSON_IsString(tx))
                mbuf_adds(o, tx->valuestring);
            else if (cJSON_IsString(part))
                mbuf_adds(o, part->valuestring);
        }
    }
}

uint32_t mock_count_words(const char *s, size_t n)
{
    uint32_t w = 0;
    bool in = false;
    for (size_t i = 0; i < n; i++) {
        bool sp = s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r';
        if (!sp && !in)
            w++;
        in = !sp;
    }
    return w;
}

/* the last user message of messages (OpenAI, Anthropic, Puter), query
 * (Poe) or input (Responses: a string, or items); the prompt's words (those
 * of system too: Anthropic's system, Responses' instructions) */
void mock_last_user(struct mock_conn *c, const cJSON *msgs, const cJSON *system)
{
    struct mock_stream *st = &c->st;
    const cJSON *m, *last = NULL;
    struct mbuf tmp = {0};
    uint32_t words = 0;
    add_content(&tmp, system);
    words += mock_count_words(tmp.p, tmp.len);
    if (cJSON_IsString(msgs)) {
        words += mock_count_words(msgs->valuestring, strlen(msgs->valuestring));
        last = msgs;
    }
    cJSON_ArrayForEach(m, msgs)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        tmp.len = 0;
        add_content(&tmp, content);
        words += mock_count_words(tmp.p, tmp.len);
        if (cJSON_IsString(role) && strcmp(role->valuestring, "user") == 0)
            last = content;
    }
    mbuf_free(&tmp);
    st->prompt_tokens = words > 0 ? words : 1;
    if (last != NULL)
        add_content(&st->text, last);
}

/* the trailing items of msgs whose key is a or b: their field joined with
 * '\n' into t; false when the last item is not one */
static bool trailing_results(const cJSON *msgs, const char *key, const char *a, const char *b, const char *field, struct mbuf *t)
{
    int n = cJSON_GetArraySize(msgs), first = n;
    for (int i = n - 1; i >= 0; i--) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(msgs, i), key);
        if (!cJSON_IsString(v) || (strcmp(v->valuestring, a) != 0 && strcmp(v->valuestring, b) != 0))
            break;
        first = i;
    }
    for (int i = first; i < n; i++) {
        if (i > first)
            mbuf_addc(t, '\n');
        add_content(t, cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(msgs, i), field));
    }
    return first < n;
}

/* Anthropic: the tool_result blocks of a last user message */
static bool anthropic_results(const cJSON *msgs, struct mbuf *t)
{
    const cJSON *last = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1);
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(last, "role");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(last, "content"), *b;
    bool found = false;
    if (!cJSON_IsString(role) || strcmp(role->valuestring, "user") != 0 || !cJSON_IsArray(content))
        return false;
    cJSON_ArrayForEach(b, content)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(b, "type");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "tool_result") != 0)
            continue;
        if (found)
            mbuf_addc(t, '\n');
        found = true;
        add_content(t, cJSON_GetObjectItemCaseSensitive(b, "content"));
    }
    return found;
}

/* tools=N, second turn: when the conversation ends with tool results (OpenAI:
 * trailing "tool" or "function" messages; Anthropic: a last user message
 * with tool_result blocks; Responses: trailing function_call_output or
 * custom_tool_call_output items), the answer is text, "tool said: " and the
 * results (joined with '\n'), instead of tool calls; chunks=0 counts as 8
 * here so that the text shows */
void mock_tool_result_turn(struct mock_conn *c, const cJSON *msgs, enum mock_kind kind)
{
    struct mock_stream *st = &c->st;
    if (c->sc.tools == 0 || !cJSON_IsArray(msgs))
        return;
    struct mbuf t = {0};
    bool found;
    if (kind == MOCK_K_ANTHROPIC)
        found = anthropic_results(msgs, &t);
    else if (kind == MOCK_K_RESPONSES)
        found = trailing_results(msgs, "type", "function_call_output", "custom_tool_call_output", "output", &t);
    else
        found = trailing_results(msgs, "role", "tool", "function", "content", &t);
    if (found) {
        st->text.len = 0;
        mbuf_adds(&st->text, "tool said: ");
        if (t.len > 0)
            mbuf_add(&st->text, t.p, t.len);
        c->sc.tools = 0;
        if (c->sc.chunks == 0)
            c->sc.chunks = 8;
    }
    mbuf_free(&t);
}

void mock_text_counts(struct mock_conn *c)
{
    struct mock_stream *st = &c->st;
    uint32_t chars = 0;
    for (size_t i = 0; i < st->text.len; i++)
        if (((unsigned char)st->text.p[i] & 0xc0) != 0x80)
            chars++;
    st->text_chars = chars;
    if (c->sc.chunk_size > 0)
        st->n = c->sc.chunks;
    else
        st->n = c->sc.chunks < chars ? c->sc.chunks : chars;
}

void mock_piece(struct mock_conn *c, struct mbuf *o)
{
    struct mock_stream *st = &c->st;
    if (c->sc.stamp)
        mbuf_addf(o, "[t=%llu]", (unsigned long long)(mock_now_ns() / 1000));
    if (c->sc.chunk_size > 0) {
        static const char pat[] = "The quick brown fox jumps over the lazy dog. ";
        const size_t plen = sizeof(pat) - 1;
        size_t off = (size_t)(((uint64_t)st->i * c->sc.chunk_size) % plen);
        for (size_t left = c->sc.chunk_size; left > 0;) {
            size_t take = left < plen - off ? left : plen - off;
            mbuf_add(o, pat + off, take);
            left -= take;
            off = 0;
        }
        return;
    }
    uint32_t end = (uint32_t)((uint64_t)(st->i + 1) * st->text_chars / (st->n ? st->n : 1));
    size_t start = st->text_pos;
    while (st->char_pos < end && st->text_pos < st->text.len) {
        st->text_pos++;
        while (st->text_pos < st->text.len && ((unsigned char)st->text.p[st->text_pos] & 0xc0) == 0x80)
            st->text_pos++;
        st->char_pos++;
    }
    mbuf_add(o, st->text.p + start, st->text_pos - start);
}

/* the names of the request's tools (OpenAI's tools[].function.name,
 * Anthropic's tools[].name), for tools=N */
void mock_tool_names(struct mock_conn *c, const cJSON *root)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(root, "tools"))
    {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(cJSON_IsObject(fn) ? fn : t, "name");
        if (cJSON_IsString(name) && name->valuestring[0] != '\0' && strlen(name->valuestring) < 128) {
            mbuf_add(&c->st.tool_names, name->valuestring, strlen(name->valuestring) + 1);
            c->st.ntool_names++;
        }
    }
}

/* the blocks of an answer in the formats with blocks or items (Anthropic,
 * Responses): reasoning (thinking=1), text unless the answer is tool calls
 * without text, then the tool calls */
bool mock_has_text(const struct mock_conn *c)
{
    return c->st.n > 0 || c->sc.tools == 0;
}

unsigned mock_text_index(const struct mock_conn *c)
{
    return c->sc.thinking ? 1 : 0;
}

unsigned mock_tool_index(const struct mock_conn *c, uint32_t t)
{
    return mock_text_index(c) + (mock_has_text(c) ? 1 : 0) + t;
}

/* ---- the fake tool calls (tools=N) and reasoning (thinking=1) ---- */

const char *mock_tool_name(struct mock_conn *c, uint32_t k)
{
    const struct mock_stream *st = &c->st;
    if (c->sc.tool_name[0] != '\0')
        return c->sc.tool_name;
    if (st->ntool_names == 0)
        return "get_weather";
    const char *p = st->tool_names.p;
    for (uint32_t i = k % st->ntool_names; i > 0; i--)
        p += strlen(p) + 1;
    return p;
}

/* where piece part of a string of n bytes starts: part * n / pieces, moved
 * back to the start of a UTF-8 sequence */
static size_t piece_at(const char *s, size_t n, int part)
{
    size_t at = n * (size_t)part / MOCK_ARG_PIECES;
    while (at > 0 && at < n && ((unsigned char)s[at] & 0xc0) == 0x80)
        at--;
    return at;
}

void mock_tool_args(struct mock_conn *c, struct mbuf *o, uint32_t k, int part)
{
    char def[64];
    const char *args = c->sc.tool_input;
    size_t n = strlen(args);
    if (n == 0) {
        n = (size_t)snprintf(def, sizeof(def), "{\"location\":\"Paris\",\"n\":%u}", k);
        args = def;
    }
    if (part < 0) {
        mbuf_add(o, args, n);
        return;
    }
    size_t from = piece_at(args, n, part), to = piece_at(args, n, part + 1);
    mbuf_add(o, args + from, to - from);
}

const char *const mock_think_pieces[MOCK_THINK_PIECES] = {"Let me think", " about", " that."};

void mock_think_whole(struct mbuf *o)
{
    for (int i = 0; i < MOCK_THINK_PIECES; i++)
        mbuf_adds(o, mock_think_pieces[i]);
}

void mock_text_whole(struct mock_conn *c, struct mbuf *t)
{
    struct mock_stream *st = &c->st;
    bool stamp = c->sc.stamp;
    c->sc.stamp = false;
    st->text_pos = 0; /* also after a stream sent its pieces */
    st->char_pos = 0;
    for (st->i = 0; st->i < st->n; st->i++)
        mock_piece(c, t);
    c->sc.stamp = stamp;
    st->i = 0;
    st->text_pos = 0;
    st->char_pos = 0;
}
