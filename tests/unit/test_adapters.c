/*
 * tests/unit/test_adapters.c: the adapter design of providers/ (answer.h,
 * ingress.h, egress.h, anthropic.h, openai_stream.h) on the wire fixtures:
 * - anthropic upstream answers (tests/fixtures/anthropic/) read by the
 *   anthropic egress adapter and rendered for OpenAI clients (text,
 *   reasoning, tool calls, finish reason, usage) and for Anthropic clients
 *   (the message rebuilt from the events equals the fixture's), whole, split
 *   at every byte and fed byte by byte (the output must not change);
 * - openai-type upstream answers rendered for Anthropic clients (a valid
 *   event sequence with the fixture's text), errors before and after the
 *   first byte;
 * - non-stream answers both ways;
 * - the Anthropic request read into the canonical request
 *   (llg_anthropic_parse) and built back from it (llg_anthropic_build);
 * - the HTTP errors of both upstream protocols, Anthropic's error types;
 * - the answer's invariants with the Anthropic renderer.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/anthropic.h"
#include "providers/answer.h"
#include "providers/egress.h"
#include "providers/ingress.h"
#include "providers/openai_request.h"
#include "providers/openai_stream.h"
#include "tests/test.h"
#include "tests/unit/adapter_util.h"

/* ---- running an egress reader (run_egress, run_every_split: adapter_util.h) */

static llg_xlate_params_t params_for(const llg_render_t *render, bool stream, bool include_usage)
{
    llg_xlate_params_t p = {.render = render,
                            .model = "client-model",
                            .stream = stream,
                            .include_usage = include_usage,
                            .prompt_tokens_estimate = 7,
                            .random = {12345, 67890}};
    return p;
}

/* ---- OpenAI output, parsed ---------------------------------------------- */

typedef struct oai {
    bool well_formed;
    int chunks, role_chunks;
    bool role_first;
    llg_strbuf_t content, reasoning;
    int ntools;
    char tool_id[4][64], tool_name[4][64];
    llg_strbuf_t tool_args[4];
    char finish[32];
    int finish_chunks;
    bool usage;
    uint64_t prompt, completion;
    bool error;
    char error_message[256];
    int done;
    bool done_last;
} oai_t;

static void oai_free(oai_t *o)
{
    llg_strbuf_free(&o->content);
    llg_strbuf_free(&o->reasoning);
    for (int i = 0; i < 4; i++)
        llg_strbuf_free(&o->tool_args[i]);
}

static void parse_oai(const llg_strbuf_t *out, oai_t *o)
{
    memset(o, 0, sizeof(*o));
    o->well_formed = llg_utf8_valid(out->data != NULL ? out->data : "", out->len);
    size_t pos = 0;
    while (pos < out->len) {
        if (out->len - pos < 8 || memcmp(out->data + pos, "data: ", 6) != 0) {
            o->well_formed = false;
            return;
        }
        const char *end = strstr(out->data + pos, "\n\n");
        if (end == NULL) {
            o->well_formed = false;
            return;
        }
        const char *d = out->data + pos + 6;
        size_t dlen = (size_t)(end - d);
        pos = (size_t)(end - out->data) + 2;
        o->done_last = false;
        if (dlen == 6 && memcmp(d, "[DONE]", 6) == 0) {
            o->done++;
            o->done_last = true;
            continue;
        }
        cJSON *j = cJSON_ParseWithLength(d, dlen);
        if (!cJSON_IsObject(j)) {
            o->well_formed = false;
            cJSON_Delete(j);
            return;
        }
        if (oget(j, "error") != NULL) {
            o->error = true;
            snprintf(o->error_message, sizeof(o->error_message), "%s", sget(oget(j, "error"), "message"));
            cJSON_Delete(j);
            continue;
        }
        o->chunks++;
        const cJSON *choice = cJSON_GetArrayItem(oget(j, "choices"), 0);
        const cJSON *delta = oget(choice, "delta");
        if (sget(delta, "role") != NULL) {
            o->role_chunks++;
            if (o->chunks == 1)
                o->role_first = true;
        }
        const char *s;
        if ((s = sget(delta, "content")) != NULL)
            llg_strbuf_appends(&o->content, s);
        if ((s = sget(delta, "reasoning_content")) != NULL)
            llg_strbuf_appends(&o->reasoning, s);
        const cJSON *tc;
        cJSON_ArrayForEach(tc, oget(delta, "tool_calls"))
        {
            int i = (int)nget(tc, "index");
            if (i < 0 || i >= 4)
                continue;
            if (i + 1 > o->ntools)
                o->ntools = i + 1;
            if ((s = sget(tc, "id")) != NULL)
                snprintf(o->tool_id[i], sizeof(o->tool_id[i]), "%s", s);
            if ((s = sget(oget(tc, "function"), "name")) != NULL)
                snprintf(o->tool_name[i], sizeof(o->tool_name[i]), "%s", s);
            if ((s = sget(oget(tc, "function"), "arguments")) != NULL)
                llg_strbuf_appends(&o->tool_args[i], s);
        }
        if ((s = sget(choice, "finish_reason")) != NULL) {
            snprintf(o->finish, sizeof(o->finish), "%s", s);
            o->finish_chunks++;
        }
        const cJSON *usage = oget(j, "usage");
        if (cJSON_IsObject(usage)) {
            o->usage = true;
            o->prompt = (uint64_t)nget(usage, "prompt_tokens");
            o->completion = (uint64_t)nget(usage, "completion_tokens");
        }
        cJSON_Delete(j);
    }
}

/* ---- Anthropic output, parsed and rebuilt ------------------------------- */

/* The message an Anthropic stream builds (as the SDKs accumulate it: by
 * block index), and whether the event grammar held. */
typedef struct anth {
    bool well_formed; /* every event `event: NAME\ndata: {"type":"NAME",...}` */
    bool grammar; /* message_start first; blocks started in order, stopped, never empty text; message_delta, message_stop last */
    bool empty_text_block;
    cJSON *message; /* {"content":[...],"stop_reason","usage":{"input_tokens","output_tokens"}} */
    llg_strbuf_t inputs[16];
    int nblocks;
    bool error;
    char error_type[64];
    char last[32];
    int events;
} anth_t;

static void anth_free(anth_t *a)
{
    cJSON_Delete(a->message);
    for (int i = 0; i < 16; i++)
        llg_strbuf_free(&a->inputs[i]);
}

static void parse_anth(const char *data, size_t len, anth_t *a)
{
    memset(a, 0, sizeof(*a));
    a->well_formed = llg_utf8_valid(data != NULL ? data : "", len);
    a->grammar = true;
    a->message = cJSON_CreateObject();
    cJSON *content = cJSON_AddArrayToObject(a->message, "content");
    cJSON *usage = cJSON_AddObjectToObject(a->message, "usage");
    int open = -1, started = 0;
    bool open_has_delta = false, ended = false;
    size_t pos = 0;
    while (pos < len) {
        /* the fixtures may carry a blank line at the end */
        if (data[pos] == '\n') {
            pos++;
            continue;
        }
        if (ended)
            a->grammar = false;
        if (len - pos < 7 || memcmp(data + pos, "event: ", 7) != 0) {
            a->well_formed = false;
            return;
        }
        const char *nl = memchr(data + pos, '\n', len - pos);
        const char *end = nl != NULL ? strstr(nl, "\n\n") : NULL;
        if (nl == NULL || end == NULL || strncmp(nl + 1, "data: ", 6) != 0) {
            a->well_formed = false;
            return;
        }
        size_t nlen = (size_t)(nl - data - pos - 7);
        snprintf(a->last, sizeof(a->last), "%.*s", (int)nlen, data + pos + 7);
        cJSON *j = cJSON_ParseWithLength(nl + 7, (size_t)(end - nl - 7));
        pos = (size_t)(end - data) + 2;
        a->events++;
        const char *type = sget(j, "type");
        if (type == NULL || strcmp(type, a->last) != 0) {
            a->well_formed = false;
            cJSON_Delete(j);
            return;
        }
        int index = (int)nget(j, "index");
        if (strcmp(type, "message_start") == 0) {
            if (a->events != 1)
                a->grammar = false;
            const cJSON *u = oget(oget(j, "message"), "usage");
            cJSON_AddNumberToObject(usage, "input_tokens", nget(u, "input_tokens"));
        } else if (a->events == 1) {
            a->grammar = false;
        }
        if (strcmp(type, "content_block_start") == 0) {
            if (open != -1 || index != started || index >= 16)
                a->grammar = false;
            else
                cJSON_AddItemToArray(content, cJSON_Duplicate(oget(j, "content_block"), 1));
            open = index;
            started++;
            open_has_delta = false;
        } else if (strcmp(type, "content_block_delta") == 0) {
            cJSON *block = cJSON_GetArrayItem(content, index);
            const cJSON *d = oget(j, "delta");
            const char *dt = sget(d, "type");
            if (block == NULL || dt == NULL) {
                a->grammar = false;
            } else if (strcmp(dt, "text_delta") == 0 || strcmp(dt, "thinking_delta") == 0) {
                const char *member = dt[1] == 'e' ? "text" : "thinking";
                llg_strbuf_t t = {0};
                llg_strbuf_appends(&t, sget(block, member) != NULL ? sget(block, member) : "");
                llg_strbuf_appends(&t, sget(d, member) != NULL ? sget(d, member) : "");
                cJSON_ReplaceItemInObjectCaseSensitive(block, member, cJSON_CreateString(t.data != NULL ? t.data : ""));
                llg_strbuf_free(&t);
            } else if (strcmp(dt, "input_json_delta") == 0 && index < 16) {
                llg_strbuf_appends(&a->inputs[index], sget(d, "partial_json") != NULL ? sget(d, "partial_json") : "");
            } else if (strcmp(dt, "signature_delta") == 0) {
                cJSON_ReplaceItemInObjectCaseSensitive(block, "signature", cJSON_CreateString(sget(d, "signature")));
            }
            if (index == open)
                open_has_delta = true;
        } else if (strcmp(type, "content_block_stop") == 0) {
            if (index != open)
                a->grammar = false;
            const char *bt = sget(cJSON_GetArrayItem(content, index), "type");
            if (!open_has_delta && bt != NULL && strcmp(bt, "tool_use") != 0)
                a->empty_text_block = true;
            open = -1;
        } else if (strcmp(type, "message_delta") == 0) {
            if (open != -1)
                a->grammar = false;
            cJSON_AddStringToObject(a->message, "stop_reason", sget(oget(j, "delta"), "stop_reason"));
            cJSON_AddNumberToObject(usage, "output_tokens", nget(oget(j, "usage"), "output_tokens"));
            const cJSON *in = oget(oget(j, "usage"), "input_tokens");
            if (cJSON_IsNumber(in))
                cJSON_ReplaceItemInObjectCaseSensitive(usage, "input_tokens", cJSON_CreateNumber(in->valuedouble));
        } else if (strcmp(type, "message_stop") == 0) {
            ended = true;
        } else if (strcmp(type, "error") == 0) {
            a->error = true;
            snprintf(a->error_type, sizeof(a->error_type), "%s", sget(oget(j, "error"), "type"));
            ended = true;
        }
        cJSON_Delete(j);
    }
    /* tool inputs: the concatenated partial_json, {} when none */
    for (int i = 0; i < cJSON_GetArraySize(content) && i < 16; i++) {
        cJSON *block = cJSON_GetArrayItem(content, i);
        if (sget(block, "type") == NULL || strcmp(sget(block, "type"), "tool_use") != 0 || a->inputs[i].len == 0)
            continue;
        cJSON *input = cJSON_ParseWithLength(a->inputs[i].data, a->inputs[i].len);
        cJSON_ReplaceItemInObjectCaseSensitive(block, "input", input != NULL ? input : cJSON_CreateString(a->inputs[i].data));
    }
    a->nblocks = cJSON_GetArraySize(content);
    if (!a->error && (strcmp(a->last, "message_stop") != 0 || open != -1))
        a->grammar = false;
}

