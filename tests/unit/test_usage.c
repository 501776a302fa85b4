/*
 * tests/unit/test_usage.c: providers/usage.c, the token counts of an
 * upstream's OpenAI-form answers and chunks (with the cached and reasoning
 * counts, and Anthropic's and the Responses API's), and
 * providers/answer_meta.c, the answer's id, model and finish reasons.
 */
#include "providers/answer_meta.h"
#include "providers/usage.h"
#include "../test.h"

static int read_counts(const char *json, uint64_t *pt, uint64_t *ct)
{
    *pt = *ct = 999;
    return llg_usage_read(json, strlen(json), pt, ct);
}

TEST(reads_the_top_level_usage)
{
    uint64_t pt, ct;
    CHECK(read_counts("{\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15}}", &pt, &ct));
    CHECK_EQ_INT(pt, 12);
    CHECK_EQ_INT(ct, 3);
    /* blanks, a float, a negative count, one count missing */
    CHECK(read_counts("{ \"usage\" : { \"prompt_tokens\" : 1.5e3 , \"completion_tokens\" : -4 } }", &pt, &ct));
    CHECK_EQ_INT(pt, 1500);
    CHECK_EQ_INT(ct, 0);
    CHECK(read_counts("{\"usage\":{\"completion_tokens\":7}}", &pt, &ct));
    CHECK_EQ_INT(pt, 0);
    CHECK_EQ_INT(ct, 7);
    /* out of range: read as 0 */
    CHECK(read_counts("{\"usage\":{\"prompt_tokens\":1e15,\"completion_tokens\":999999999999}}", &pt, &ct));
    CHECK_EQ_INT(pt, 0);
    CHECK_EQ_INT(ct, 999999999999ll);
}

TEST(finds_nothing_where_there_is_nothing)
{
    uint64_t pt, ct;
    CHECK(!read_counts("{\"usage\":null}", &pt, &ct));
    CHECK_EQ_INT(pt, 999); /* untouched */
    CHECK(!read_counts("{\"usage\":{\"prompt_tokens\":\"12\"}}", &pt, &ct));
    CHECK(!read_counts("{\"usage\":{}}", &pt, &ct));
    /* only the top-level member counts: not one inside a string or a nested object */
    CHECK(!read_counts("{\"choices\":[{\"delta\":{\"content\":\"\\\"usage\\\":{\\\"prompt_tokens\\\":9}\"}}]}", &pt, &ct));
    CHECK(!read_counts("{\"x\":{\"usage\":{\"prompt_tokens\":9}}}", &pt, &ct));
    CHECK(!read_counts("not json", &pt, &ct));
}

TEST(may_have)
{
    static const char yes[] = "{\"usage\" :\n {\"prompt_tokens\":1}}";
    CHECK(llg_usage_may_have(yes, sizeof(yes) - 1));
    static const char null[] = "{\"choices\":[],\"usage\":null}";
    CHECK(!llg_usage_may_have(null, sizeof(null) - 1));
    static const char word[] = "{\"content\":\"usage\"}";
    CHECK(!llg_usage_may_have(word, sizeof(word) - 1));
    CHECK(!llg_usage_may_have("", 0));
}

TEST(find_null)
{
    static const char chunk[] = "{\"id\":\"c\",\"choices\":[{\"delta\":{}}],\"usage\":null}";
    const char *u = llg_usage_find_null(chunk, sizeof(chunk) - 1);
    CHECK(u != NULL && memcmp(u, ",\"usage\":null", 13) == 0 && u[13] == '}');
    static const char first[] = "{\"usage\":null}"; /* no comma before it: not the one OpenAI adds */
    CHECK(llg_usage_find_null(first, sizeof(first) - 1) == NULL);
    static const char obj[] = "{\"a\":1,\"usage\":{\"prompt_tokens\":1}}";
    CHECK(llg_usage_find_null(obj, sizeof(obj) - 1) == NULL);
    /* cut short: not found past the end */
    CHECK(llg_usage_find_null(chunk, sizeof(chunk) - 4) == NULL);
}

/* ---- cached and reasoning tokens ---- */

typedef bool (*details_fn)(const char *, size_t, llg_usage_details_t *);

static bool details(details_fn fn, const char *json, llg_usage_details_t *d)
{
    memset(d, 0, sizeof(*d));
    return fn(json, strlen(json), d);
}

