/*
 * tests/mock/dispatch.c: what llmgate-mock answers. mock_on_head gathers the
 * options known once the head is in (API prefix, key, /s/<list>/, x-mock
 * headers); mock_dispatch reads the body (model, stream, a "mock" field, a
 * "~list" model suffix; content.c takes the prompt and tool results from
 * it), routes the request and prepares the response; mock_next then hands
 * the loop one step at a time: latency, head, prelude events, content chunks
 * with their pauses, comments and mid-stream faults, tail events, end.
 * /v1/messages (Anthropic) and /v1/responses (OpenAI's Responses API) are
 * routed here too; anthropic.c and responses.c shape their answers.
 */
#include "mock.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

uint64_t mock_seq;

enum { P_LATENCY, P_START, P_CUT, P_PRELUDE, P_TTFT, P_CHUNKS, P_TAIL, P_END };

static bool starts(const char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n >= l && memcmp(p, lit, l) == 0;
}

static bool is(const char *p, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(p, lit, n) == 0;
}

void mock_on_head(struct mock_conn *c)
{
    struct mock_req *r = &c->req;
    const char *base = c->rbuf.p + c->rpos;
    struct mock_scenario *sc = &c->sc;
    mock_scenario_start(sc);

    /* the path: origin form (absolute form tolerated), no query */
    const char *t = base + r->target;
    size_t tl = r->target_len;
    if (starts(t, tl, "http://") || starts(t, tl, "https://")) {
        const char *s = memchr(t + 8, '/', tl - 8);
        size_t skip = s ? (size_t)(s - t) : tl;
        t += skip;
        tl -= skip;
    }
    const char *q = memchr(t, '?', tl);
    size_t pl = q ? (size_t)(q - t) : tl;
    const char *list = NULL;
    size_t list_len = 0;
    if (starts(t, pl, "/s/")) {
        const char *e = memchr(t + 3, '/', pl - 3);
        list = t + 3;
        list_len = e ? (size_t)(e - list) : pl - 3;
        size_t skip = 3 + list_len;
        t += skip;
        pl -= skip;
    }
    while (pl > 1 && t[0] == '/' && t[1] == '/') { /* base_url ending in '/' */
        t++;
        pl--;
    }
    r->path = (uint32_t)(t - base);
    r->path_len = (uint32_t)pl;
    /* the endpoint: without the API prefix, which also hints at the format */
    size_t skip = 0;
    if (starts(t, pl, "/api/v1/")) {
        skip = 7;
        sc->format = MOCK_FMT_OPENROUTER;
    } else if (starts(t, pl, "/v1/openai/")) {
        skip = 10;
        sc->format = MOCK_FMT_DEEPINFRA;
    } else if (starts(t, pl, "/v1/")) {
        skip = 3;
    }
    r->ep = (uint32_t)(t + skip - base);
    r->ep_len = (uint32_t)(pl - skip);

    /* the key */
    size_t vl;
    const char *v = mock_http_header(r, base, "authorization", &vl);
    r->key = r->key_len = 0;
    if (v != NULL && vl > 7 && strncasecmp(v, "bearer ", 7) == 0) {
        r->key = (uint32_t)(v + 7 - base);
        r->key_len = (uint32_t)(vl - 7);
    } else if ((v = mock_http_header(r, base, "x-api-key", &vl)) != NULL) {
        r->key = (uint32_t)(v - base);
        r->key_len = (uint32_t)vl;
    }
    if (r->key_len > 0)
        mock_scenario_parse_key(sc, base + r->key, r->key_len);
    if (list != NULL)
        mock_scenario_parse_list(sc, list, list_len, true);
    for (unsigned i = 0; i < r->nhdrs; i++) {
        const struct mock_hdr *h = &r->hdrs[i];
        const char *n = base + h->name;
        if (h->name_len < 6 || strncasecmp(n, "x-mock", 6) != 0)
            continue;
        mock_scenario_hash(sc, n, h->name_len);
        if (h->name_len == 6) {
            mock_scenario_parse_list(sc, base + h->val, h->val_len, false);
        } else if (n[6] == '-' && h->name_len < 40) {
            char opt[40];
            size_t ol = h->name_len - 7;
            for (size_t k = 0; k < ol; k++) {
                char ch = n[7 + k];
                opt[k] = ch == '-' ? '_' : (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
            }
            mock_scenario_hash(sc, base + h->val, h->val_len);
            mock_scenario_set(sc, opt, ol, base + h->val, h->val_len);
        }
    }
}

/* ---- response heads ---- */

void mock_head(struct mock_conn *c, struct mbuf *o, int status, const char *ctype, int64_t clen)
{
    mbuf_adds(o, "HTTP/1.1 ");
    mbuf_addu(o, (uint64_t)status);
    mbuf_addc(o, ' ');
    mbuf_adds(o, mock_http_reason(status));
    mbuf_adds(o, "\r\n");
    mbuf_adds(o, mock_http_date());
    if (ctype != NULL) {
        mbuf_adds(o, "Content-Type: ");
        mbuf_adds(o, ctype);
        mbuf_adds(o, "\r\n");
    }
    if (clen >= 0) {
        mbuf_adds(o, "Content-Length: ");
        mbuf_addu(o, (uint64_t)clen);
        mbuf_adds(o, "\r\n");
    } else if (c->sc.chunked) {
        mbuf_adds(o, "Transfer-Encoding: chunked\r\n");
    } else {
        c->close_after = true;
    }
    mbuf_adds(o, c->close_after ? "Connection: close\r\n" : "Connection: keep-alive\r\n");
}

void mock_whole(struct mock_conn *c, struct mbuf *o, int status, const char *ctype, const char *body, size_t n)
{
    c->st.status = status;
    mock_head(c, o, status, ctype, (int64_t)n);
    if (c->st.api)
        mock_fmt_headers(c, o);
    mbuf_adds(o, "\r\n");
    mbuf_add(o, body, n);
}

static void whole_json(struct mock_conn *c, int status, struct mbuf *body)
{
    c->st.full.len = 0;
    mock_whole(c, &c->st.full, status, "application/json", body->p, body->len);
}

/* ---- routes ---- */

static bool is_http_fault(const struct mock_scenario *sc)
{
    return sc->fault == MOCK_FAULT_HTTP || sc->fault == MOCK_FAULT_INSUFFICIENT_QUOTA || sc->fault == MOCK_FAULT_MODERATION;
}

static void route_static(struct mock_conn *c, uint64_t n)
{
    struct mock_stream *st = &c->st;
    mock_head(c, &st->full, 200, "text/plain", (int64_t)n);
    mbuf_adds(&st->full, "\r\n");
    if (n <= 16384) {
        mbuf_reserve(&st->full, n);
        memset(st->full.p + st->full.len, 'x', n);
        st->full.len += n;
    } else {
        st->filler = n;
    }
    st->status = 200;
}

static void start_stream(struct mock_conn *c, enum mock_kind kind, const struct mock_wire *wire)
{
    c->st.kind = kind;
    c->st.wire = wire;
    c->st.status = 200;
}

static const struct mock_wire *openai_wire(enum mock_format f)
{
    switch (f) {
    case MOCK_FMT_OPENROUTER:
        return &mock_wire_openrouter;
    case MOCK_FMT_DEEPINFRA:
        return &mock_wire_deepinfra;
    default:
        return &mock_wire_openai;
    }
}

/* model names may carry options after '~' */
static void model_from(struct mock_conn *c, const char *m, size_t n)
{
    const char *tilde = memchr(m, '~', n);
    if (tilde != NULL) {
        mock_scenario_parse_list(&c->sc, tilde + 1, n - (size_t)(tilde - m) - 1, true);
    }
    size_t cl = n < sizeof(c->st.model) - 1 ? n : sizeof(c->st.model) - 1;
    memcpy(c->st.model, m, cl);
    c->st.model[cl] = '\0';
}

static void apply_body_mock(struct mock_conn *c, const cJSON *mock)
{
    if (cJSON_IsString(mock)) {
        mock_scenario_parse_list(&c->sc, mock->valuestring, strlen(mock->valuestring), false);
        return;
    }
    if (!cJSON_IsObject(mock))
        return;
    const cJSON *it;
    cJSON_ArrayForEach(it, mock)
    {
        char num[64];
        char *owned = NULL;
        const char *val;
        if (cJSON_IsString(it))
            val = it->valuestring;
        else if (cJSON_IsBool(it))
            val = cJSON_IsTrue(it) ? "1" : "0";
        else if (cJSON_IsNumber(it)) {
            snprintf(num, sizeof(num), "%.0f", it->valuedouble);
            val = num;
        } else if (cJSON_IsObject(it) || cJSON_IsArray(it)) /* tool_input */
            val = owned = cJSON_PrintUnformatted(it);
        else
            continue;
        if (val == NULL)
            continue;
        mock_scenario_hash(&c->sc, it->string, strlen(it->string));
        mock_scenario_hash(&c->sc, val, strlen(val));
        mock_scenario_set(&c->sc, it->string, strlen(it->string), val, strlen(val));
        free(owned);
    }
}

static void route_embeddings(struct mock_conn *c, const cJSON *root)
{
    struct mbuf b = {0};
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
    const cJSON *dimj = cJSON_GetObjectItemCaseSensitive(root, "dimensions");
    uint32_t dims =
        cJSON_IsNumber(dimj) && dimj->valuedouble >= 1 && dimj->valuedouble <= 4096 ? (uint32_t)dimj->valuedouble : c->sc.dims;
    mbuf_adds(&b, "{\"object\":\"list\",\"data\":[");
    uint32_t tokens = 0;
    int idx = 0;
    const cJSON *one = input;
    const cJSON *item = cJSON_IsArray(input) ? input->child : input;
    if (cJSON_IsArray(input) && item != NULL && cJSON_IsNumber(item))
        item = input; /* one input given as tokens */
    for (; item != NULL; item = cJSON_IsArray(input) && item != input ? item->next : NULL) {
        char *owned = NULL;
        const char *s = "";
        if (cJSON_IsString(item))
            s = item->valuestring;
        else
            s = owned = cJSON_PrintUnformatted(item);
        size_t sl = strlen(s);
        tokens += mock_count_words(s, sl) + 1;
        if (idx > 0)
            mbuf_addc(&b, ',');
        mbuf_addf(&b, "{\"object\":\"embedding\",\"index\":%d,\"embedding\":[", idx);
        for (uint32_t d = 0; d < dims; d++) {
            uint64_t h = 1469598103934665603ULL ^ d;
            for (size_t k = 0; k < sl; k++) {
                h ^= (unsigned char)s[k];
                h *= 1099511628211ULL;
            }
            h ^= h >> 29;
            double x = (double)(h % 2000001) / 1000000.0 - 1.0;
            mbuf_addf(&b, d ? ",%.6f" : "%.6f", x);
        }
        mbuf_adds(&b, "]}");
        idx++;
        free(owned);
        if (item == one)
            break;
    }
    mbuf_adds(&b, "],\"model\":");
    mbuf_add_json_str(&b, c->st.model, strlen(c->st.model));
    mbuf_addf(&b, ",\"usage\":{\"prompt_tokens\":%u,\"total_tokens\":%u}}", tokens, tokens);
    whole_json(c, 200, &b);
    mbuf_free(&b);
}

static void route_images(struct mock_conn *c, const cJSON *root)
{
    struct mbuf b = {0};
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    mbuf_addf(&b, "{\"created\":%llu,\"data\":[{\"url\":\"https://mock.invalid/image-%llu.png\",\"revised_prompt\":",
              (unsigned long long)c->st.created, (unsigned long long)c->seq);
    const char *p = cJSON_IsString(prompt) ? prompt->valuestring : "";
    mbuf_add_json_str(&b, p, strlen(p));
    mbuf_adds(&b, "}]}");
    whole_json(c, 200, &b);
    mbuf_free(&b);
}

static bool format_set(const struct mock_scenario *sc)
{
    for (unsigned i = 0; i < sc->nset; i++)
        if (strcmp(sc->set_name[i], "format") == 0)
            return true;
    return false;
}

static void error_for_route(struct mock_conn *c, int status, const char *what)
{
    struct mock_stream *st = &c->st;
    st->full.len = 0;
    if (st->kind == MOCK_K_POE)
        mock_poe_error_http(c, &st->full, status);
    else if (st->kind == MOCK_K_PUTER)
        mock_puter_error(c, &st->full, status);
    else
        mock_fmt_error(c, &st->full, status, what);
    st->kind = MOCK_K_NONE;
    st->wire = NULL;
}

/* POST /v1/messages and /v1/messages/count_tokens; false when answered
 * with a 400 */
static bool route_anthropic(struct mock_conn *c, const cJSON *root, bool count)
{
    struct mock_stream *st = &c->st;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    bool fault = is_http_fault(&c->sc);
    if (!fault && (!cJSON_IsArray(msgs) || (!count && !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root, "max_tokens"))))) {
        mock_fmt_error(c, &st->full, 400, cJSON_IsArray(msgs) ? "max_tokens" : "messages");
        return false;
    }
    mock_last_user(c, msgs, cJSON_GetObjectItemCaseSensitive(root, "system"));
    if (count) {
        if (!fault)
            mock_anthropic_count(c, &st->full);
        return true;
    }
    mock_tool_result_turn(c, msgs, MOCK_K_ANTHROPIC);
    if (st->stream) {
        start_stream(c, MOCK_K_ANTHROPIC, &mock_wire_anthropic);
    } else if (!fault) {
        mock_text_counts(c);
        mock_anthropic_whole(c, &st->full);
    }
    return true;
}