/* The fixture's message and the rebuilt one agree: blocks (type, text,
 * thinking, tool id, name, input), stop_reason, usage. Signatures have no
 * counterpart in the canonical answer and are not compared. */
static bool same_message(const cJSON *want, const cJSON *got)
{
    const cJSON *wc = oget(want, "content"), *gc = oget(got, "content");
    if (cJSON_GetArraySize(wc) != cJSON_GetArraySize(gc)) {
        fprintf(stderr, "blocks: %d, expected %d\n", cJSON_GetArraySize(gc), cJSON_GetArraySize(wc));
        return false;
    }
    for (int i = 0; i < cJSON_GetArraySize(wc); i++) {
        const cJSON *w = cJSON_GetArrayItem(wc, i), *g = cJSON_GetArrayItem(gc, i);
        static const char *const members[] = {"type", "text", "thinking", "id", "name"};
        for (size_t k = 0; k < sizeof(members) / sizeof(members[0]); k++) {
            const char *ws = sget(w, members[k]), *gs = sget(g, members[k]);
            if ((ws == NULL) != (gs == NULL) || (ws != NULL && strcmp(ws, gs) != 0)) {
                fprintf(stderr, "block %d: %s \"%s\", expected \"%s\"\n", i, members[k], gs ? gs : "(none)", ws ? ws : "(none)");
                return false;
            }
        }
        if (oget(w, "input") != NULL && !cJSON_Compare(oget(w, "input"), oget(g, "input"), 1)) {
            fprintf(stderr, "block %d: the input differs\n", i);
            return false;
        }
    }
    const char *ws = sget(want, "stop_reason"), *gs = sget(got, "stop_reason");
    if (ws == NULL || gs == NULL || strcmp(ws, gs) != 0) {
        fprintf(stderr, "stop_reason %s, expected %s\n", gs ? gs : "(none)", ws ? ws : "(none)");
        return false;
    }
    const cJSON *wu = oget(want, "usage"), *gu = oget(got, "usage");
    if (nget(wu, "input_tokens") != nget(gu, "input_tokens") || nget(wu, "output_tokens") != nget(gu, "output_tokens")) {
        fprintf(stderr, "usage %g/%g, expected %g/%g\n", nget(gu, "input_tokens"), nget(gu, "output_tokens"),
                nget(wu, "input_tokens"), nget(wu, "output_tokens"));
        return false;
    }
    return true;
}

/* ---- anthropic upstream -> OpenAI client -------------------------------- */

TEST(anthropic_stream_text_tool_to_openai)
{
    size_t len;
    char *in = read_fixture("anthropic/stream-text-tool.sse", &len);
    const llg_egress_t *eg = llg_egress_for(LLG_PROVIDER_ANTHROPIC);
    CHECK(eg != NULL && strcmp(eg->name, "anthropic") == 0);
    for (int usage = 0; usage < 2; usage++) {
        llg_xlate_params_t p = params_for(&llg_render_openai, true, usage == 1);
        run_t r;
        CHECK_EQ_INT(run_every_split(eg, &p, in, len, &r), 0);
        CHECK_EQ_INT(r.rc, 0);
        oai_t o;
        parse_oai(&r.out, &o);
        CHECK(o.well_formed);
        CHECK(o.role_first);
        CHECK_EQ_INT(o.role_chunks, 1);
        CHECK_EQ_STR(o.content.data, "Let me check the weather.");
        CHECK(o.reasoning.len == 0);
        CHECK_EQ_INT(o.ntools, 1);
        CHECK_EQ_STR(o.tool_id[0], "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
        CHECK_EQ_STR(o.tool_name[0], "get_weather");
        CHECK_EQ_STR(o.tool_args[0].data, "{\"location\": \"Paris\"}");
        CHECK_EQ_STR(o.finish, "tool_calls");
        CHECK_EQ_INT(o.finish_chunks, 1);
        CHECK_EQ_INT(o.usage, usage == 1);
        if (usage) {
            CHECK_EQ_INT(o.prompt, 472);
            CHECK_EQ_INT(o.completion, 89);
        }
        CHECK_EQ_INT(o.done, 1);
        CHECK(o.done_last);
        CHECK(!o.error);
        CHECK_EQ_INT(r.prompt, 472);
        CHECK_EQ_INT(r.completion, 89);
        CHECK(!r.estimated);
        oai_free(&o);
        llg_strbuf_free(&r.out);
    }
    /* CRLF line ends: the same answer */
    llg_strbuf_t crlf = {0};
    for (size_t i = 0; i < len; i++)
        llg_strbuf_appends(&crlf, in[i] == '\n' ? "\r\n" : (char[]){in[i], 0});
    llg_xlate_params_t p = params_for(&llg_render_openai, true, true);
    run_t a, b;
    run_egress(eg, &p, in, len, len, 0, &a);
    run_egress(eg, &p, crlf.data, crlf.len, crlf.len / 2, 7, &b);
    CHECK(a.out.len == b.out.len && memcmp(a.out.data, b.out.data, a.out.len) == 0);
    llg_strbuf_free(&a.out);
    llg_strbuf_free(&b.out);
    llg_strbuf_free(&crlf);
    free(in);
}

TEST(anthropic_stream_thinking_to_openai)
{
    size_t len;
    char *in = read_fixture("anthropic/stream-thinking.sse", &len);
    const llg_egress_t *eg = llg_egress_for(LLG_PROVIDER_ANTHROPIC);
    llg_xlate_params_t p = params_for(&llg_render_openai, true, true);
    run_t r;
    CHECK_EQ_INT(run_every_split(eg, &p, in, len, &r), 0);
    CHECK_EQ_INT(r.rc, 0);
    oai_t o;
    parse_oai(&r.out, &o);
    CHECK(o.well_formed && o.role_first);
    CHECK_EQ_STR(o.reasoning.data, "2 + 2 is 4.");
    CHECK_EQ_STR(o.content.data, "4");
    CHECK_EQ_INT(o.ntools, 0);
    CHECK_EQ_STR(o.finish, "stop");
    CHECK(o.usage);
    CHECK_EQ_INT(o.prompt, 30);
    CHECK_EQ_INT(o.completion, 12);
    CHECK(o.done_last);
    /* the signature has no counterpart */
    CHECK(strstr(r.out.data, "EqQBCgIYAhIM") == NULL);
    oai_free(&o);
    llg_strbuf_free(&r.out);
    free(in);
}

/* stream-error.sse: message_start then an overloaded error, before any
 * content: nothing sent, 503 for the client, another key may answer */
TEST(anthropic_stream_error_before_content)
{
    size_t len;
    char *in = read_fixture("anthropic/stream-error.sse", &len);
    const llg_egress_t *eg = llg_egress_for(LLG_PROVIDER_ANTHROPIC);
    for (int render = 0; render < 2; render++) {
        llg_xlate_params_t p = params_for(render ? &llg_render_anthropic : &llg_render_openai, true, true);
        run_t r;
        CHECK_EQ_INT(run_every_split(eg, &p, in, len, &r), 0);
        CHECK_EQ_INT(r.rc, -1);
        CHECK_EQ_INT(r.out.len, 0);
        CHECK_EQ_INT(r.err.http_status, 503);
        CHECK_EQ_INT(r.err.outcome, LLG_OUTCOME_SERVER);
        CHECK_EQ_STR(r.err.code, "overloaded");
        CHECK_EQ_STR(r.err.message, "Overloaded");
        llg_strbuf_free(&r.out);
    }
    /* not streaming: the same error body as one JSON */
    llg_xlate_params_t p = params_for(&llg_render_openai, false, false);
    const char *body = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}";
    run_t r;
    run_egress(eg, &p, body, strlen(body), 10, 0, &r);
    CHECK_EQ_INT(r.rc, -1);
    CHECK_EQ_INT(r.out.len, 0);
    CHECK_EQ_INT(r.err.http_status, 503);
    CHECK_EQ_INT(r.err.outcome, LLG_OUTCOME_SERVER);
    llg_strbuf_free(&r.out);
    free(in);
}