TEST(details_openai)
{
    llg_usage_details_t d;
    CHECK(details(llg_usage_read_details,
                  "{\"id\":\"c\",\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":50,"
                  "\"prompt_tokens_details\":{\"cached_tokens\":64,\"audio_tokens\":0},"
                  "\"completion_tokens_details\":{\"reasoning_tokens\":32}}}",
                  &d));
    CHECK(d.has_cached && d.has_reasoning);
    CHECK_EQ_INT(d.cached_tokens, 64);
    CHECK_EQ_INT(d.reasoning_tokens, 32);
    /* one of them */
    CHECK(details(llg_usage_read_details, "{\"usage\":{\"completion_tokens_details\":{\"reasoning_tokens\":7}}}", &d));
    CHECK(!d.has_cached && d.has_reasoning);
    CHECK_EQ_INT(d.reasoning_tokens, 7);
    /* absent: the plain usage of most upstreams, null details, a usage null */
    CHECK(!details(llg_usage_read_details, "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}", &d));
    CHECK(!details(llg_usage_read_details, "{\"usage\":{\"prompt_tokens_details\":null,\"completion_tokens_details\":null}}", &d));
    CHECK(!details(llg_usage_read_details, "{\"choices\":[],\"usage\":null}", &d));
    CHECK(!d.has_cached && !d.has_reasoning);
    /* not a number, a string, a nested object elsewhere */
    CHECK(!details(llg_usage_read_details, "{\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":\"64\"}}}", &d));
    CHECK(!details(llg_usage_read_details, "{\"x\":{\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":1}}}}", &d));
    /* huge, negative, float */
    CHECK(details(llg_usage_read_details,
                  "{\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":123456789012345678901234567890},"
                  "\"completion_tokens_details\":{\"reasoning_tokens\":-5}}}",
                  &d));
    CHECK(d.has_cached && d.has_reasoning);
    CHECK_EQ_INT(d.cached_tokens, 0);
    CHECK_EQ_INT(d.reasoning_tokens, 0);
    CHECK(details(llg_usage_read_details, "{\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":2.5e2}}}", &d));
    CHECK_EQ_INT(d.cached_tokens, 250);
    /* garbage */
    CHECK(!details(llg_usage_read_details, "{\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":12", &d));
    CHECK(!details(llg_usage_read_details, "]]]", &d));
    CHECK(!details(llg_usage_read_details, "", &d));
}

TEST(details_anthropic)
{
    llg_usage_details_t d;
    /* message_start */
    CHECK(details(llg_usage_read_details_anthropic,
                  "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":5,"
                  "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":2048,\"output_tokens\":1}}}",
                  &d));
    CHECK(d.has_cached && !d.has_reasoning);
    CHECK_EQ_INT(d.cached_tokens, 2048);
    /* message_delta */
    CHECK(details(llg_usage_read_details_anthropic,
                  "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
                  "\"usage\":{\"output_tokens\":9,\"cache_read_input_tokens\":10}}",
                  &d));
    CHECK_EQ_INT(d.cached_tokens, 10);
    /* a whole message */
    CHECK(details(llg_usage_read_details_anthropic,
                  "{\"id\":\"msg_1\",\"type\":\"message\",\"usage\":{\"input_tokens\":3,\"cache_read_input_tokens\":0}}", &d));
    CHECK(d.has_cached);
    CHECK_EQ_INT(d.cached_tokens, 0);
    /* absent, null, garbage, huge */
    CHECK(!details(llg_usage_read_details_anthropic, "{\"usage\":{\"output_tokens\":9}}", &d));
    CHECK(!details(llg_usage_read_details_anthropic, "{\"usage\":{\"cache_read_input_tokens\":null}}", &d));
    CHECK(!details(llg_usage_read_details_anthropic, "{\"message\":{\"usage\":", &d));
    CHECK(details(llg_usage_read_details_anthropic, "{\"usage\":{\"cache_read_input_tokens\":1000000000000}}", &d));
    CHECK_EQ_INT(d.cached_tokens, 0);
}

TEST(details_responses)
{
    llg_usage_details_t d;
    /* response.completed */
    CHECK(details(llg_usage_read_details_responses,
                  "{\"type\":\"response.completed\",\"sequence_number\":9,\"response\":{\"id\":\"resp_1\",\"status\":"
                  "\"completed\",\"usage\":{\"input_tokens\":20,\"input_tokens_details\":{\"cached_tokens\":16},"
                  "\"output_tokens\":30,\"output_tokens_details\":{\"reasoning_tokens\":12},\"total_tokens\":50}}}",
                  &d));
    CHECK(d.has_cached && d.has_reasoning);
    CHECK_EQ_INT(d.cached_tokens, 16);
    CHECK_EQ_INT(d.reasoning_tokens, 12);
    /* a whole response */
    CHECK(details(llg_usage_read_details_responses,
                  "{\"id\":\"resp_1\",\"object\":\"response\",\"usage\":{\"input_tokens\":20,\"input_tokens_details\":"
                  "{\"cached_tokens\":0},\"output_tokens\":3,\"output_tokens_details\":{\"reasoning_tokens\":0}}}",
                  &d));
    CHECK(d.has_cached && d.has_reasoning);
    CHECK_EQ_INT(d.cached_tokens + d.reasoning_tokens, 0);
    /* OpenAI chat's names are not the Responses API's */
    CHECK(!details(llg_usage_read_details_responses, "{\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":1}}}", &d));
    /* response.created: usage null */
    CHECK(!details(llg_usage_read_details_responses, "{\"type\":\"response.created\",\"response\":{\"usage\":null}}", &d));
    CHECK(!details(llg_usage_read_details_responses, "{\"response\":{\"usage\":{\"input_tokens_details\":[1]}}}", &d));
}