/* POST /v1/responses; false when answered with a 400 */
static bool route_responses(struct mock_conn *c, const cJSON *root)
{
    struct mock_stream *st = &c->st;
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
    bool fault = is_http_fault(&c->sc);
    if (!cJSON_IsString(input) && !cJSON_IsArray(input) && !fault) {
        mock_fmt_error(c, &st->full, 400, "input");
        return false;
    }
    mock_last_user(c, input, cJSON_GetObjectItemCaseSensitive(root, "instructions"));
    mock_tool_result_turn(c, input, MOCK_K_RESPONSES);
    mock_responses_prepare(c, root);
    if (st->stream) {
        start_stream(c, MOCK_K_RESPONSES, &mock_wire_responses);
    } else if (!fault) {
        mock_text_counts(c);
        mock_responses_whole(c, &st->full);
    }
    return true;
}

static void route_api(struct mock_conn *c, const char *method, size_t ml, const char *body, size_t blen)
{
    struct mock_stream *st = &c->st;
    struct mock_scenario *sc = &c->sc;
    const char *base = c->rbuf.p + c->rpos;
    const char *path = base + c->req.path, *ep = base + c->req.ep;
    size_t pl = c->req.path_len, el = c->req.ep_len;
    bool get = is(method, ml, "GET"), post = is(method, ml, "POST");

    cJSON *root = NULL;
    bool bad_json = false;
    if (blen > 0) {
        root = cJSON_ParseWithLength(body, blen);
        bad_json = root == NULL;
    }
    const cJSON *args = root;
    enum mock_kind kind = MOCK_K_NONE;
    const char *bot = NULL;
    size_t bot_len = 0;
    if (starts(path, pl, "/bot/") && pl > 5) {
        kind = MOCK_K_POE;
        bot = path + 5;
        bot_len = pl - 5;
        model_from(c, bot, bot_len);
    } else if (is(path, pl, "/drivers/call")) {
        kind = MOCK_K_PUTER;
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "args");
        if (cJSON_IsObject(a))
            args = a;
    } else if (is(ep, el, "/messages") || is(ep, el, "/messages/count_tokens")) {
        kind = MOCK_K_ANTHROPIC;
    } else if (is(ep, el, "/responses")) {
        kind = MOCK_K_RESPONSES;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(args, "model");
    if (kind != MOCK_K_POE && cJSON_IsString(model))
        model_from(c, model->valuestring, strlen(model->valuestring));
    apply_body_mock(c, cJSON_GetObjectItemCaseSensitive(root, "mock"));
    if (sc->times > 0 && sc->fault != MOCK_FAULT_NONE && !mock_times_take(sc->hash, sc->times))
        sc->fault = MOCK_FAULT_NONE;
    if (kind == MOCK_K_PUTER)
        sc->format = MOCK_FMT_PUTER;
    else if (kind == MOCK_K_POE)
        sc->format = MOCK_FMT_POE;
    else if (kind == MOCK_K_ANTHROPIC)
        sc->format = MOCK_FMT_ANTHROPIC;
    else if (kind == MOCK_K_RESPONSES)
        sc->format = MOCK_FMT_RESPONSES;
    else if (get && is(ep, el, "/models") && sc->format == MOCK_FMT_OPENAI && !format_set(sc) &&
             mock_http_header(&c->req, base, "anthropic-version", &(size_t){0}) != NULL)
        sc->format = MOCK_FMT_ANTHROPIC; /* Anthropic's model list for Anthropic's clients */
    mock_tool_names(c, root);

    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(args, "stream");
    st->stream = cJSON_IsTrue(stream);
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    bool want_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    st->include_usage = sc->usage == 1 ||
                        (sc->usage == -1 && (want_usage || sc->format == MOCK_FMT_OPENROUTER || sc->format == MOCK_FMT_DEEPINFRA ||
                                             sc->format == MOCK_FMT_ANTHROPIC || sc->format == MOCK_FMT_RESPONSES || !st->stream));
    snprintf(st->id, sizeof(st->id), "%s%llu",
             sc->format == MOCK_FMT_OPENROUTER ? "gen-mock"
             : kind == MOCK_K_ANTHROPIC        ? "msg_mock"
             : kind == MOCK_K_RESPONSES        ? "resp_mock"
                                               : "chatcmpl-mock",
             (unsigned long long)c->seq);
    mbuf_adds(&st->text, "mock: ");

    if (sc->error[0] != '\0') {
        mock_fmt_error(c, &st->full, 400, "mock");
        goto out;
    }
    if (kind != MOCK_K_NONE) { /* the protocols' own endpoints: a POST with a JSON body */
        if (!post)
            goto method;
        st->kind = kind;
        if (bad_json)
            goto bad;
    }

    if (kind == MOCK_K_POE) {
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "query");
        if (!cJSON_IsArray(msgs))
            msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
        mock_last_user(c, msgs, NULL);
        st->stream = true;
        start_stream(c, kind, &mock_wire_poe);
    } else if (kind == MOCK_K_PUTER) {
        mock_last_user(c, cJSON_GetObjectItemCaseSensitive(args, "messages"), NULL);
        if (st->stream) {
            start_stream(c, kind, &mock_wire_puter);
        } else if (!is_http_fault(sc) && sc->fault != MOCK_FAULT_PUTER_200_ERROR) {
            mock_text_counts(c);
            mock_puter_whole(c, &st->full);
        }
    } else if (kind == MOCK_K_ANTHROPIC) {
        if (!route_anthropic(c, root, is(ep, el, "/messages/count_tokens")))
            goto out;
    } else if (kind == MOCK_K_RESPONSES) {
        if (!route_responses(c, root))
            goto out;
    } else if (is(path, pl, "/puterai/chat/models") || (get && sc->format == MOCK_FMT_PUTER && is(ep, el, "/models"))) {
        if (!get)
            goto method;
        st->kind = MOCK_K_PUTER;
        if (!is_http_fault(sc))
            mock_puter_models(c, &st->full);
    } else if (is(ep, el, "/chat/completions")) {
        if (!post)
            goto method;
        if (bad_json)
            goto bad;
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
        if (!cJSON_IsArray(msgs) && !is_http_fault(sc)) {
            mock_fmt_error(c, &st->full, 400, "messages");
            goto out;
        }
        mock_last_user(c, msgs, NULL);
        mock_tool_result_turn(c, msgs, MOCK_K_CHAT);
        if (st->stream)
            start_stream(c, MOCK_K_CHAT, openai_wire(sc->format));
        else if (!is_http_fault(sc)) {
            mock_text_counts(c);
            mock_fmt_chat_whole(c, &st->full);
        }
    } else if (is(ep, el, "/completions")) {
        if (!post)
            goto method;
        if (bad_json)
            goto bad;
        const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(root, "prompt");
        if (cJSON_IsArray(prompt))
            prompt = prompt->child;
        if (cJSON_IsString(prompt)) {
            mbuf_adds(&st->text, prompt->valuestring);
            st->prompt_tokens = mock_count_words(prompt->valuestring, strlen(prompt->valuestring)) + 1;
        }
        snprintf(st->id, sizeof(st->id), "cmpl-mock%llu", (unsigned long long)c->seq);
        if (st->stream)
            start_stream(c, MOCK_K_COMPLETION, &mock_wire_completion);
        else if (!is_http_fault(sc)) {
            mock_text_counts(c);
            mock_fmt_completion_whole(c, &st->full);
        }
    } else if (is(ep, el, "/embeddings")) {
        if (!post)
            goto method;
        if (bad_json)
            goto bad;
        if (!is_http_fault(sc))
            route_embeddings(c, root);
    } else if (is(ep, el, "/images/generations")) {
        if (!post)
            goto method;
        if (bad_json)
            goto bad;
        if (!is_http_fault(sc))
            route_images(c, root);
    } else if (is(ep, el, "/models")) {
        if (!get)
            goto method;
        if (!is_http_fault(sc))
            mock_fmt_models(c, &st->full);
    } else {
        mock_fmt_error(c, &st->full, 404, "route");
        goto out;
    }

    if (st->kind == MOCK_K_NONE)
        st->kind = MOCK_K_CHAT;
    if (sc->fault == MOCK_FAULT_INSUFFICIENT_QUOTA)
        error_for_route(c, 429, "insufficient_quota");
    else if (sc->fault == MOCK_FAULT_MODERATION)
        error_for_route(c, 403, "moderation");
    else if (sc->fault == MOCK_FAULT_HTTP)
        error_for_route(c, sc->fault_status, NULL);
    else if (sc->fault == MOCK_FAULT_PUTER_200_ERROR)
        error_for_route(c, 200, "puter_200_error");
    else if (sc->fault == MOCK_FAULT_ERROR_MIDSTREAM && st->wire == NULL)
        error_for_route(c, 500, NULL);
    if (st->wire != NULL)
        mock_text_counts(c);
    goto out;