/* The text of stream-text-tool.sse up to its first delta, then the error of
 * stream-error.sse. */
static char *content_then_error(size_t *len)
{
    size_t tl, el;
    char *text = read_fixture("anthropic/stream-text-tool.sse", &tl);
    char *err = read_fixture("anthropic/stream-error.sse", &el);
    const char *cut = strstr(text, "\" check the weather.\"");
    cut = strstr(cut, "\n\n") + 2;
    const char *e = strstr(err, "event: error");
    llg_strbuf_t b = {0};
    llg_strbuf_append(&b, text, (size_t)(cut - text));
    llg_strbuf_appends(&b, e);
    free(text);
    free(err);
    *len = b.len;
    return b.data;
}

TEST(anthropic_stream_error_after_content)
{
    size_t len;
    char *in = content_then_error(&len);
    const llg_egress_t *eg = llg_egress_for(LLG_PROVIDER_ANTHROPIC);
    /* OpenAI client: the content, an error event, [DONE] */
    llg_xlate_params_t p = params_for(&llg_render_openai, true, true);
    run_t r;
    CHECK_EQ_INT(run_every_split(eg, &p, in, len, &r), 0);
    CHECK_EQ_INT(r.rc, -1);
    CHECK_EQ_INT(r.err.http_status, 0);
    CHECK_EQ_INT(r.err.outcome, LLG_OUTCOME_SERVER);
    oai_t o;
    parse_oai(&r.out, &o);
    CHECK(o.well_formed);
    CHECK_EQ_STR(o.content.data, "Let me check the weather.");
    CHECK(o.error);
    CHECK_EQ_STR(o.error_message, "Overloaded");
    CHECK_EQ_INT(o.finish_chunks, 0);
    CHECK(o.done_last);
    oai_free(&o);
    llg_strbuf_free(&r.out);
    /* Anthropic client: the content, then `event: error` of type overloaded_error */
    p = params_for(&llg_render_anthropic, true, false);
    CHECK_EQ_INT(run_every_split(eg, &p, in, len, &r), 0);
    CHECK_EQ_INT(r.rc, -1);
    CHECK_EQ_INT(r.err.http_status, 0);
    anth_t a;
    parse_anth(r.out.data, r.out.len, &a);
    CHECK(a.well_formed && a.grammar);
    CHECK(a.error);
    CHECK_EQ_STR(a.last, "error");
    CHECK_EQ_STR(a.error_type, "overloaded_error");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(oget(a.message, "content"), 0), "text"), "Let me check the weather.");
    anth_free(&a);
    llg_strbuf_free(&r.out);
    free(in);
}

/* A stream cut before message_stop failed: 502 upstream_truncated before the
 * first byte, an error event after it. */
TEST(anthropic_stream_truncated)
{
    size_t len;
    char *in = read_fixture("anthropic/stream-text-tool.sse", &len);
    const llg_egress_t *eg = llg_egress_for(LLG_PROVIDER_ANTHROPIC);
    const char *stop = strstr(in, "event: message_stop");
    llg_xlate_params_t p = params_for(&llg_render_openai, true, false);
    run_t r;
    run_egress(eg, &p, in, (size_t)(stop - in), 0, 13, &r);
    CHECK_EQ_INT(r.rc, -1);
    CHECK_EQ_INT(r.err.http_status, 0);
    CHECK_EQ_STR(r.err.code, "upstream_truncated");
    CHECK(strstr(r.out.data, "upstream_truncated") != NULL);
    llg_strbuf_free(&r.out);
    const char *first = strstr(in, "event: content_block_start");
    run_egress(eg, &p, in, (size_t)(first - in), 0, 0, &r);
    CHECK_EQ_INT(r.rc, -1);
    CHECK_EQ_INT(r.err.http_status, 502);
    CHECK_EQ_INT(r.out.len, 0);
    llg_strbuf_free(&r.out);
    free(in);
}

/* ---- anthropic upstream -> Anthropic client (the round trip) ------------ */

TEST(anthropic_stream_round_trip)
{
    static const char *const files[] = {"anthropic/stream-text-tool.sse", "anthropic/stream-thinking.sse"};
    const llg_egress_t *eg = llg_egress_for(LLG_PROVIDER_ANTHROPIC);
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        size_t len;
        char *in = read_fixture(files[f], &len);
        anth_t want;
        parse_anth(in, len, &want);
        CHECK(want.well_formed && want.grammar);
        llg_xlate_params_t p = params_for(&llg_render_anthropic, true, false);
        run_t r;
        CHECK_EQ_INT(run_every_split(eg, &p, in, len, &r), 0);
        CHECK_EQ_INT(r.rc, 0);
        anth_t got;
        parse_anth(r.out.data, r.out.len, &got);
        CHECK(got.well_formed);
        CHECK(got.grammar);
        CHECK(!got.empty_text_block);
        CHECK(same_message(want.message, got.message));
        /* message_start: the id, the client's model, the prompt tokens */
        const char *start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_";
        CHECK(strncmp(r.out.data, start, strlen(start)) == 0);
        CHECK(strstr(r.out.data, "\"model\":\"client-model\"") != NULL);
        anth_free(&want);
        anth_free(&got);
        llg_strbuf_free(&r.out);
        free(in);
    }
}

/* ---- openai upstream -> Anthropic client -------------------------------- */

TEST(openai_stream_to_anthropic)
{
    static const struct {
        const char *file, *text;
        uint64_t prompt, completion;
    } cases[] = {
        {"openai/chat-stream.sse", "Hi!", 9, 3},
        {"openrouter/chat-stream.sse", "The end", 10, 2},
    };
    const llg_egress_t *eg = llg_egress_for(LLG_PROVIDER_OPENAI);
    CHECK(eg != NULL && strcmp(eg->name, "openai") == 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        char *in = read_fixture(cases[i].file, &len);
        llg_xlate_params_t p = params_for(&llg_render_anthropic, true, false);
        run_t r;
        CHECK_EQ_INT(run_every_split(eg, &p, in, len, &r), 0);
        CHECK_EQ_INT(r.rc, 0);
        anth_t a;
        parse_anth(r.out.data, r.out.len, &a);
        CHECK(a.well_formed);
        CHECK(a.grammar);
        CHECK(!a.empty_text_block);
        CHECK(!a.error);
        CHECK_EQ_INT(a.nblocks, 1);
        const cJSON *b = cJSON_GetArrayItem(oget(a.message, "content"), 0);
        CHECK_EQ_STR(sget(b, "type"), "text");
        CHECK_EQ_STR(sget(b, "text"), cases[i].text);
        CHECK_EQ_STR(sget(a.message, "stop_reason"), "end_turn");
        CHECK_EQ_INT(nget(oget(a.message, "usage"), "input_tokens"), cases[i].prompt);
        CHECK_EQ_INT(nget(oget(a.message, "usage"), "output_tokens"), cases[i].completion);
        CHECK(strstr(r.out.data, "event: message_delta") < strstr(r.out.data, "event: message_stop"));
        anth_free(&a);
        llg_strbuf_free(&r.out);
        free(in);
    }
}

TEST(openai_midstream_error_to_anthropic)
{
    static const struct {
        const char *file, *text, *message;
    } cases[] = {
        {"openai/midstream-error.sse", "Par", "The server had an error while processing your request. Sorry about that!"},
        {"openrouter/midstream-error.sse", "Hel", "Provider disconnected unexpectedly"},
    };
    const llg_egress_t *eg = llg_egress_for(LLG_PROVIDER_OPENAI);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        char *in = read_fixture(cases[i].file, &len);
        llg_xlate_params_t p = params_for(&llg_render_anthropic, true, false);
        run_t r;
        CHECK_EQ_INT(run_every_split(eg, &p, in, len, &r), 0);
        CHECK_EQ_INT(r.rc, -1);
        CHECK_EQ_INT(r.err.http_status, 0);
        CHECK_EQ_STR(r.err.message, cases[i].message);
        anth_t a;
        parse_anth(r.out.data, r.out.len, &a);
        CHECK(a.well_formed && a.grammar);
        CHECK(a.error);
        CHECK_EQ_STR(a.last, "error");
        CHECK_EQ_STR(a.error_type, "api_error");
        CHECK_EQ_STR(sget(cJSON_GetArrayItem(oget(a.message, "content"), 0), "text"), cases[i].text);
        CHECK(strstr(r.out.data, "message_stop") == NULL);
        anth_free(&a);
        llg_strbuf_free(&r.out);
        free(in);
    }
}

/* Parallel tool calls with arguments streamed after the next call started
 * keep their block; reasoning, then text, then two tools: four blocks. */
