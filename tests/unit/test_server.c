/*
 * tests/unit/test_server.c: unit tests of the request path's pure parts:
 * UTF-8 validation, JSON escaping, the chat request validator, routing, the
 * echo word splitter and the OpenAI-form writer.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "providers/echo.h"
#include "providers/openai_form.h"
#include "server/chat.h"
#include "server/memtrim.h"
#include "server/respond.h"
#include "server/route.h"
#include "providers/strbuf.h"
#include "server/cluster.h"
#include "tests/test.h"

TEST(utf8)
{
    CHECK(llg_utf8_valid("", 0));
    CHECK(llg_utf8_valid("hello world, plain ascii text", 29));
    CHECK(llg_utf8_valid("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15));
    CHECK(!llg_utf8_valid("\xc3", 1));             /* truncated */
    CHECK(!llg_utf8_valid("abc\xc3", 4));          /* truncated at end */
    CHECK(!llg_utf8_valid("\xc0\xaf", 2));         /* overlong */
    CHECK(!llg_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
    CHECK(!llg_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    CHECK(!llg_utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    CHECK(!llg_utf8_valid("\xff", 1));
    CHECK(!llg_utf8_valid("12345678\x80", 9)); /* after the 8-byte fast path */
    CHECK(!llg_utf8_valid("\xe2\x82", 2));
}

TEST(json_escape)
{
    llg_strbuf_t b = {0};
    llg_strbuf_append_json_string(&b, "a\"b\\c\n\t\x01\xc3\xa9", 10);
    CHECK_EQ_STR(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001\xc3\xa9\"");
    llg_strbuf_reset(&b);
    llg_strbuf_append_json_string(&b, "", 0);
    CHECK_EQ_STR(b.data, "\"\"");
    llg_strbuf_free(&b);
}

static void expect_invalid(const char *body, const char *param, const char *fragment)
{
    char err[512], p[64];
    cJSON *root = llg_chat_parse(body, strlen(body), err, sizeof(err), p, sizeof(p));
    CHECK(root == NULL);
    if (root != NULL) {
        cJSON_Delete(root);
        fprintf(stderr, "  body accepted: %s\n", body);
        return;
    }
    if (strcmp(p, param) != 0 || strstr(err, fragment) == NULL) {
        fprintf(stderr, "  body %s: param \"%s\" message \"%s\"; expected param \"%s\" and \"%s\"\n", body, p, err, param,
                fragment);
        test_current_failed_ = 1;
    }
}

TEST(chat_parse)
{
    expect_invalid("", "", "empty");
    expect_invalid("{", "", "could not parse");
    expect_invalid("{\"messages\":[]} x", "", "unexpected data");
    expect_invalid("null", "", "not null");
    expect_invalid("[1]", "", "not an array");
    expect_invalid("42", "", "not a number");
    expect_invalid("\"s\"", "", "not a string");
    expect_invalid("{\"model\":\"echo\"}", "messages", "Missing required parameter: 'messages'");
    expect_invalid("{\"messages\":{}}", "messages", "expected an array");
    expect_invalid("{\"messages\":[],\"model\":3}", "model", "expected a string");
    expect_invalid("{\"messages\":[],\"stream\":\"yes\"}", "stream", "expected a boolean");
    expect_invalid("{\"messages\":[1]}", "messages[0]", "expected an object");
    expect_invalid("{\"messages\":[{\"content\":\"x\"}]}", "messages[0].role", "Missing");
    expect_invalid("{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages[0].content", "string or an array");
    expect_invalid("{\"messages\":[],\"stream_options\":1}", "stream_options", "expected an object");
    expect_invalid("{\"messages\":[],\"stream_options\":{\"include_usage\":1}}", "stream_options.include_usage", "boolean");
    expect_invalid("{\"messages\":[],\"model\":\"a\",\"model\":\"b\"}", "model", "Duplicate key");
    expect_invalid("{\"messages\":[],\"model\":\"a\\u0000b\"}", "", "NUL");
    expect_invalid("{\"messages\":\"\xff\"}", "", "UTF-8");

    char err[512], p[64];
    const char *ok = "{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"hi \\\\u0000 there\"}],"
                     "\"stream\":true,\"stream_options\":{\"include_usage\":true}}  \n";
    cJSON *root = llg_chat_parse(ok, strlen(ok), err, sizeof(err), p, sizeof(p));
    CHECK(root != NULL);
    if (root != NULL)
        CHECK_EQ_STR(cJSON_GetObjectItem(root, "model")->valuestring, "echo");
    cJSON_Delete(root);

    /* a duplicate among many keys is found wherever it is */
    llg_strbuf_t many = {0};
    llg_strbuf_appends(&many, "{\"messages\":[],\"k500\":0");
    for (int k = 0; k < 1000; k++)
        llg_strbuf_appendf(&many, ",\"k%d\":%d", k, k);
    llg_strbuf_appends(&many, "}");
    root = llg_chat_parse(many.data, many.len, err, sizeof(err), p, sizeof(p));
    CHECK(root == NULL);
    CHECK_EQ_STR(p, "k500");
    cJSON_Delete(root);
    llg_strbuf_free(&many);

    /* a raw NUL would end the string cJSON reads: refused */
    static const char raw_nul[] = "{\"messages\":[],\"model\":\"echo\0other\"}";
    root = llg_chat_parse(raw_nul, sizeof(raw_nul) - 1, err, sizeof(err), p, sizeof(p));
    CHECK(root == NULL);
    CHECK(strstr(err, "NUL") != NULL);
    cJSON_Delete(root);

    /* nesting far past the parser's limit is refused, not a crash */
    size_t depth = 200000;
    char *deep = malloc(depth * 2 + 64);
    size_t n = (size_t)sprintf(deep, "{\"messages\":[],\"x\":");
    for (size_t i = 0; i < depth; i++)
        deep[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    root = llg_chat_parse(deep, n, err, sizeof(err), p, sizeof(p));
    CHECK(root == NULL);
    cJSON_Delete(root);
    free(deep);
}

/* A long duplicate key is echoed cut on a character boundary: the param and
 * message go into a JSON error body, which must stay valid UTF-8 (found by
 * reading the fuzz_request checks; the old code cut at 63 and 64 bytes). */
TEST(chat_parse_duplicate_key_utf8)
{
    char err[512], p[64];
    /* 62 + 2 bytes: param (63 bytes max) would end inside the e-acute */
    const char *k1 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9";
    /* 63 + 3 bytes: the message (64 bytes of it) would end inside the euro sign */
    const char *k2 = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\xe2\x82\xac";
    const char *keys[] = {k1, k2};
    for (int i = 0; i < 2; i++) {
        llg_strbuf_t b = {0};
        llg_strbuf_appendf(&b, "{\"%s\":1,\"messages\":[],\"%s\":2}", keys[i], keys[i]);
        cJSON *root = llg_chat_parse(b.data, b.len, err, sizeof(err), p, sizeof(p));
        CHECK(root == NULL);
        CHECK(strncmp(err, "Duplicate key '", 15) == 0);
        CHECK(llg_utf8_valid(err, strlen(err)));
        CHECK(llg_utf8_valid(p, strlen(p)));
        CHECK(strncmp(p, keys[i], strlen(p)) == 0 && strlen(p) >= 62);
        cJSON_Delete(root);
        llg_strbuf_free(&b);
    }
}

/* cJSON reads a \u escape without four hex digits as U+0000 (so a key
 * "model\uZZZZjunk" was read as "model"): refused like \u0000 (found by
 * tests/fuzz/fuzz_json_edit). An escaped backslash before a u is no escape. */
TEST(chat_parse_bad_u_escape)
{
    expect_invalid("{\"model\\uZZZZjunk\":\"echo\",\"messages\":[]}", "", "invalid \\u escape");
    expect_invalid("{\"model\":\"echo\\u00e\",\"messages\":[]}", "", "invalid \\u escape");
    expect_invalid("{\"messages\":[],\"x\":\"\\u12", "", "invalid \\u escape");
    char err[512], p[64];
    const char *ok = "{\"model\":\"echo\",\"messages\":[],\"x\":\"\\\\uZZZZ \\u00e9 \\uD83D\\uDE00\"}";
    cJSON *root = llg_chat_parse(ok, strlen(ok), err, sizeof(err), p, sizeof(p));
    CHECK(root != NULL);
    if (root != NULL)
        CHECK_EQ_STR(cJSON_GetObjectItem(root, "x")->valuestring, "\\uZZZZ \xc3\xa9 \xf0\x9f\x98\x80");
    cJSON_Delete(root);
}

TEST(route)
{
    char *p1_models[] = {"gpt-*"};
    char *p2_models[] = {"*"};
    llg_conf_kv_t map[] = {{"fast", "gpt-4o-mini"}};
    llg_conf_provider_t providers[2];
    memset(providers, 0, sizeof(providers));
    providers[0].name = "a";
    providers[0].models = (llg_conf_strv_t){p1_models, 1};
    providers[0].model_map = (llg_conf_kvv_t){map, 1};
    providers[1].name = "b";
    providers[1].models = (llg_conf_strv_t){p2_models, 1};
    llg_conf_t conf;
    memset(&conf, 0, sizeof(conf));
    conf.providers = providers;
    conf.provider_count = 2;

    const char *up = NULL;
    CHECK_EQ_INT(llg_route(&conf, "gpt-4o", &up), 0);
    CHECK_EQ_STR(up, "gpt-4o");
    CHECK_EQ_INT(llg_route(&conf, "fast", &up), 0);
    CHECK_EQ_STR(up, "gpt-4o-mini");
    CHECK_EQ_INT(llg_route(&conf, "llama", &up), 1);
    conf.provider_count = 1;
    CHECK_EQ_INT(llg_route(&conf, "llama", &up), -1);

    char *allow[] = {"echo", "gpt-4o*"};
    llg_conf_token_t tok;
    memset(&tok, 0, sizeof(tok));
    CHECK(llg_token_allows(&tok, "anything"));
    tok.models = (llg_conf_strv_t){allow, 2};
    CHECK(llg_token_allows(&tok, "echo"));
    CHECK(llg_token_allows(&tok, "gpt-4o-mini"));
    CHECK(!llg_token_allows(&tok, "echo-2"));
}

TEST(echo_words)
{
    const char *t = "hello big  world ";
    size_t n = strlen(t), pos = 0;
    const char *expect[] = {"hello", " big", "  world", " "};
    for (size_t i = 0; i < 4; i++) {
        size_t end = llg_echo_next_word(t, n, pos);
        CHECK_EQ_INT(end - pos, strlen(expect[i]));
        CHECK(memcmp(t + pos, expect[i], end - pos) == 0);
        pos = end;
    }
    CHECK_EQ_INT(pos, n);
}

static cJSON *parse_event(const char *ev)
{
    CHECK(strncmp(ev, "data: ", 6) == 0);
    const char *end = strstr(ev, "\n\n");
    CHECK(end != NULL);
    return cJSON_ParseWithLength(ev + 6, (size_t)(end - ev - 6));
}

static int tool_call(const char *text, const char *want_name, const char *want_args)
{
    const char *name, *args;
    size_t nl, al;
    if (!llg_echo_tool_call(text, strlen(text), &name, &nl, &args, &al))
        return want_name == NULL;
    return want_name != NULL && nl == strlen(want_name) && memcmp(name, want_name, nl) == 0 && al == strlen(want_args) &&
           memcmp(args, want_args, al) == 0;
}

TEST(echo_tool_call)
{
    CHECK(tool_call("call get_weather {\"city\":\"Paris\"}", "get_weather", "{\"city\":\"Paris\"}"));
    CHECK(tool_call("  call\tns.tool-1\n{ \"a\": [1, {\"b\": null}] }  \n", "ns.tool-1", "{ \"a\": [1, {\"b\": null}] }"));
    CHECK(tool_call("call f {}", "f", "{}"));
    /* not the form */
    CHECK(tool_call("call f", NULL, NULL));
    CHECK(tool_call("call f{}", NULL, NULL));
    CHECK(tool_call("callf {}", NULL, NULL));
    CHECK(tool_call("Call f {}", NULL, NULL));
    CHECK(tool_call("call f [1]", NULL, NULL));
    CHECK(tool_call("call f {} {}", NULL, NULL));
    CHECK(tool_call("call f {\"a\":1} extra", NULL, NULL));
    CHECK(tool_call("call f {\"a\":", NULL, NULL));
    CHECK(tool_call("call bad/name {}", NULL, NULL));
    CHECK(tool_call("please call f {}", NULL, NULL));
    CHECK(tool_call("", NULL, NULL));
    char longname[100];
    memset(longname, 'x', sizeof(longname));
    memcpy(longname, "call ", 5);
    snprintf(longname + 5 + 65, sizeof(longname) - 70, " {}");
    CHECK(tool_call(longname, NULL, NULL)); /* a name of 65 characters */
}

TEST(openai_form)
{
    llg_oai_form_t f;
    llg_oai_form_init(&f, "my \"model\"", 10, true, 12345, 67890);
    CHECK_EQ_INT(strlen(f.id), 33);
    CHECK(strncmp(f.id, "chatcmpl-", 9) == 0);

    llg_strbuf_t b = {0};
    llg_oai_chunk_role(&b, &f);
    cJSON *j = parse_event(b.data);
    CHECK(j != NULL);
    CHECK_EQ_STR(cJSON_GetObjectItem(j, "id")->valuestring, f.id);
    CHECK_EQ_STR(cJSON_GetObjectItem(j, "object")->valuestring, "chat.completion.chunk");
    CHECK_EQ_STR(cJSON_GetObjectItem(j, "model")->valuestring, "my \"model\"");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "usage")));
    cJSON *delta = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "delta");
    CHECK_EQ_STR(cJSON_GetObjectItem(delta, "role")->valuestring, "assistant");
    cJSON_Delete(j);

    llg_strbuf_reset(&b);
    llg_oai_chunk_content(&b, &f, "a\nb", 3);
    j = parse_event(b.data);
    delta = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "delta");
    CHECK_EQ_STR(cJSON_GetObjectItem(delta, "content")->valuestring, "a\nb");
    cJSON_Delete(j);

    llg_strbuf_reset(&b);
    llg_oai_chunk_usage(&b, &f, 3, 4);
    j = parse_event(b.data);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "choices")), 0);
    CHECK_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "total_tokens")->valueint, 7);
    cJSON_Delete(j);

    llg_strbuf_reset(&b);
    llg_oai_completion(&b, &f, "hi", 2, "stop", 1, 1);
    j = cJSON_Parse(b.data);
    CHECK(j != NULL);
    CHECK_EQ_STR(cJSON_GetObjectItem(j, "object")->valuestring, "chat.completion");
    CHECK_EQ_STR(cJSON_GetObjectItem(j, "id")->valuestring, f.id);
    cJSON *msg = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "message");
    CHECK_EQ_STR(cJSON_GetObjectItem(msg, "content")->valuestring, "hi");
    cJSON_Delete(j);

    llg_strbuf_free(&b);
    llg_oai_form_dispose(&f);

    CHECK_EQ_INT(llg_estimate_tokens("", 0), 0);
    CHECK_EQ_INT(llg_estimate_tokens("hello world", 11), 2);
    CHECK_EQ_INT(llg_estimate_tokens("hi, there!", 10), 4);
}