method:
    st->full.len = 0;
    mock_fmt_error(c, &st->full, 405, "method");
    goto out;
bad:
    st->full.len = 0;
    st->kind = MOCK_K_NONE;
    st->wire = NULL;
    mock_fmt_error(c, &st->full, 400, "json");
out:
    cJSON_Delete(root);
}

static void reset_stream(struct mock_conn *c)
{
    struct mock_stream *st = &c->st;
    st->kind = MOCK_K_NONE;
    st->wire = NULL;
    st->phase = P_LATENCY;
    st->k = st->i = st->n = st->chunks_sent = st->writes = 0;
    st->waited = st->commented = st->stream = st->include_usage = st->chunked_body = st->api = st->any_line = false;
    st->status = 0;
    st->text.len = st->full.len = st->tool_names.len = 0;
    st->ntool_names = 0;
    st->custom_tools.len = st->echo.len = 0;
    st->evseq = 0;
    st->text_pos = 0;
    st->text_chars = st->char_pos = 0;
    st->prompt_tokens = 1;
    st->filler = 0;
    st->pace_at = 0;
    st->id[0] = st->model[0] = '\0';
}

void mock_dispatch(struct mock_conn *c)
{
    struct mock_stream *st = &c->st;
    reset_stream(c);
    c->seq = ++mock_seq;
    st->created = (uint64_t)time(NULL);
    const char *base = c->rbuf.p + c->rpos;
    const char *method = base + c->req.method;
    size_t ml = c->req.method_len;
    const char *path = base + c->req.path;
    size_t pl = c->req.path_len;
    const char *body = base + c->req.head_len;
    size_t blen = c->req.body_len;
    bool rec = mock_record_on;

    if (starts(path, pl, "/_mock/")) {
        rec = false;
        mock_scenario_init(&c->sc); /* no option applies here, the defaults neither */
        struct mbuf b = {0};
        if (is(path, pl, "/_mock/record") && is(method, ml, "GET")) {
            mock_record_dump(&b);
        } else if (is(path, pl, "/_mock/reset") && is(method, ml, "POST")) {
            mock_record_reset();
            mock_times_reset();
            mock_defaults_clear();
            mbuf_adds(&b, "{\"ok\":true}");
        } else if (is(path, pl, "/_mock/defaults") && is(method, ml, "POST")) {
            if (mock_defaults_set(body, blen, c->sc.error, sizeof(c->sc.error))) {
                mbuf_adds(&b, "{\"ok\":true}");
            } else {
                c->st.full.len = 0;
                mock_fmt_error(c, &c->st.full, 400, "mock");
                mbuf_free(&b);
                c->sc.latency_ms = 0;
                c->sc.fault = MOCK_FAULT_NONE;
                return;
            }
        } else {
            mbuf_adds(&b, "{\"error\":{\"message\":\"mock: unknown control endpoint\",\"type\":\"invalid_request_error\"}}");
            whole_json(c, 404, &b);
            mbuf_free(&b);
            c->sc.latency_ms = 0;
            c->sc.fault = MOCK_FAULT_NONE;
            return;
        }
        whole_json(c, 200, &b);
        mbuf_free(&b);
        c->sc.latency_ms = 0;
        c->sc.fault = MOCK_FAULT_NONE;
        return;
    }
    if (is(path, pl, "/health") && c->sc.error[0] == '\0') {
        rec = false;
        static const char ok[] = "{\"status\":\"ok\"}";
        mock_whole(c, &st->full, 200, "application/json", ok, sizeof(ok) - 1);
    } else if (starts(path, pl, "/static/") && is(method, ml, "GET") && c->sc.error[0] == '\0') {
        rec = false;
        uint64_t n = 0;
        for (size_t i = 8; i < pl && path[i] >= '0' && path[i] <= '9' && n < (1ULL << 40); i++)
            n = n * 10 + (uint64_t)(path[i] - '0');
        route_static(c, n);
    } else {
        st->api = true;
        route_api(c, method, ml, body, blen);
    }
    if (rec) {
        const char *key = c->req.key_len ? base + c->req.key : NULL;
        mock_record_prepare(c, body, blen, key, c->req.key_len);
        mock_record_event(c, "request");
        c->rec_open = true;
    }
}