TEST(openai_stream_tools_to_anthropic)
{
    const char *in = "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"hmm\"}}]}\n\n"
                     "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Let me check.\"}}]}\n\n"
                     "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":"
                     "\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}}]}\n\n"
                     "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_2\",\"type\":"
                     "\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}}]}}]}\n\n"
                     "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                     "\"{\\\"location\\\": \\\"Paris\\\"}\"}}]}}]}\n\n"
                     "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}],"
                     "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}\n\n"
                     "data: [DONE]\n\n";
    const llg_egress_t *eg = llg_egress_for(LLG_PROVIDER_OPENAI);
    llg_xlate_params_t p = params_for(&llg_render_anthropic, true, false);
    run_t r;
    CHECK_EQ_INT(run_every_split(eg, &p, in, strlen(in), &r), 0);
    CHECK_EQ_INT(r.rc, 0);
    anth_t a;
    parse_anth(r.out.data, r.out.len, &a);
    CHECK(a.well_formed && a.grammar);
    CHECK_EQ_INT(a.nblocks, 4);
    const cJSON *c = oget(a.message, "content");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(c, 0), "thinking"), "hmm");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(c, 1), "text"), "Let me check.");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(c, 2), "id"), "call_1");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(c, 3), "name"), "get_time");
    CHECK_EQ_STR(sget(oget(cJSON_GetArrayItem(c, 2), "input"), "location"), "Paris");
    CHECK_EQ_STR(sget(a.message, "stop_reason"), "tool_use");
    CHECK(strstr(r.out.data, "\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"location") != NULL);
    anth_free(&a);
    llg_strbuf_free(&r.out);
}

/* ---- non-stream ---------------------------------------------------------- */

TEST(anthropic_message_to_openai)
{
    size_t len;
    char *in = read_fixture("anthropic/message.json", &len);
    const llg_egress_t *eg = llg_egress_for(LLG_PROVIDER_ANTHROPIC);
    llg_xlate_params_t p = params_for(&llg_render_openai, false, false);
    run_t r;
    CHECK_EQ_INT(run_every_split(eg, &p, in, len, &r), 0);
    CHECK_EQ_INT(r.rc, 0);
    cJSON *j = cJSON_ParseWithLength(r.out.data, r.out.len);
    CHECK(cJSON_IsObject(j));
    CHECK_EQ_STR(sget(j, "object"), "chat.completion");
    CHECK_EQ_STR(sget(j, "model"), "client-model");
    const cJSON *choice = cJSON_GetArrayItem(oget(j, "choices"), 0);
    const cJSON *m = oget(choice, "message");
    CHECK_EQ_STR(sget(m, "role"), "assistant");
    CHECK_EQ_STR(sget(m, "content"), "Let me check the weather.");
    const cJSON *tc = cJSON_GetArrayItem(oget(m, "tool_calls"), 0);
    CHECK_EQ_INT(cJSON_GetArraySize(oget(m, "tool_calls")), 1);
    CHECK_EQ_STR(sget(tc, "id"), "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
    CHECK_EQ_STR(sget(tc, "type"), "function");
    CHECK_EQ_STR(sget(oget(tc, "function"), "name"), "get_weather");
    CHECK_EQ_STR(sget(oget(tc, "function"), "arguments"), "{\"location\":\"Paris\"}");
    CHECK_EQ_STR(sget(choice, "finish_reason"), "tool_calls");
    CHECK_EQ_INT(nget(oget(j, "usage"), "prompt_tokens"), 472);
    CHECK_EQ_INT(nget(oget(j, "usage"), "completion_tokens"), 89);
    CHECK_EQ_INT(nget(oget(j, "usage"), "total_tokens"), 561);
    cJSON_Delete(j);
    llg_strbuf_free(&r.out);
    /* and for an Anthropic client: the same message */
    p = params_for(&llg_render_anthropic, false, false);
    run_egress(eg, &p, in, len, len, 0, &r);
    CHECK_EQ_INT(r.rc, 0);
    j = cJSON_ParseWithLength(r.out.data, r.out.len);
    cJSON *want = cJSON_ParseWithLength(in, len);
    CHECK(same_message(want, j));
    CHECK_EQ_STR(sget(j, "type"), "message");
    CHECK_EQ_STR(sget(j, "role"), "assistant");
    cJSON_Delete(want);
    cJSON_Delete(j);
    llg_strbuf_free(&r.out);
    free(in);
}

TEST(openai_completion_to_anthropic)
{
    size_t len;
    char *in = read_fixture("openai/chat-nonstream.json", &len);
    const llg_egress_t *eg = llg_egress_for(LLG_PROVIDER_OPENAI);
    llg_xlate_params_t p = params_for(&llg_render_anthropic, false, false);
    run_t r;
    CHECK_EQ_INT(run_every_split(eg, &p, in, len, &r), 0);
    CHECK_EQ_INT(r.rc, 0);
    cJSON *j = cJSON_ParseWithLength(r.out.data, r.out.len);
    CHECK(cJSON_IsObject(j));
    CHECK_EQ_STR(sget(j, "type"), "message");
    CHECK_EQ_STR(sget(j, "role"), "assistant");
    CHECK_EQ_STR(sget(j, "model"), "client-model");
    CHECK(sget(j, "id") != NULL && strncmp(sget(j, "id"), "msg_", 4) == 0 && strlen(sget(j, "id")) == 28);
    CHECK_EQ_INT(cJSON_GetArraySize(oget(j, "content")), 1);
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(oget(j, "content"), 0), "type"), "text");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(oget(j, "content"), 0), "text"), "Hi!");
    CHECK_EQ_STR(sget(j, "stop_reason"), "end_turn");
    CHECK(cJSON_IsNull(oget(j, "stop_sequence")));
    CHECK_EQ_INT(nget(oget(j, "usage"), "input_tokens"), 9);
    CHECK_EQ_INT(nget(oget(j, "usage"), "output_tokens"), 3);
    cJSON_Delete(j);
    llg_strbuf_free(&r.out);
    free(in);
}

/* ---- the Anthropic request ---------------------------------------------- */