/* error bodies stay valid JSON and UTF-8 whatever their text quotes
 * (docs/security.md: an invalid path, an upstream's words) */
TEST(render_error_utf8)
{
    llg_strbuf_t b = {0};
    llg_render_error(&b, "t\xff", "c\xc0\x80", "p\xed\xa0\x80", "Unknown request URL: /\xff\xfe\xe2\x82.");
    CHECK(llg_utf8_valid(b.data, b.len));
    cJSON *j = cJSON_ParseWithLength(b.data, b.len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message")),
                 "Unknown request URL: /\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd.");
    CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "type")), "t\xef\xbf\xbd");
    cJSON_Delete(j);
    b.len = 0;
    llg_render_error(&b, "invalid_request_error", NULL, NULL, "caf\xc3\xa9");
    CHECK_EQ_STR(b.data,
                 "{\"error\":{\"message\":\"caf\xc3\xa9\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}");
    llg_strbuf_free(&b);
}

/* server/memtrim.h: trim only when the load fell (free heap over 8 MiB and
 * larger than what is in use) */
TEST(memtrim_due)
{
    CHECK(!llg_memtrim_due(0, 0));
    CHECK(!llg_memtrim_due(LLG_MEMTRIM_MIN_FREE - 1, 0));
    CHECK(llg_memtrim_due(LLG_MEMTRIM_MIN_FREE, 0));
    CHECK(llg_memtrim_due(LLG_MEMTRIM_MIN_FREE, 1 << 20));
    CHECK(!llg_memtrim_due((size_t)100 << 20, (size_t)200 << 20)); /* steady load: used dominates */
    CHECK(llg_memtrim_due((size_t)170 << 20, (size_t)10 << 20));   /* after a burst */
}