void mock_record_partial(struct mock_conn *c)
{
    const char *base = c->rbuf.p + c->rpos;
    size_t have = c->rbuf.len - c->rpos;
    size_t blen = have > c->req.head_len ? have - c->req.head_len : 0;
    if (!c->req.chunked && blen > c->req.body_len)
        blen = c->req.body_len;
    c->seq = ++mock_seq;
    reset_stream(c);
    mock_record_prepare(c, base + c->req.head_len, blen, c->req.key_len ? base + c->req.key : NULL, c->req.key_len);
    mock_record_event(c, "client_closed");
}

/* ---- the script ---- */

static bool midstream_fault_now(struct mock_conn *c)
{
    struct mock_stream *st = &c->st;
    switch (c->sc.fault) {
    case MOCK_FAULT_POE_ERROR_BEFORE:
        return st->i == 0;
    case MOCK_FAULT_RESET_MIDSTREAM:
    case MOCK_FAULT_HANG_MIDSTREAM:
    case MOCK_FAULT_TRUNCATE:
    case MOCK_FAULT_ERROR_MIDSTREAM:
    case MOCK_FAULT_POE_ERROR_AFTER:
        return st->i == (c->sc.after < st->n ? c->sc.after : st->n);
    default:
        return false;
    }
}

enum mock_act mock_next(struct mock_conn *c, struct mbuf *o, uint64_t *at)
{
    struct mock_stream *st = &c->st;
    struct mock_scenario *sc = &c->sc;
    switch (st->phase) {
    case P_LATENCY:
        st->phase = P_START;
        if (sc->latency_ms > 0) {
            *at = mock_now_ns() + (uint64_t)sc->latency_ms * 1000000ULL;
            return MOCK_ACT_WAIT;
        }
        /* fall through */
    case P_START:
        switch (sc->fault) {
        case MOCK_FAULT_HANG:
            return MOCK_ACT_HANG;
        case MOCK_FAULT_CLOSE_BEFORE_HEADERS:
            return MOCK_ACT_CLOSE;
        case MOCK_FAULT_RESET_BEFORE_HEADERS:
            return MOCK_ACT_RESET;
        default:
            break;
        }
        if (st->wire == NULL) {
            bool cut = st->api && (sc->fault == MOCK_FAULT_RESET_MIDSTREAM || sc->fault == MOCK_FAULT_HANG_MIDSTREAM ||
                                   sc->fault == MOCK_FAULT_TRUNCATE);
            if (cut) {
                /* the head and half of the body */
                const char *hend = memmem(st->full.p, st->full.len, "\r\n\r\n", 4);
                size_t head = hend ? (size_t)(hend - st->full.p) + 4 : 0;
                mbuf_add(o, st->full.p, head + (st->full.len - head) / 2);
                st->phase = P_CUT;
                return MOCK_ACT_HEAD;
            }
            mbuf_add(o, st->full.p, st->full.len);
            c->filler = st->filler;
            st->phase = P_END;
            return MOCK_ACT_HEAD;
        }
        st->wire->head(c, o);
        st->chunked_body = sc->chunked;
        st->phase = P_PRELUDE;
        st->k = 0;
        return MOCK_ACT_HEAD;
    case P_CUT:
        st->phase = P_END;
        if (sc->fault == MOCK_FAULT_RESET_MIDSTREAM)
            return MOCK_ACT_RESET;
        if (sc->fault == MOCK_FAULT_HANG_MIDSTREAM)
            return MOCK_ACT_HANG;
        return MOCK_ACT_CLOSE;
    case P_PRELUDE:
        if (st->wire->prelude(c, o, st->k++))
            return MOCK_ACT_EVENT;
        st->phase = P_TTFT;
        /* fall through */
    case P_TTFT:
        st->phase = P_CHUNKS;
        if (sc->ttft_ms > 0) {
            *at = mock_now_ns() + (uint64_t)sc->ttft_ms * 1000000ULL;
            return MOCK_ACT_WAIT;
        }
        /* fall through */
    case P_CHUNKS:
        if (midstream_fault_now(c)) {
            st->phase = P_END;
            switch (sc->fault) {
            case MOCK_FAULT_RESET_MIDSTREAM:
                return MOCK_ACT_RESET;
            case MOCK_FAULT_HANG_MIDSTREAM:
                return MOCK_ACT_HANG;
            case MOCK_FAULT_TRUNCATE:
                return MOCK_ACT_END;
            default:
                st->wire->error(c, o);
                return MOCK_ACT_EVENT;
            }
        }
        if (st->i < st->n) {
            if (st->i > 0 && sc->interval_ms > 0 && !st->waited) {
                st->waited = true;
                *at = st->pace_at + (uint64_t)st->i * sc->interval_ms * 1000000ULL;
                return MOCK_ACT_WAIT;
            }
            if (sc->comments && !st->commented) {
                st->commented = true;
                st->wire->comment(c, o);
                if (o->len > 0)
                    return MOCK_ACT_EVENT;
            }
            st->waited = st->commented = false;
            if (st->i == 0)
                st->pace_at = mock_now_ns();
            static struct mbuf piece;
            piece.len = 0;
            mock_piece(c, &piece);
            st->wire->chunk(c, o, piece.p ? piece.p : "", piece.len);
            st->i++;
            st->chunks_sent++;
            return MOCK_ACT_EVENT;
        }
        st->phase = P_TAIL;
        st->k = 0;
        /* fall through */
    case P_TAIL:
        if (st->wire->tail(c, o, st->k++))
            return MOCK_ACT_EVENT;
        st->phase = P_END;
        /* fall through */
    default:
        return MOCK_ACT_END;
    }
}