TEST(anthropic_parse_request)
{
    size_t len;
    char *in = read_fixture("anthropic/request.json", &len);
    char err[256] = "", param[64] = "";
    cJSON *c = llg_anthropic_parse(in, len, err, sizeof(err), param, sizeof(param));
    CHECK(c != NULL);
    if (c == NULL) {
        fprintf(stderr, "refused: %s (%s)\n", err, param);
        free(in);
        return;
    }
    CHECK(llg_ingress_anthropic.parse == llg_anthropic_parse && llg_ingress_anthropic.render == &llg_render_anthropic);
    CHECK_EQ_STR(sget(c, "model"), "claude-sonnet-4-5");
    CHECK_EQ_INT(nget(c, "max_tokens"), 1024);
    CHECK(cJSON_IsTrue(oget(c, "stream")));
    const cJSON *msgs = oget(c, "messages");
    CHECK_EQ_INT(cJSON_GetArraySize(msgs), 4);
    const cJSON *m0 = cJSON_GetArrayItem(msgs, 0), *m1 = cJSON_GetArrayItem(msgs, 1), *m2 = cJSON_GetArrayItem(msgs, 2),
                *m3 = cJSON_GetArrayItem(msgs, 3);
    CHECK_EQ_STR(sget(m0, "role"), "system");
    CHECK_EQ_STR(sget(m0, "content"), "You are a weather bot.");
    CHECK_EQ_STR(sget(m1, "role"), "user");
    CHECK_EQ_STR(sget(m1, "content"), "Weather in Paris?");
    CHECK_EQ_STR(sget(m2, "role"), "assistant");
    CHECK_EQ_STR(sget(m2, "content"), "Let me check the weather.");
    const cJSON *call = cJSON_GetArrayItem(oget(m2, "tool_calls"), 0);
    CHECK_EQ_STR(sget(call, "id"), "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
    CHECK_EQ_STR(sget(call, "type"), "function");
    CHECK_EQ_STR(sget(oget(call, "function"), "name"), "get_weather");
    const char *args = sget(oget(call, "function"), "arguments");
    cJSON *aj = args != NULL ? cJSON_Parse(args) : NULL;
    CHECK_EQ_STR(sget(aj, "location"), "Paris");
    cJSON_Delete(aj);
    CHECK_EQ_STR(sget(m3, "role"), "tool");
    CHECK_EQ_STR(sget(m3, "tool_call_id"), "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
    CHECK_EQ_STR(sget(m3, "content"), "21C, sunny");
    const cJSON *tool = cJSON_GetArrayItem(oget(c, "tools"), 0);
    CHECK_EQ_INT(cJSON_GetArraySize(oget(c, "tools")), 1);
    CHECK_EQ_STR(sget(tool, "type"), "function");
    CHECK_EQ_STR(sget(oget(tool, "function"), "name"), "get_weather");
    CHECK_EQ_STR(sget(oget(tool, "function"), "description"), "Current weather");
    CHECK_EQ_STR(sget(oget(oget(oget(oget(tool, "function"), "parameters"), "properties"), "location"), "type"), "string");
    CHECK_EQ_STR(sget(c, "tool_choice"), "auto");
    /* the canonical request is an OpenAI chat request */
    char *text = cJSON_PrintUnformatted(c);
    cJSON *again = llg_chat_parse(text, strlen(text), err, sizeof(err), param, sizeof(param));
    CHECK(again != NULL);
    cJSON_Delete(again);
    cJSON_free(text);
    cJSON_Delete(c);
    free(in);
}

TEST(anthropic_parse_refusals)
{
    static const struct {
        const char *body, *param;
    } cases[] = {
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "max_tokens"},
        {"{\"model\":\"m\",\"max_tokens\":10,\"messages\":{\"role\":\"user\"}}", "messages"},
        {"{\"model\":\"m\",\"max_tokens\":10}", "messages"},
        {"{\"model\":\"m\",\"max_tokens\":10,\"messages\":[{\"role\":\"tool\",\"content\":\"hi\"}]}", "messages.0"},
        {"{\"model\":\"m\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"bot\",\"content\":"
         "\"b\"}]}",
         "messages.1"},
        {"{\"model\":\"m\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"name\":\"t\","
         "\"input_schema\":{}}],\"tool_choice\":{\"type\":\"sometimes\"}}",
         "tool_choice"},
        {"{\"model\":\"m\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"name\":\"t\","
         "\"input_schema\":{}}],\"tool_choice\":{\"type\":\"tool\"}}",
         "tool_choice"},
        {"{\"model\":\"m\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"name\":\"t\","
         "\"input_schema\":{}}],\"tool_choice\":\"auto\"}",
         "tool_choice"},
        {"{\"model\":\"m\",\"max_tokens\":0,\"messages\":[]}", "max_tokens"},
        {"{\"model\":\"m\",\"max_tokens\":1.5,\"messages\":[]}", "max_tokens"},
        {"{\"max_tokens\":10,\"messages\":[]}", "model"},
        {"{\"model\":3,\"max_tokens\":10,\"messages\":[]}", "model"},
        {"{\"model\":\"m\",\"max_tokens\":10,\"messages\":[],\"stream\":\"yes\"}", "stream"},
        {"{\"model\":\"m\",\"max_tokens\":10,\"messages\":[],\"stop_sequences\":[1]}", "stop_sequences"},
        {"{\"model\":\"m\",\"max_tokens\":10,\"messages\":[],\"system\":5}", "system"},
        {"{\"model\":\"m\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages.0"},
        {"{\"model\":\"m\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\"}]}]}",
         "messages.0.0"},
        {"{\"model\":\"m\",\"max_tokens\":10,\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":"
         "\"x\"}]}]}",
         "messages.0.0"},
        {"{\"model\":\"m\",\"model\":\"n\",\"max_tokens\":10,\"messages\":[]}", "model"},
        {"[1]", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "", param[64] = "x";
        cJSON *c = llg_anthropic_parse(cases[i].body, strlen(cases[i].body), err, sizeof(err), param, sizeof(param));
        if (c != NULL || strcmp(param, cases[i].param) != 0 || err[0] == '\0')
            fprintf(stderr, "case %zu: %s -> param \"%s\" (%s)\n", i, c ? "accepted" : "refused", param, err);
        CHECK(c == NULL);
        CHECK_EQ_STR(param, cases[i].param);
        CHECK(err[0] != '\0');
        cJSON_Delete(c);
    }
    /* count_tokens needs no max_tokens */
    const char *count = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi there\"}]}";
    char err[256], param[64];
    cJSON *c = llg_anthropic_parse_count(count, strlen(count), err, sizeof(err), param, sizeof(param));
    CHECK(c != NULL);
    CHECK(llg_anthropic_estimate_input(c) >= 2);
    cJSON_Delete(c);
}

/* the rest of the mapping: system blocks, images, documents, tool errors,
 * server tools, tool_choice any/tool/none, parameters */
TEST(anthropic_parse_mapping)
{
    const char *body =
        "{\"model\":\"m\",\"max_tokens\":10,\"system\":[{\"type\":\"text\",\"text\":\"A\"},{\"type\":\"text\",\"text\":\"B\"}],"
        "\"stop_sequences\":[\"X\"],\"temperature\":0.5,\"top_p\":0.9,\"top_k\":5,\"metadata\":{\"user_id\":\"u\"},"
        "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":5000},"
        "\"tool_choice\":{\"type\":\"tool\",\"name\":\"t\",\"disable_parallel_tool_use\":true},"
        "\"tools\":[{\"name\":\"t\",\"input_schema\":{\"type\":\"object\"}},{\"type\":\"web_search_20250305\",\"name\":\"ws\"}],"
        "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"look\"},{\"type\":\"image\",\"source\":{"
        "\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"iVBORw0KGgo=\"}},{\"type\":\"document\",\"source\":{"
        "\"type\":\"base64\",\"media_type\":\"application/pdf\",\"data\":\"JVBERi0=\"},\"title\":\"a.pdf\"}]},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"t\",\"signature\":\"s\"},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"t\",\"input\":{}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"and?\"},{\"type\":\"tool_result\",\"tool_use_id\":"
        "\"toolu_1\",\"is_error\":true,\"content\":[{\"type\":\"text\",\"text\":\"boom\"}]}]}]}";
    char err[256], param[64];
    cJSON *c = llg_anthropic_parse(body, strlen(body), err, sizeof(err), param, sizeof(param));
    CHECK(c != NULL);
    if (c == NULL)
        return;
    const cJSON *msgs = oget(c, "messages");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(msgs, 0), "content"), "A\nB");
    const cJSON *parts = oget(cJSON_GetArrayItem(msgs, 1), "content");
    CHECK_EQ_INT(cJSON_GetArraySize(parts), 3);
    CHECK_EQ_STR(sget(oget(cJSON_GetArrayItem(parts, 1), "image_url"), "url"), "data:image/png;base64,iVBORw0KGgo=");
    CHECK_EQ_STR(sget(oget(cJSON_GetArrayItem(parts, 2), "file"), "file_data"), "data:application/pdf;base64,JVBERi0=");
    CHECK_EQ_STR(sget(oget(cJSON_GetArrayItem(parts, 2), "file"), "filename"), "a.pdf");
    const cJSON *asst = cJSON_GetArrayItem(msgs, 2);
    CHECK(cJSON_IsNull(oget(asst, "content")));
    CHECK_EQ_STR(sget(oget(cJSON_GetArrayItem(oget(asst, "tool_calls"), 0), "function"), "arguments"), "{}");
    /* the tool result comes first, right after the call */
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(msgs, 3), "role"), "tool");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(msgs, 3), "content"), "[error] boom");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(msgs, 4), "role"), "user");
    CHECK_EQ_INT(cJSON_GetArraySize(oget(c, "tools")), 1);
    CHECK_EQ_STR(sget(oget(oget(c, "tool_choice"), "function"), "name"), "t");
    CHECK(cJSON_IsFalse(oget(c, "parallel_tool_calls")));
    CHECK_EQ_STR(cJSON_GetArrayItem(oget(c, "stop"), 0)->valuestring, "X");
    CHECK_EQ_STR(sget(c, "user"), "u");
    CHECK_EQ_STR(sget(c, "reasoning_effort"), "medium");
    CHECK(oget(c, "top_k") == NULL);
    cJSON_Delete(c);
}

/* ---- the Anthropic request built from the canonical one ----------------- */

static cJSON *build(const char *canonical, const char *model, bool stream)
{
    char err[256], param[64];
    cJSON *root = llg_chat_parse(canonical, strlen(canonical), err, sizeof(err), param, sizeof(param));
    if (root == NULL) {
        fprintf(stderr, "canonical refused: %s\n", err);
        return NULL;
    }
    llg_strbuf_t out = {0};
    int rc = llg_anthropic_build(root, model, stream, &out);
    cJSON_Delete(root);
    cJSON *b = rc == 0 ? cJSON_ParseWithLength(out.data, out.len) : NULL;
    llg_strbuf_free(&out);
    return b;
}

TEST(anthropic_build_simple)
{
    size_t len;
    char *in = read_fixture("openai/chat-request.json", &len);
    cJSON *b = build(in, "claude-up", true);
    CHECK(b != NULL);
    CHECK_EQ_STR(sget(b, "model"), "claude-up");
    CHECK_EQ_STR(sget(b, "system"), "Be brief.");
    CHECK_EQ_INT(nget(b, "max_tokens"), 4096);
    CHECK(cJSON_IsTrue(oget(b, "stream")));
    CHECK(oget(b, "stream_options") == NULL);
    const cJSON *msgs = oget(b, "messages");
    CHECK_EQ_INT(cJSON_GetArraySize(msgs), 1);
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(msgs, 0), "role"), "user");
    const cJSON *blk = cJSON_GetArrayItem(oget(cJSON_GetArrayItem(msgs, 0), "content"), 0);
    CHECK_EQ_STR(sget(blk, "type"), "text");
    CHECK_EQ_STR(sget(blk, "text"), "Hi");
    /* what the gateway sends reads back as an Anthropic request */
    char *text = cJSON_PrintUnformatted(b);
    char err[256], param[64];
    cJSON *again = llg_anthropic_parse(text, strlen(text), err, sizeof(err), param, sizeof(param));
    CHECK(again != NULL);
    cJSON_Delete(again);
    cJSON_free(text);
    cJSON_Delete(b);
    b = build(in, "claude-up", false);
    CHECK(oget(b, "stream") == NULL);
    cJSON_Delete(b);
    free(in);
}