/* ---- id, model, finish reasons ---- */

static bool str_is(llg_meta_str_t s, const char *want)
{
    return s.p != NULL && s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

typedef bool (*meta_fn)(const char *, size_t, unsigned, llg_answer_meta_t *);

static bool meta(meta_fn fn, const char *json, unsigned want, llg_answer_meta_t *m)
{
    return fn(json, strlen(json), want, m);
}

TEST(meta_openai)
{
    llg_answer_meta_t m;
    const unsigned all = LLG_META_ID | LLG_META_FINISH;
    /* a whole answer with two choices */
    CHECK(meta(llg_answer_meta_openai,
               "{\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"gpt-4o-2024-08-06\","
               "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},\"finish_reason\":\"stop\"},"
               "{\"index\":1,\"message\":{},\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":1}}",
               all, &m));
    CHECK(str_is(m.id, "chatcmpl-abc"));
    CHECK(str_is(m.model, "gpt-4o-2024-08-06"));
    CHECK_EQ_INT(m.nfinish, 2);
    CHECK(str_is(m.finish[0], "stop") && str_is(m.finish[1], "length"));
    /* a first chunk: id and model, finish_reason null */
    static const char first[] = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\","
                                "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"},\"finish_reason\":null}]}";
    CHECK(meta(llg_answer_meta_openai, first, all, &m));
    CHECK(str_is(m.id, "chatcmpl-1") && str_is(m.model, "m"));
    CHECK_EQ_INT(m.nfinish, 0);
    CHECK(!llg_answer_meta_may_finish(first, sizeof(first) - 1));
    /* only what is wanted */
    CHECK(!meta(llg_answer_meta_openai, first, LLG_META_FINISH, &m));
    static const char last[] = "{\"id\":\"chatcmpl-1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},"
                               "\"finish_reason\" : \"tool_calls\"}]}";
    CHECK(llg_answer_meta_may_finish(last, sizeof(last) - 1));
    CHECK(meta(llg_answer_meta_openai, last, LLG_META_FINISH, &m));
    CHECK(m.id.p == NULL && m.model.p == NULL);
    CHECK_EQ_INT(m.nfinish, 1);
    CHECK(str_is(m.finish[0], "tool_calls"));
    /* more choices than kept */
    CHECK(meta(llg_answer_meta_openai,
               "{\"choices\":[{\"finish_reason\":\"a\"},{\"finish_reason\":\"b\"},{\"finish_reason\":\"c\"},"
               "{\"finish_reason\":\"d\"},{\"finish_reason\":\"e\"}]}",
               all, &m));
    CHECK_EQ_INT(m.nfinish, LLG_ANSWER_META_MAX_REASONS);
    CHECK(str_is(m.finish[3], "d"));
    /* absent or not strings: numbers, null, escapes; nested ids do not count */
    CHECK(!meta(llg_answer_meta_openai, "{\"id\":7,\"model\":null,\"choices\":[{\"finish_reason\":null}]}", all, &m));
    CHECK(!meta(llg_answer_meta_openai, "{\"id\":\"a\\\"b\",\"choices\":{\"finish_reason\":\"stop\"}}", all, &m));
    CHECK(!meta(llg_answer_meta_openai, "{\"data\":[{\"id\":\"x\",\"model\":\"y\"}]}", all, &m));
    CHECK(meta(llg_answer_meta_openai, "{\"id\":\"\"}", all, &m));
    CHECK(m.id.p != NULL && m.id.len == 0);
    /* garbage: cut short, not an object */
    CHECK(!meta(llg_answer_meta_openai, "{\"id\":\"chatcmpl-1\",\"model\":\"m\"", all, &m));
    CHECK(!meta(llg_answer_meta_openai, "[\"id\",\"x\"]", all, &m));
    CHECK(!meta(llg_answer_meta_openai, "", all, &m));
    CHECK(!meta(llg_answer_meta_openai, "{\"choices\":[{\"finish_reason\":\"stop\"},", all, &m));
}