/* The cluster link's messages (server/cluster.c, docs/cluster.md). */
TEST(cluster_messages)
{
    char msg[128], inst[33], id[33];
    llg_share_kind_t kind;
    uint64_t rem;
    int n = llg_cluster_format(msg, sizeof(msg), "0123456789abcdef", "00112233445566778899aabbccddeeff", LLG_SHARE_COOLING, 1500);
    CHECK_EQ_STR(msg, "1 0123456789abcdef 00112233445566778899aabbccddeeff c 1500");
    CHECK_EQ_INT(n, (int)strlen(msg));
    CHECK_EQ_INT(llg_cluster_parse(msg, strlen(msg), inst, id, &kind, &rem), 0);
    CHECK_EQ_STR(inst, "0123456789abcdef");
    CHECK_EQ_STR(id, "00112233445566778899aabbccddeeff");
    CHECK_EQ_INT(kind, LLG_SHARE_COOLING);
    CHECK_EQ_INT(rem, 1500);
    CHECK_EQ_INT(llg_cluster_parse("1 a b u 0", 9, inst, id, &kind, &rem), 0);
    CHECK_EQ_INT(kind, LLG_SHARE_USABLE);
    CHECK_EQ_INT(llg_cluster_parse("1 a b d 7", 9, inst, id, &kind, &rem), 0);
    CHECK_EQ_INT(kind, LLG_SHARE_DISABLED);
    static const char *const bad[] = {"",
                                      "2 a b c 1",
                                      "1 a b x 1",
                                      "1 a b c",
                                      "1 a b c 1 extra",
                                      "1 a b c -1",
                                      "1 a b cc 1",
                                      "1  b c 1",
                                      "1 a b c 99999999999999999",
                                      "1 a 000000000000000000000000000000000 c 1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (llg_cluster_parse(bad[i], strlen(bad[i]), inst, id, &kind, &rem) != -1) {
            fprintf(stderr, "    accepted \"%s\"\n", bad[i]);
            test_current_failed_ = 1;
        }
    }
    CHECK_EQ_INT(llg_cluster_format(msg, 8, "0123456789abcdef", "x", LLG_SHARE_USABLE, 0), -1);
}

int main(void)
{
    RUN(utf8);
    RUN(json_escape);
    RUN(chat_parse);
    RUN(chat_parse_duplicate_key_utf8);
    RUN(chat_parse_bad_u_escape);
    RUN(route);
    RUN(echo_words);
    RUN(echo_tool_call);
    RUN(openai_form);
    RUN(render_error_utf8);
    RUN(memtrim_due);
    RUN(cluster_messages);
    TEST_MAIN_END();
}