TEST(anthropic_build_tools)
{
    const char *canonical =
        "{\"model\":\"gpt\",\"messages\":[{\"role\":\"system\",\"content\":\"A\"},{\"role\":\"developer\",\"content\":\"B\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"look\"},{\"type\":\"image_url\",\"image_url\":{\"url\":"
        "\"data:image/png;base64,iVBORw0KGgo=\"}},{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x.test/a.png\"}}]},"
        "{\"role\":\"user\",\"content\":\"more\"},"
        "{\"role\":\"assistant\",\"content\":\"calling\",\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":"
        "{\"name\":\"get_weather\",\"arguments\":\"{\\\"location\\\":\\\"Paris\\\"}\"}},{\"id\":\"call_2\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_time\",\"arguments\":\"not json\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"21C\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_2\",\"content\":[{\"type\":\"text\",\"text\":\"noon\"}]},"
        "{\"role\":\"user\",\"content\":\"thanks\"},{\"role\":\"assistant\",\"content\":\"\"}],"
        "\"max_tokens\":100,\"stop\":[\"END\"],\"temperature\":1.5,\"top_p\":0.5,\"user\":\"u1\","
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"d\",\"parameters\":{\"type\":"
        "\"object\",\"properties\":{}}}},{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}],"
        "\"tool_choice\":\"required\",\"parallel_tool_calls\":false}";
    cJSON *b = build(canonical, "claude-up", false);
    CHECK(b != NULL);
    if (b == NULL)
        return;
    CHECK_EQ_STR(sget(b, "system"), "A\n\nB");
    const cJSON *msgs = oget(b, "messages");
    CHECK_EQ_INT(cJSON_GetArraySize(msgs), 3);
    const cJSON *u0 = oget(cJSON_GetArrayItem(msgs, 0), "content");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(msgs, 0), "role"), "user");
    CHECK_EQ_INT(cJSON_GetArraySize(u0), 4);
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(u0, 0), "text"), "look");
    const cJSON *img = oget(cJSON_GetArrayItem(u0, 1), "source");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(u0, 1), "type"), "image");
    CHECK_EQ_STR(sget(img, "type"), "base64");
    CHECK_EQ_STR(sget(img, "media_type"), "image/png");
    CHECK_EQ_STR(sget(img, "data"), "iVBORw0KGgo=");
    CHECK_EQ_STR(sget(oget(cJSON_GetArrayItem(u0, 2), "source"), "type"), "url");
    CHECK_EQ_STR(sget(oget(cJSON_GetArrayItem(u0, 2), "source"), "url"), "https://x.test/a.png");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(u0, 3), "text"), "more");
    const cJSON *a = oget(cJSON_GetArrayItem(msgs, 1), "content");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(msgs, 1), "role"), "assistant");
    CHECK_EQ_INT(cJSON_GetArraySize(a), 3);
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(a, 0), "text"), "calling");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(a, 1), "type"), "tool_use");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(a, 1), "id"), "call_1");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(a, 1), "name"), "get_weather");
    CHECK_EQ_STR(sget(oget(cJSON_GetArrayItem(a, 1), "input"), "location"), "Paris");
    CHECK(cJSON_IsObject(oget(cJSON_GetArrayItem(a, 2), "input")) && oget(cJSON_GetArrayItem(a, 2), "input")->child == NULL);
    const cJSON *u1 = oget(cJSON_GetArrayItem(msgs, 2), "content");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(msgs, 2), "role"), "user");
    CHECK_EQ_INT(cJSON_GetArraySize(u1), 3);
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(u1, 0), "type"), "tool_result");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(u1, 0), "tool_use_id"), "call_1");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(u1, 0), "content"), "21C");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(u1, 1), "tool_use_id"), "call_2");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(u1, 1), "content"), "noon");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(u1, 2), "text"), "thanks");
    CHECK_EQ_INT(nget(b, "max_tokens"), 100);
    CHECK_EQ_STR(cJSON_GetArrayItem(oget(b, "stop_sequences"), 0)->valuestring, "END");
    CHECK(nget(b, "temperature") == 1);
    CHECK(nget(b, "top_p") == 0.5);
    CHECK_EQ_STR(sget(oget(b, "metadata"), "user_id"), "u1");
    CHECK_EQ_INT(cJSON_GetArraySize(oget(b, "tools")), 2);
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(oget(b, "tools"), 0), "description"), "d");
    CHECK_EQ_STR(sget(oget(cJSON_GetArrayItem(oget(b, "tools"), 1), "input_schema"), "type"), "object");
    CHECK_EQ_STR(sget(oget(b, "tool_choice"), "type"), "any");
    CHECK(cJSON_IsTrue(oget(oget(b, "tool_choice"), "disable_parallel_tool_use")));
    CHECK(oget(b, "stream") == NULL);
    cJSON_Delete(b);
}

TEST(anthropic_build_choices)
{
    static const struct {
        const char *choice, *type, *name;
        bool no_parallel;
    } cases[] = {
        {"\"auto\"", "auto", NULL, false},
        {"\"none\"", "none", NULL, false},
        {"\"required\"", "any", NULL, false},
        {"{\"type\":\"function\",\"function\":{\"name\":\"f\"}}", "tool", "f", false},
        {NULL, NULL, NULL, false},
        {NULL, "auto", NULL, true},
        {"\"none\"", "none", NULL, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char canonical[512];
        snprintf(canonical, sizeof(canonical),
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"type\":\"function\","
                 "\"function\":{\"name\":\"f\"}}]%s%s%s}",
                 cases[i].choice ? ",\"tool_choice\":" : "", cases[i].choice ? cases[i].choice : "",
                 cases[i].no_parallel ? ",\"parallel_tool_calls\":false" : "");
        cJSON *b = build(canonical, "m", false);
        const cJSON *tc = oget(b, "tool_choice");
        if (cases[i].type == NULL) {
            CHECK(tc == NULL);
        } else {
            CHECK_EQ_STR(sget(tc, "type"), cases[i].type);
            if (cases[i].name)
                CHECK_EQ_STR(sget(tc, "name"), cases[i].name);
            CHECK_EQ_INT(cJSON_IsTrue(oget(tc, "disable_parallel_tool_use")),
                         cases[i].no_parallel && strcmp(cases[i].type, "none") != 0);
        }
        cJSON_Delete(b);
    }
    /* reasoning_effort: thinking with a budget below max_tokens, no temperature */
    cJSON *b = build("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"reasoning_effort\":\"medium\","
                     "\"max_tokens\":100,\"temperature\":0.2,\"stop\":\"S\"}",
                     "m", false);
    CHECK_EQ_STR(sget(oget(b, "thinking"), "type"), "enabled");
    CHECK_EQ_INT(nget(oget(b, "thinking"), "budget_tokens"), 8192);
    CHECK(nget(b, "max_tokens") > 8192);
    CHECK(oget(b, "temperature") == NULL);
    CHECK_EQ_STR(cJSON_GetArrayItem(oget(b, "stop_sequences"), 0)->valuestring, "S");
    cJSON_Delete(b);
    /* max_completion_tokens wins over max_tokens */
    b = build("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_completion_tokens\":33,"
              "\"max_tokens\":44}",
              "m", false);
    CHECK_EQ_INT(nget(b, "max_tokens"), 33);
    cJSON_Delete(b);
    /* messages not an array: no request */
    cJSON *root = cJSON_Parse("{\"model\":\"m\",\"messages\":5}");
    llg_strbuf_t out = {0};
    CHECK_EQ_INT(llg_anthropic_build(root, "m", false, &out), -1);
    llg_strbuf_free(&out);
    cJSON_Delete(root);
}

TEST(anthropic_url)
{
    char url[128];
    CHECK_EQ_INT(llg_anthropic_url("https://api.anthropic.com", "/messages", url, sizeof(url)), 0);
    CHECK_EQ_STR(url, "https://api.anthropic.com/v1/messages");
    CHECK_EQ_INT(llg_anthropic_url("http://h/v1", "/messages/count_tokens", url, sizeof(url)), 0);
    CHECK_EQ_STR(url, "http://h/v1/messages/count_tokens");
    CHECK_EQ_INT(llg_anthropic_url("http://a-very-long-host.example", "/messages", url, 16), -1);
}

/* ---- HTTP errors ---------------------------------------------------------- */

TEST(http_errors)
{
    size_t len;
    char *hdr = read_fixture("anthropic/error-429-headers.txt", &len);
    const char *body429 = strstr(hdr, "\n\n") + 2;
    const char *auth = "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"invalid x-api-key\"}}";
    const char *over = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}";
    const char *bad =
        "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"max_tokens: Field required\"}}";
    static const struct {
        int status;
        int body; /* 0 auth, 1 429, 2 overloaded, 3 bad request */
        int want;
        llg_outcome_t outcome;
        const char *code;
    } cases[] = {
        {401, 0, 502, LLG_OUTCOME_AUTH, "upstream_auth_failed"},
        {403, 0, 502, LLG_OUTCOME_AUTH, "upstream_auth_failed"},
        {429, 1, 429, LLG_OUTCOME_RATE_LIMITED, "rate_limit_exceeded"},
        {529, 2, 503, LLG_OUTCOME_SERVER, "overloaded"},
        {500, 2, 503, LLG_OUTCOME_SERVER, "overloaded"},
        {400, 3, 400, LLG_OUTCOME_CLIENT, "invalid_request_error"},
        {404, 3, 404, LLG_OUTCOME_CLIENT, "model_not_found"},
        {413, 3, 413, LLG_OUTCOME_CLIENT, "invalid_request_error"},
        {402, 3, 402, LLG_OUTCOME_PAYMENT, "insufficient_quota"},
    };
    const char *bodies[] = {auth, body429, over, bad};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        llg_xlate_error_t err;
        const char *b = bodies[cases[i].body];
        llg_anthropic_http_error(cases[i].status, b, strlen(b), &err);
        if (err.http_status != cases[i].want)
            fprintf(stderr, "anthropic %d -> %d\n", cases[i].status, err.http_status);
        CHECK_EQ_INT(err.http_status, cases[i].want);
        CHECK_EQ_INT(err.outcome, cases[i].outcome);
        CHECK_EQ_STR(err.code, cases[i].code);
        CHECK(err.message[0] != '\0');
    }
    llg_xlate_error_t err;
    llg_anthropic_http_error(401, auth, strlen(auth), &err);
    CHECK(strstr(err.message, "x-api-key") == NULL); /* the upstream's words on the key stay out */
    /* a rate limit's text may name the key's organisation: llmgate's words */
    llg_anthropic_http_error(429, body429, strlen(body429), &err);
    CHECK_EQ_STR(err.message, "The upstream provider's rate limit was reached.");
    llg_anthropic_http_error(503, "<html>busy</html>", 17, &err);
    CHECK_EQ_INT(err.http_status, 502);
    CHECK_EQ_INT(err.outcome, LLG_OUTCOME_SERVER);
    llg_anthropic_http_error(400, "{\"type\":\"error\",\"error\":{\"type\":\"billing_error\",\"message\":\"credit\"}}", 68, &err);
    CHECK_EQ_INT(err.http_status, 402);
    CHECK_EQ_INT(err.outcome, LLG_OUTCOME_PAYMENT);
    CHECK(llg_egress_for(LLG_PROVIDER_ANTHROPIC)->http_error == llg_anthropic_http_error);
    free(hdr);

    /* openai-type upstreams */
    char *e401 = read_fixture("openai/error-401.json", &len);
    llg_openai_http_error(401, e401, len, &err);
    CHECK_EQ_INT(err.http_status, 502);
    CHECK_EQ_INT(err.outcome, LLG_OUTCOME_AUTH);
    CHECK(strstr(err.message, "sk-") == NULL); /* OpenAI's text quotes the key */
    free(e401);
    const char *rl = "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}";
    llg_openai_http_error(429, rl, strlen(rl), &err);
    CHECK_EQ_INT(err.http_status, 429);
    CHECK_EQ_INT(err.outcome, LLG_OUTCOME_RATE_LIMITED);
    CHECK_EQ_STR(err.message, "The upstream provider's rate limit was reached.");
    llg_openai_http_error(529, over, strlen(over), &err);
    CHECK_EQ_INT(err.http_status, 502);
    CHECK_EQ_INT(err.outcome, LLG_OUTCOME_SERVER);
    const char *br = "{\"error\":{\"message\":\"bad temperature\",\"type\":\"invalid_request_error\",\"code\":null}}";
    llg_openai_http_error(400, br, strlen(br), &err);
    CHECK_EQ_INT(err.http_status, 400);
    CHECK_EQ_INT(err.outcome, LLG_OUTCOME_CLIENT);
    CHECK_EQ_STR(err.type, "invalid_request_error");
    CHECK_EQ_STR(err.message, "bad temperature");
    char *e402 = read_fixture("openrouter/error-402.json", &len);
    llg_openai_http_error(402, e402, len, &err);
    CHECK_EQ_INT(err.http_status, 402);
    CHECK_EQ_INT(err.outcome, LLG_OUTCOME_PAYMENT);
    free(e402);
    CHECK(llg_egress_for(LLG_PROVIDER_OPENAI)->http_error == llg_openai_http_error);
    CHECK(llg_egress_for(LLG_PROVIDER_ECHO) == NULL);
    CHECK(llg_egress_for((llg_provider_type_t)99) == NULL);
}