TEST(meta_may_finish)
{
    static const char *yes[] = {"\"finish_reason\":\"stop\"", "{\"finish_reason\" :\n \"x\"}", "_\"finish_reason\":\""};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        CHECK(llg_answer_meta_may_finish(yes[i], strlen(yes[i])));
    static const char *no[] = {"",
                               "_",
                               "finish_reason",
                               "\"finish_reason\":null",
                               "\"finish_reason\":",
                               "\"finish_reason\" ",
                               "\"native_finish_reason\":null,\"finish_reason\":null",
                               "{\"content\":\"finish_reason\"}",
                               "\"finish_reason"};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        CHECK(!llg_answer_meta_may_finish(no[i], strlen(no[i])));
}

TEST(meta_anthropic)
{
    llg_answer_meta_t m;
    const unsigned all = LLG_META_ID | LLG_META_FINISH;
    /* a whole message */
    CHECK(meta(llg_answer_meta_anthropic,
               "{\"id\":\"msg_01X\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\","
               "\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
               "\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}",
               all, &m));
    CHECK(str_is(m.id, "msg_01X") && str_is(m.model, "claude-sonnet-4-5"));
    CHECK_EQ_INT(m.nfinish, 1);
    CHECK(str_is(m.finish[0], "end_turn"));
    /* message_start: stop_reason null */
    CHECK(meta(llg_answer_meta_anthropic,
               "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_2\",\"type\":\"message\",\"model\":\"claude\","
               "\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":3}}}",
               all, &m));
    CHECK(str_is(m.id, "msg_2") && str_is(m.model, "claude"));
    CHECK_EQ_INT(m.nfinish, 0);
    /* message_delta */
    CHECK(meta(llg_answer_meta_anthropic,
               "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\",\"stop_sequence\":null},"
               "\"usage\":{\"output_tokens\":9}}",
               all, &m));
    CHECK(m.id.p == NULL);
    CHECK_EQ_INT(m.nfinish, 1);
    CHECK(str_is(m.finish[0], "max_tokens"));
    /* a text delta, an error, garbage */
    CHECK(!meta(llg_answer_meta_anthropic, "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}",
                all, &m));
    CHECK(!meta(llg_answer_meta_anthropic, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}", all, &m));
    CHECK(!meta(llg_answer_meta_anthropic, "{\"message\":{\"id\":\"msg_2\"", all, &m));
    CHECK(!meta(llg_answer_meta_anthropic, "\"msg\"", all, &m));
}

TEST(meta_responses)
{
    llg_answer_meta_t m;
    const unsigned all = LLG_META_ID | LLG_META_FINISH;
    /* response.completed */
    CHECK(meta(llg_answer_meta_responses,
               "{\"type\":\"response.completed\",\"sequence_number\":12,\"response\":{\"id\":\"resp_9\",\"object\":"
               "\"response\",\"status\":\"completed\",\"incomplete_details\":null,\"model\":\"gpt-5\",\"output\":[]}}",
               all, &m));
    CHECK(str_is(m.id, "resp_9") && str_is(m.model, "gpt-5"));
    CHECK_EQ_INT(m.nfinish, 1);
    CHECK(str_is(m.finish[0], "completed"));
    /* response.incomplete: the reason, not the status */
    CHECK(meta(llg_answer_meta_responses,
               "{\"type\":\"response.incomplete\",\"response\":{\"id\":\"resp_9\",\"status\":\"incomplete\","
               "\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"model\":\"gpt-5\"}}",
               LLG_META_FINISH, &m));
    CHECK(m.id.p == NULL);
    CHECK(str_is(m.finish[0], "max_output_tokens"));
    /* a whole response */
    CHECK(meta(llg_answer_meta_responses,
               "{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"failed\",\"model\":\"o3\",\"usage\":null}", all, &m));
    CHECK(str_is(m.id, "resp_1") && str_is(m.model, "o3") && str_is(m.finish[0], "failed"));
    /* absent, null, garbage */
    CHECK(!meta(llg_answer_meta_responses, "{\"type\":\"response.output_text.delta\",\"delta\":\"x\"}", all, &m));
    CHECK(!meta(llg_answer_meta_responses, "{\"response\":{\"status\":null,\"incomplete_details\":{\"reason\":null}}}", all, &m));
    CHECK(!meta(llg_answer_meta_responses, "{\"response\":{\"id\":\"r\"", all, &m));
}

int main(void)
{
    RUN(reads_the_top_level_usage);
    RUN(finds_nothing_where_there_is_nothing);
    RUN(may_have);
    RUN(find_null);
    RUN(details_openai);
    RUN(details_anthropic);
    RUN(details_responses);
    RUN(meta_openai);
    RUN(meta_may_finish);
    RUN(meta_anthropic);
    RUN(meta_responses);
    TEST_MAIN_END();
}