TEST(anthropic_error_types)
{
    static const struct {
        int status;
        const char *type, *want;
    } cases[] = {
        {400, NULL, "invalid_request_error"},
        {401, NULL, "authentication_error"},
        {403, NULL, "permission_error"},
        {404, NULL, "not_found_error"},
        {413, NULL, "request_too_large"},
        {429, NULL, "rate_limit_error"},
        {500, NULL, "api_error"},
        {503, NULL, "overloaded_error"},
        {529, NULL, "overloaded_error"},
        {504, NULL, "timeout_error"},
        {402, NULL, "billing_error"},
        {422, "server_error", "invalid_request_error"},
        {401, "invalid_request_error", "authentication_error"},
        {500, "invalid_request_error", "api_error"},
        {0, "overloaded_error", "overloaded_error"},
        {0, "rate_limit_exceeded", "rate_limit_error"},
        {0, "server_error", "api_error"},
        {0, NULL, "api_error"},
        {400, "rate_limit_error", "rate_limit_error"},
        {502, "server_error", "api_error"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = llg_anthropic_error_type(cases[i].status, cases[i].type);
        if (strcmp(got, cases[i].want) != 0)
            fprintf(stderr, "case %zu: %d %s\n", i, cases[i].status, cases[i].type ? cases[i].type : "(null)");
        CHECK_EQ_STR(got, cases[i].want);
    }
    llg_strbuf_t b = {0};
    llg_anthropic_error_body(&b, 429, "rate_limit_exceeded", "rate_limit_exceeded", "x", "slow \xff down");
    cJSON *j = cJSON_ParseWithLength(b.data, b.len);
    CHECK_EQ_STR(sget(j, "type"), "error");
    CHECK_EQ_STR(sget(oget(j, "error"), "type"), "rate_limit_error");
    CHECK(llg_utf8_valid(b.data, b.len));
    CHECK(oget(oget(j, "error"), "code") == NULL && oget(oget(j, "error"), "param") == NULL);
    cJSON_Delete(j);
    llg_strbuf_free(&b);
    /* stop and finish reasons */
    CHECK_EQ_STR(llg_anthropic_stop_reason("stop"), "end_turn");
    CHECK_EQ_STR(llg_anthropic_stop_reason("length"), "max_tokens");
    CHECK_EQ_STR(llg_anthropic_stop_reason("tool_calls"), "tool_use");
    CHECK_EQ_STR(llg_anthropic_stop_reason("content_filter"), "refusal");
    CHECK_EQ_STR(llg_anthropic_stop_reason("stop_sequence"), "stop_sequence");
    CHECK_EQ_STR(llg_anthropic_stop_reason("weird"), "end_turn");
    CHECK_EQ_STR(llg_anthropic_finish_reason("tool_use"), "tool_calls");
    CHECK_EQ_STR(llg_anthropic_finish_reason("max_tokens"), "length");
    CHECK_EQ_STR(llg_anthropic_finish_reason("refusal"), "content_filter");
    CHECK_EQ_STR(llg_anthropic_finish_reason("pause_turn"), "stop");
}

/* ---- the answer's invariants with the Anthropic renderer ---------------- */

TEST(answer_blocks)
{
    llg_xlate_params_t p = params_for(&llg_render_anthropic, true, false);
    llg_answer_t a;
    llg_answer_init(&a, &p);
    llg_strbuf_t out = {0};
    llg_answer_content(&a, &out, "", 0); /* nothing */
    CHECK_EQ_INT(out.len, 0);
    CHECK(!a.committed);
    llg_answer_content(&a, &out, "one ", 4);
    llg_answer_content(&a, &out, "two", 3);
    llg_answer_reasoning(&a, &out, "think", 5);
    llg_answer_content(&a, &out, "three", 5);
    unsigned t0 = llg_answer_tool_start(&a, &out, "id0", 3, "f", 1);
    unsigned t1 = llg_answer_tool_start(&a, &out, "id1", 3, "g", 1);
    llg_answer_tool_args(&a, &out, t0, "{\"a\":1}", 7);
    llg_answer_tool_args(&a, &out, t1, "{}", 2);
    llg_answer_tool_args(&a, &out, 9, "{}", 2); /* no such tool: nothing */
    CHECK_EQ_INT(t0, 0);
    CHECK_EQ_INT(t1, 1);
    llg_answer_finish(&a, &out, NULL);
    size_t len = out.len;
    llg_answer_content(&a, &out, "late", 4);
    llg_answer_finish(&a, &out, "stop");
    llg_xlate_error_t err = {.http_status = 500};
    snprintf(err.message, sizeof(err.message), "late");
    CHECK_EQ_INT(llg_answer_fail(&a, &out, &err), -1);
    CHECK_EQ_INT(out.len, len); /* nothing after the end */
    CHECK_EQ_INT(err.http_status, 0);
    anth_t m;
    parse_anth(out.data, out.len, &m);
    CHECK(m.well_formed);
    CHECK(!m.empty_text_block);
    CHECK_EQ_INT(m.nblocks, 5);
    const cJSON *c = oget(m.message, "content");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(c, 0), "text"), "one two");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(c, 1), "thinking"), "think");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(c, 2), "text"), "three");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(c, 3), "id"), "id0");
    CHECK_EQ_INT(nget(oget(cJSON_GetArrayItem(c, 3), "input"), "a"), 1);
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(c, 4), "name"), "g");
    CHECK_EQ_STR(sget(m.message, "stop_reason"), "tool_use");
    /* the late arguments of tool 0 keep its block's index (3), not the open one's (4) */
    CHECK(strstr(out.data, "{\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"input_json_delta\","
                           "\"partial_json\":\"{\\\"a\\\":1}\"}}") != NULL);
    CHECK(strstr(out.data, "late") == NULL);
    CHECK_EQ_STR(m.last, "message_stop");
    anth_free(&m);
    llg_strbuf_free(&out);
    llg_answer_dispose(&a);
}

TEST(answer_fail)
{
    /* before the first byte: nothing written, the status kept */
    llg_xlate_params_t p = params_for(&llg_render_anthropic, true, false);
    llg_answer_t a;
    llg_answer_init(&a, &p);
    llg_strbuf_t out = {0};
    llg_xlate_error_t err = {.http_status = 503};
    snprintf(err.type, sizeof(err.type), "overloaded_error");
    snprintf(err.message, sizeof(err.message), "Overloaded");
    CHECK_EQ_INT(llg_answer_fail(&a, &out, &err), -1);
    CHECK_EQ_INT(out.len, 0);
    CHECK_EQ_INT(err.http_status, 503);
    llg_answer_content(&a, &out, "x", 1); /* ended: nothing */
    CHECK_EQ_INT(out.len, 0);
    llg_answer_dispose(&a);

    /* after it: `event: error`, status 0 */
    llg_answer_init(&a, &p);
    llg_answer_content(&a, &out, "partial", 7);
    CHECK(a.committed);
    err.http_status = 503;
    CHECK_EQ_INT(llg_answer_fail(&a, &out, &err), -1);
    CHECK_EQ_INT(err.http_status, 0);
    anth_t m;
    parse_anth(out.data, out.len, &m);
    CHECK(m.well_formed && m.grammar);
    CHECK(m.error);
    CHECK_EQ_STR(m.error_type, "overloaded_error");
    CHECK(strstr(out.data, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":"
                           "\"Overloaded\"}}\n\n") != NULL);
    size_t len = out.len;
    llg_answer_finish(&a, &out, NULL);
    CHECK_EQ_INT(out.len, len);
    anth_free(&m);
    llg_strbuf_free(&out);
    llg_answer_dispose(&a);

    /* a stream that ends with no piece still opens and closes the message */
    llg_answer_init(&a, &p);
    llg_answer_finish(&a, &out, "length");
    parse_anth(out.data, out.len, &m);
    CHECK(m.well_formed && m.grammar);
    CHECK_EQ_INT(m.nblocks, 0);
    CHECK_EQ_STR(sget(m.message, "stop_reason"), "max_tokens");
    anth_free(&m);
    llg_strbuf_free(&out);
    llg_answer_dispose(&a);
}

TEST(answer_whole_anthropic)
{
    llg_xlate_params_t p = params_for(&llg_render_anthropic, false, false);
    llg_answer_t a;
    llg_answer_init(&a, &p);
    llg_strbuf_t out = {0};
    llg_answer_reasoning(&a, &out, "r", 1);
    llg_answer_content(&a, &out, "bad \xff byte", 10);
    llg_answer_tool_call(&a, &out, "c1", 2, "f", 1, "not json", 8);
    llg_answer_tool_call(&a, &out, "c2", 2, "g", 1, "", 0);
    llg_answer_tool_call(&a, &out, "c3", 2, "h", 1, " {\"k\":[1]} ", 11);
    CHECK_EQ_INT(out.len, 0);
    llg_answer_set_usage(&a, 11, 22);
    llg_answer_finish(&a, &out, NULL);
    CHECK(llg_utf8_valid(out.data, out.len));
    cJSON *j = cJSON_ParseWithLength(out.data, out.len);
    CHECK(cJSON_IsObject(j));
    const cJSON *c = oget(j, "content");
    CHECK_EQ_INT(cJSON_GetArraySize(c), 5);
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(c, 0), "type"), "thinking");
    CHECK_EQ_STR(sget(cJSON_GetArrayItem(c, 1), "text"), "bad \xef\xbf\xbd byte");
    CHECK_EQ_STR(sget(oget(cJSON_GetArrayItem(c, 2), "input"), "arguments"), "not json");
    CHECK(cJSON_IsObject(oget(cJSON_GetArrayItem(c, 3), "input")) && oget(cJSON_GetArrayItem(c, 3), "input")->child == NULL);
    CHECK(cJSON_IsArray(oget(oget(cJSON_GetArrayItem(c, 4), "input"), "k")));
    CHECK_EQ_STR(sget(j, "stop_reason"), "tool_use");
    CHECK_EQ_INT(nget(oget(j, "usage"), "input_tokens"), 11);
    CHECK_EQ_INT(nget(oget(j, "usage"), "output_tokens"), 22);
    cJSON_Delete(j);
    llg_strbuf_free(&out);
    llg_answer_dispose(&a);
}

/* ---- adapter bugs (see the commit message) ------------------------------- */

/* An upstream finish_reason is written to the client as it came: it must be
 * valid UTF-8 like every other upstream string (answer.h). */
TEST(openai_finish_reason_utf8)
{
    const char *in = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":\"tool_\xff\xfe\"}]}\n\n"
                     "data: [DONE]\n\n";
    const llg_egress_t *eg = llg_egress_for(LLG_PROVIDER_OPENAI);
    for (int stream = 0; stream < 2; stream++) {
        llg_xlate_params_t p = params_for(&llg_render_openai, stream == 1, false);
        const char *body =
            stream ? in : "{\"choices\":[{\"index\":0,\"message\":{\"content\":\"x\"},\"finish_reason\":\"st\xc3\"}]}";
        run_t r;
        run_egress(eg, &p, body, strlen(body), strlen(body), 0, &r);
        CHECK_EQ_INT(r.rc, 0);
        CHECK(llg_utf8_valid(r.out.data, r.out.len));
        llg_strbuf_free(&r.out);
    }
    /* cut at 31 bytes inside a character */
    const char *longer = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":"
                         "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9\"}]}\n\ndata: [DONE]\n\n";
    llg_xlate_params_t p = params_for(&llg_render_openai, true, false);
    run_t r;
    run_egress(eg, &p, longer, strlen(longer), 0, 0, &r);
    CHECK_EQ_INT(r.rc, 0);
    CHECK(llg_utf8_valid(r.out.data, r.out.len));
    llg_strbuf_free(&r.out);
}

/* An error whose type is "" must still carry a code (every other failure does). */
TEST(anthropic_error_empty_type)
{
    const char *in = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"\",\"message\":\"m\"}}\n\n";
    const llg_egress_t *eg = llg_egress_for(LLG_PROVIDER_ANTHROPIC);
    llg_xlate_params_t p = params_for(&llg_render_openai, true, false);
    run_t r;
    run_egress(eg, &p, in, strlen(in), 0, 0, &r);
    CHECK_EQ_INT(r.rc, -1);
    CHECK_EQ_INT(r.err.http_status, 502);
    CHECK(r.err.code[0] != '\0');
    llg_strbuf_free(&r.out);
}

/* the same for an OpenAI error chunk whose code is "" (found by
 * fuzz_openai_stream: a code of NUL bytes reads as "") */
TEST(openai_error_empty_code)
{
    const char *in = "data: {\"error\":{\"code\":\"\",\"message\":\"m\"}}\n\n";
    llg_xlate_params_t p = params_for(&llg_render_anthropic, true, false);
    run_t r;
    run_egress(llg_egress_for(LLG_PROVIDER_OPENAI), &p, in, strlen(in), 0, 0, &r);
    CHECK_EQ_INT(r.rc, -1);
    CHECK_EQ_STR(r.err.code, "upstream_error");
    llg_strbuf_free(&r.out);
    /* {"error":""}: a message of its own, never an empty one */
    in = "data: {\"error\":\"\"}\n\n";
    run_egress(llg_egress_for(LLG_PROVIDER_OPENAI), &p, in, strlen(in), 0, 0, &r);
    CHECK_EQ_INT(r.rc, -1);
    CHECK(r.err.message[0] != '\0');
    llg_strbuf_free(&r.out);
    /* a 4xx without a code of its own gets one */
    llg_xlate_error_t err;
    llg_openai_http_error(418, "teapot", 6, &err);
    CHECK_EQ_STR(err.code, "invalid_request");
}

/* Numbers out of every integer type's range (an index, a token count) are
 * converted to int, long or uint64_t as they are: undefined behaviour
 * (UBSan: "1e+300 is outside the range of representable values"); the
 * sanitizer pass of tests/run reports it. */
TEST(huge_numbers)
{
    static const struct {
        llg_provider_type_t type;
        const char *body;
    } cases[] = {
        {LLG_PROVIDER_OPENAI, "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1e300,\"id\":\"c\","
                              "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"stop\"}]}\n\n"
                              "data: [DONE]\n\n"},
        {LLG_PROVIDER_OPENAI, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}],"
                              "\"usage\":{\"prompt_tokens\":1e300,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n"},
        {LLG_PROVIDER_ANTHROPIC, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{"
                                 "\"input_tokens\":1e300,\"output_tokens\":1}}}\n\n"
                                 "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1e300,"
                                 "\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n"
                                 "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        llg_xlate_params_t p = params_for(&llg_render_anthropic, true, false);
        run_t r;
        run_egress(llg_egress_for(cases[i].type), &p, cases[i].body, strlen(cases[i].body), 0, 0, &r);
        CHECK_EQ_INT(r.rc, 0);
        anth_t a;
        parse_anth(r.out.data, r.out.len, &a);
        CHECK(a.well_formed && a.grammar);
        anth_free(&a);
        llg_strbuf_free(&r.out);
    }
}

int main(int argc, char **argv)
{
    adapter_fixtures_init(argc, argv);
    RUN(anthropic_stream_text_tool_to_openai);
    RUN(anthropic_stream_thinking_to_openai);
    RUN(anthropic_stream_error_before_content);
    RUN(anthropic_stream_error_after_content);
    RUN(anthropic_stream_truncated);
    RUN(anthropic_stream_round_trip);
    RUN(openai_stream_to_anthropic);
    RUN(openai_midstream_error_to_anthropic);
    RUN(openai_stream_tools_to_anthropic);
    RUN(anthropic_message_to_openai);
    RUN(openai_completion_to_anthropic);
    RUN(anthropic_parse_request);
    RUN(anthropic_parse_refusals);
    RUN(anthropic_parse_mapping);
    RUN(anthropic_build_simple);
    RUN(anthropic_build_tools);
    RUN(anthropic_build_choices);
    RUN(anthropic_url);
    RUN(http_errors);
    RUN(anthropic_error_types);
    RUN(answer_blocks);
    RUN(answer_fail);
    RUN(answer_whole_anthropic);
    RUN(openai_finish_reason_utf8);
    RUN(anthropic_error_empty_type);
    RUN(openai_error_empty_code);
    RUN(huge_numbers);
    TEST_MAIN_END();
}
