/*
 * tests/unit/test_ollama.c: Ollama's API as a client protocol
 * (providers/ollama.h, ollama_request.c, ollama_answer.c), on its own,
 * without the server:
 * - llg_ollama_parse_chat / _generate: every mapping into the canonical
 *   (chat) request (the model's ":latest" dropped, options, format, tools,
 *   images, tool calls and the tool messages that answer them, stream true
 *   unless false) and the refusals, naming the field;
 * - llg_render_ollama_chat / _generate driven through the answer
 *   (providers/answer.h): NDJSON lines of content and thinking pieces, the
 *   tool calls' line, the last line's done_reason and counts, a failure
 *   after the first line, the whole (non-stream) object; the times and
 *   durations checked for their type, not their value;
 * - the openai egress reader rendering Ollama lines from an upstream chat
 *   answer (tests/fixtures/openai/), fed whole, cut at every byte and byte
 *   by byte;
 * - Ollama's error body, /api/tags and /api/show bodies, its time format.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/answer.h"
#include "providers/egress.h"
#include "providers/ollama.h"
#include "tests/test.h"
#include "tests/unit/adapter_util.h"

/* ---- the request ----------------------------------------------------------- */

#define CHAT     llg_ollama_parse_chat
#define GENERATE llg_ollama_parse_generate

TEST(parse_chat_golden)
{
    CHECK(canonical_is(
        CHAT,
        "{\"model\":\"llama3.2:latest\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"sys\"},"
        "{\"role\":\"user\",\"content\":\"look\",\"images\":[\"iVBORw0KGgo=\",\"/9j/4AAQ\",\"R0lGODlh\",\"UklGRiQ=\",\"Qk0=\"]},"
        "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"get_weather\","
        "\"arguments\":{\"city\":\"Paris\"}}},{\"function\":{\"name\":\"get_time\",\"arguments\":{}}}]},"
        "{\"role\":\"tool\",\"content\":\"3pm\",\"tool_name\":\"get_time\"},"
        "{\"role\":\"tool\",\"content\":\"sunny\"},"
        "{\"role\":\"assistant\",\"content\":\"It is sunny at 3pm.\",\"thinking\":\"easy\"},"
        "{\"role\":\"user\",\"content\":\"thanks\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"d\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}],"
        "\"format\":\"json\","
        "\"options\":{\"temperature\":0.2,\"top_p\":0.8,\"seed\":42,\"num_predict\":128,\"stop\":[\"\\n\\n\",\"END\"],"
        "\"num_ctx\":4096,\"top_k\":40,\"repeat_penalty\":1.1,\"frequency_penalty\":0.1,\"presence_penalty\":0.3},"
        "\"think\":true,\"keep_alive\":\"5m\",\"raw\":false}",
        "{\"model\":\"llama3.2\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"sys\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"look\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0KGgo=\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/jpeg;base64,/9j/4AAQ\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/gif;base64,R0lGODlh\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/webp;base64,UklGRiQ=\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,Qk0=\"}}]},"
        "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
        "{\"id\":\"call_2_0\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
        "{\"id\":\"call_2_1\",\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"content\":\"3pm\",\"tool_call_id\":\"call_2_1\"},"
        "{\"role\":\"tool\",\"content\":\"sunny\",\"tool_call_id\":\"call_2_0\"},"
        "{\"role\":\"assistant\",\"content\":\"It is sunny at 3pm.\"},"
        "{\"role\":\"user\",\"content\":\"thanks\"}],"
        "\"stream\":true,\"response_format\":{\"type\":\"json_object\"},"
        "\"temperature\":0.2,\"top_p\":0.8,\"seed\":42,\"frequency_penalty\":0.1,\"presence_penalty\":0.3,"
        "\"max_tokens\":128,\"stop\":[\"\\n\\n\",\"END\"],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"d\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}]}"));
}

TEST(parse_model_name)
{
    static const struct {
        const char *in, *out;
        size_t size;
    } cases[] = {
        {"llama3:latest", "llama3", 64},
        {"llama3", "llama3", 64},
        {"qwen3:8b", "qwen3:8b", 64},
        {":latest", ":latest", 64},
        {"a:latest:latest", "a:latest", 64},
        {"gpt-4o-latest", "gpt-4o-latest", 64},
        {"abcdefgh", "abcd", 5},
        {"abcdefgh:latest", "abcdefgh", 9},
        {"x", "", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[64];
        memset(out, 'Z', sizeof(out));
        llg_ollama_model(cases[i].in, out, cases[i].size);
        CHECK_EQ_STR(out, cases[i].out);
    }
    /* in both requests */
    cJSON *c = parse_with(CHAT, "{\"model\":\"mistral:latest\",\"messages\":[]}");
    CHECK_EQ_STR(sget(c, "model"), "mistral");
    cJSON_Delete(c);
    c = parse_with(GENERATE, "{\"model\":\"mistral:latest\",\"prompt\":\"x\"}");
    CHECK_EQ_STR(sget(c, "model"), "mistral");
    cJSON_Delete(c);
}

TEST(parse_options)
{
    static const struct {
        const char *options, *want; /* the members the options add */
    } cases[] = {
        {"{}", "{}"},
        {"{\"temperature\":0,\"top_p\":1,\"seed\":-1}", "{\"temperature\":0,\"top_p\":1,\"seed\":-1}"},
        {"{\"num_predict\":1}", "{\"max_tokens\":1}"},
        {"{\"num_predict\":-1}", "{}"}, /* Ollama's "no limit" */
        {"{\"num_predict\":0}", "{}"},
        {"{\"num_predict\":\"9\"}", "{}"},
        {"{\"stop\":\"END\"}", "{\"stop\":\"END\"}"},
        {"{\"stop\":[\"a\",\"b\"]}", "{\"stop\":[\"a\",\"b\"]}"},
        {"{\"stop\":[]}", "{}"},
        {"{\"stop\":[\"a\",1]}", "{}"},
        {"{\"temperature\":\"hot\",\"num_ctx\":8192,\"top_k\":1,\"mirostat\":2}", "{}"},
        {"5", "{}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[512], want[512];
        snprintf(body, sizeof(body), "{\"model\":\"m\",\"stream\":false,\"messages\":[],\"options\":%s}", cases[i].options);
        /* the wanted members after model and messages */
        snprintf(want, sizeof(want), "{\"model\":\"m\",\"messages\":[]%s%.*s", strcmp(cases[i].want, "{}") == 0 ? "" : ",",
                 (int)strlen(cases[i].want) - 1, cases[i].want + 1);
        strncat(want, "}", sizeof(want) - strlen(want) - 1);
        CHECK(canonical_is(CHAT, body, want));
    }
}

TEST(parse_format_and_stream)
{
    CHECK(canonical_is(CHAT, "{\"model\":\"m\",\"format\":\"json\",\"stream\":false}",
                       "{\"model\":\"m\",\"messages\":[],\"response_format\":{\"type\":\"json_object\"}}"));
    CHECK(canonical_is(CHAT,
                       "{\"model\":\"m\",\"format\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
                       "\"required\":[\"a\"]},\"stream\":false}",
                       "{\"model\":\"m\",\"messages\":[],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
                       "{\"name\":\"response\",\"schema\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
                       "\"required\":[\"a\"]}}}}"));
    CHECK(canonical_is(CHAT, "{\"model\":\"m\",\"format\":\"\",\"stream\":false}", "{\"model\":\"m\",\"messages\":[]}"));
    CHECK(canonical_is(CHAT, "{\"model\":\"m\",\"format\":null,\"stream\":false}", "{\"model\":\"m\",\"messages\":[]}"));
    CHECK(refused(CHAT, "{\"model\":\"m\",\"format\":\"xml\"}", "format"));
    CHECK(refused(CHAT, "{\"model\":\"m\",\"format\":5}", "format"));
    CHECK(refused(GENERATE, "{\"model\":\"m\",\"format\":[\"json\"]}", "format"));
    /* stream: true unless false */
    CHECK(canonical_is(CHAT, "{\"model\":\"m\"}", "{\"model\":\"m\",\"messages\":[],\"stream\":true}"));
    CHECK(canonical_is(CHAT, "{\"model\":\"m\",\"stream\":null}", "{\"model\":\"m\",\"messages\":[],\"stream\":true}"));
    CHECK(canonical_is(CHAT, "{\"model\":\"m\",\"stream\":true}", "{\"model\":\"m\",\"messages\":[],\"stream\":true}"));
    CHECK(canonical_is(CHAT, "{\"model\":\"m\",\"stream\":false}", "{\"model\":\"m\",\"messages\":[]}"));
    CHECK(canonical_is(GENERATE, "{\"model\":\"m\",\"prompt\":\"p\"}",
                       "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"p\"}],\"stream\":true}"));
    CHECK(refused(CHAT, "{\"model\":\"m\",\"stream\":\"no\"}", "stream"));
    CHECK(refused(GENERATE, "{\"model\":\"m\",\"stream\":0}", "stream"));
    /* tools as they are; an empty list is none */
    CHECK(canonical_is(CHAT, "{\"model\":\"m\",\"stream\":false,\"tools\":[]}", "{\"model\":\"m\",\"messages\":[]}"));
}

TEST(parse_tool_messages)
{
    /* ids given are kept (cut to 40 bytes); results answer the oldest pending
     * call, of their tool_name when given; none pending: call_0 */
    CHECK(canonical_is(
        CHAT,
        "{\"model\":\"m\",\"stream\":false,\"messages\":["
        "{\"role\":\"tool\",\"content\":\"early\"},"
        "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"abc\",\"function\":{\"name\":\"f\",\"arguments\":{\"x\":[1,2]}}},"
        "{\"id\":\"\",\"function\":{\"name\":\"g\"}},"
        "{\"id\":\"0123456789012345678901234567890123456789EXTRA\",\"function\":{\"name\":\"h\",\"arguments\":null}}]},"
        "{\"role\":\"tool\",\"content\":\"r-other\",\"tool_name\":\"nope\"},"
        "{\"role\":\"tool\",\"content\":\"r-h\",\"tool_name\":\"h\"},"
        "{\"role\":\"tool\",\"content\":\"r-g\"},"
        "{\"role\":\"tool\",\"content\":\"r-late\"}]}",
        "{\"model\":\"m\",\"messages\":["
        "{\"role\":\"tool\",\"content\":\"early\",\"tool_call_id\":\"call_0\"},"
        "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
        "{\"id\":\"abc\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\":[1,2]}\"}},"
        "{\"id\":\"call_1_1\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}},"
        "{\"id\":\"0123456789012345678901234567890123456789\",\"type\":\"function\",\"function\":{\"name\":\"h\","
        "\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"content\":\"r-other\",\"tool_call_id\":\"abc\"},"
        "{\"role\":\"tool\",\"content\":\"r-h\",\"tool_call_id\":\"0123456789012345678901234567890123456789\"},"
        "{\"role\":\"tool\",\"content\":\"r-g\",\"tool_call_id\":\"call_1_1\"},"
        "{\"role\":\"tool\",\"content\":\"r-late\",\"tool_call_id\":\"call_0\"}]}"));
    /* tool_calls of another role are not read */
    CHECK(canonical_is(CHAT,
                       "{\"model\":\"m\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":\"x\","
                       "\"tool_calls\":[{\"function\":{\"name\":\"f\"}}]}]}",
                       "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"));
}

TEST(parse_chat_refusals)
{
    CHECK(refused(CHAT, "{\"messages\":[]}", "model"));
    CHECK(refused(CHAT, "{\"model\":\"\",\"messages\":[]}", "model"));
    CHECK(refused(CHAT, "{\"model\":5}", "model"));
    CHECK(refused(CHAT, "{\"model\":\"m\",\"messages\":\"hi\"}", "messages"));
    CHECK(refused(CHAT, "{\"model\":\"m\",\"messages\":[5]}", "messages[0]"));
    CHECK(
        refused(CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"content\":\"y\"}]}", "messages[1]"));
    CHECK(refused(CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages[0]"));
    CHECK(refused(CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"images\":[5]}]}", "messages[0]"));
    CHECK(refused(CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":\"f\"}]}", "messages[0]"));
    CHECK(refused(CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{}}]}]}",
                  "messages[0]"));
    CHECK(refused(CHAT, "[]", ""));
    CHECK(refused(CHAT, "{\"model\":\"m\"", ""));
    CHECK(refused(CHAT, "{\"model\":\"m\",\"model\":\"n\"}", "model"));
    /* content null is empty */
    CHECK(canonical_is(CHAT, "{\"model\":\"m\",\"stream\":false,\"messages\":[{\"role\":\"assistant\",\"content\":null}]}",
                       "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":\"\"}]}"));
}

TEST(parse_generate)
{
    CHECK(canonical_is(GENERATE,
                       "{\"model\":\"m:latest\",\"prompt\":\"Why?\",\"system\":\"Be brief.\",\"images\":[\"/9j/AA\"],"
                       "\"options\":{\"num_predict\":5,\"temperature\":1.5},\"format\":\"json\",\"stream\":false,"
                       "\"suffix\":\"s\",\"template\":\"t\",\"context\":[1,2],\"raw\":true}",
                       "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                       "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Why?\"},"
                       "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/jpeg;base64,/9j/AA\"}}]}],"
                       "\"response_format\":{\"type\":\"json_object\"},\"temperature\":1.5,\"max_tokens\":5}"));
    /* no prompt: an empty user message; an empty system: none */
    CHECK(canonical_is(GENERATE, "{\"model\":\"m\",\"system\":\"\",\"stream\":false}",
                       "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\"}]}"));
    CHECK(canonical_is(GENERATE, "{\"model\":\"m\",\"prompt\":null,\"system\":null,\"images\":[],\"stream\":false}",
                       "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\"}]}"));
    /* images only: no text part */
    CHECK(canonical_is(GENERATE, "{\"model\":\"m\",\"images\":[\"R0lGODlh\"],\"stream\":false}",
                       "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                       "\"image_url\":{\"url\":\"data:image/gif;base64,R0lGODlh\"}}]}]}"));
}

TEST(parse_generate_refusals)
{
    CHECK(refused(GENERATE, "{\"prompt\":\"x\"}", "model"));
    CHECK(refused(GENERATE, "{\"model\":\"m\",\"prompt\":5}", "prompt"));
    CHECK(refused(GENERATE, "{\"model\":\"m\",\"prompt\":5,\"system\":\"s\"}", "prompt"));
    CHECK(refused(GENERATE, "{\"model\":\"m\",\"prompt\":\"p\",\"system\":5}", "system"));
    CHECK(refused(GENERATE, "{\"model\":\"m\",\"system\":[]}", "system"));
    CHECK(refused(GENERATE, "{\"model\":\"m\",\"prompt\":\"p\",\"images\":[1]}", "images"));
    /* a null system is no system: the bad prompt is the one to name */
    CHECK(refused(GENERATE, "{\"model\":\"m\",\"prompt\":5,\"system\":null}", "prompt"));
}

/* ---- the renderers ------------------------------------------------------------ */

static llg_xlate_params_t oparams(const llg_render_t *render, bool stream)
{
    llg_xlate_params_t p = {
        .render = render, .model = "llama3.2", .stream = stream, .prompt_tokens_estimate = 7, .random = {12345, 67890}};
    return p;
}

/* created_at: RFC 3339 in UTC with nanoseconds, 2025-01-02T03:04:05.123456789Z */
static bool ollama_time(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddddddddZ";
    if (s == NULL || strlen(s) != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; shape[i] != '\0'; i++)
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
            return false;
    return true;
}

/* Checks and removes the members that vary (created_at; the durations of a
 * last line, numbers, eval_duration and total_duration > 0). */
static bool strip_varying(cJSON *line)
{
    bool ok = ollama_time(sget(line, "created_at"));
    if (!ok)
        fprintf(stderr, "  created_at %s\n", sget(line, "created_at") != NULL ? sget(line, "created_at") : "(none)");
    cJSON_DeleteItemFromObjectCaseSensitive(line, "created_at");
    if (cJSON_IsTrue(oget(line, "done"))) {
        static const char *const durations[] = {"total_duration", "eval_duration"};
        for (int k = 0; k < 2; k++) {
            const cJSON *d = oget(line, durations[k]);
            if (!cJSON_IsNumber(d) || d->valuedouble < 1 || d->valuedouble != (double)(long long)d->valuedouble) {
                fprintf(stderr, "  %s is no positive integer\n", durations[k]);
                ok = false;
            }
            cJSON_DeleteItemFromObjectCaseSensitive(line, durations[k]);
        }
    }
    return ok;
}

/* NDJSON read back: each line a JSON object, with its varying members checked
 * and removed; well formed when every line is one and the output ends with
 * a newline. All lines share one created_at. */
typedef struct lines {
    bool well_formed;
    cJSON *list;
} lines_t;

static void parse_lines(const llg_strbuf_t *out, lines_t *l)
{
    l->list = cJSON_CreateArray();
    l->well_formed = out->len > 0 && out->data[out->len - 1] == '\n' && llg_utf8_valid(out->data, out->len);
    const char *p = out->data != NULL ? out->data : "", *end = p + out->len, *first_time = NULL;
    char when[64] = "";
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        cJSON *j = cJSON_ParseWithLength(p, n);
        if (!cJSON_IsObject(j)) {
            fprintf(stderr, "  not a JSON object: %.*s\n", (int)n, p);
            l->well_formed = false;
        }
        if (oget(j, "error") == NULL) {
            const char *t = sget(j, "created_at");
            if (first_time == NULL && t != NULL) {
                snprintf(when, sizeof(when), "%s", t);
                first_time = when;
            }
            if (t == NULL || strcmp(t, when) != 0)
                l->well_formed = false;
            if (!strip_varying(j))
                l->well_formed = false;
        }
        if (j != NULL)
            cJSON_AddItemToArray(l->list, j);
        p += n + 1;
    }
}

typedef void (*script_t)(llg_answer_t *a, llg_strbuf_t *out);

/* Runs `script` on an answer in Ollama's form; the stream's lines read back. */
static cJSON *render_lines(const llg_render_t *render, script_t script)
{
    llg_xlate_params_t p = oparams(render, true);
    llg_answer_t a;
    llg_answer_init(&a, &p);
    llg_strbuf_t out = {0};
    script(&a, &out);
    lines_t l;
    parse_lines(&out, &l);
    CHECK(l.well_formed);
    llg_strbuf_free(&out);
    llg_answer_dispose(&a);
    return l.list;
}

/* the whole body: one object (no newline after it), varying members removed */
static cJSON *render_whole(const llg_render_t *render, script_t script)
{
    llg_xlate_params_t p = oparams(render, false);
    llg_answer_t a;
    llg_answer_init(&a, &p);
    llg_strbuf_t out = {0};
    script(&a, &out);
    CHECK(out.len > 0 && out.data[0] == '{' && out.data[out.len - 1] == '}');
    CHECK(out.data != NULL && memchr(out.data, '\n', out.len) == NULL);
    cJSON *j = cJSON_ParseWithLength(out.data, out.len);
    CHECK(cJSON_IsObject(j));
    CHECK(strip_varying(j));
    llg_strbuf_free(&out);
    llg_answer_dispose(&a);
    return j;
}

#define LAST_COUNTS(reason, prompt, eval)                                                                                          \
    "\"done_reason\":\"" reason "\",\"done\":true,\"load_duration\":0,\"prompt_eval_count\":" #prompt                              \
    ",\"prompt_eval_duration\":0,\"eval_count\":" #eval

static void script_text(llg_answer_t *a, llg_strbuf_t *out)
{
    llg_answer_content(a, out, "Hel", 3);
    llg_answer_content(a, out, "lo \xc3", 4); /* a cut character: U+FFFD */
    llg_answer_set_usage(a, 5, 7);
    llg_answer_finish(a, out, NULL);
}

TEST(render_chat_stream)
{
    cJSON *l = render_lines(&llg_render_ollama_chat, script_text);
    CHECK(json_is(l,
                  "[{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"done\":false},"
                  "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"lo \xef\xbf\xbd\"},\"done\":false},"
                  "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"\"}," LAST_COUNTS("stop", 5, 7) "}]"));
    cJSON_Delete(l);
}

static void script_thinking(llg_answer_t *a, llg_strbuf_t *out)
{
    llg_answer_reasoning(a, out, "hm", 2);
    llg_answer_content(a, out, "ok", 2);
    llg_answer_set_usage(a, 1, 2);
    llg_answer_finish(a, out, "stop");
}

TEST(render_chat_thinking)
{
    cJSON *l = render_lines(&llg_render_ollama_chat, script_thinking);
    CHECK(json_is(l,
                  "[{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"hm\"},"
                  "\"done\":false},"
                  "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},\"done\":false},"
                  "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"\"}," LAST_COUNTS("stop", 1, 2) "}]"));
    cJSON_Delete(l);
}

static void script_tools(llg_answer_t *a, llg_strbuf_t *out)
{
    llg_answer_content(a, out, "Checking.", 9);
    unsigned t = llg_answer_tool_start(a, out, "call_1", 6, "get_weather", 11);
    unsigned u = llg_answer_tool_start(a, out, "call_2", 6, "noargs", 6);
    llg_answer_tool_args(a, out, t, "{\"city\":", 8);
    llg_answer_tool_args(a, out, t, "\"Paris\"}", 8);
    (void)u;
    llg_answer_tool_call(a, out, "call_3", 6, "bad", 3, "not json", 8);
    llg_answer_tool_call(a, out, "call_4", 6, "arr", 3, "[1]", 3);
    llg_answer_set_usage(a, 10, 20);
    llg_answer_finish(a, out, NULL);
}

TEST(render_chat_tool_calls)
{
    cJSON *l = render_lines(&llg_render_ollama_chat, script_tools);
    CHECK(json_is(
        l, "[{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"Checking.\"},\"done\":false},"
           "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
           "{\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}},"
           "{\"function\":{\"name\":\"noargs\",\"arguments\":{}}},"
           "{\"function\":{\"name\":\"bad\",\"arguments\":{\"arguments\":\"not json\"}}},"
           "{\"function\":{\"name\":\"arr\",\"arguments\":{\"arguments\":\"[1]\"}}}]},\"done\":false},"
           "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"\"}," LAST_COUNTS("stop", 10, 20) "}]"));
    cJSON_Delete(l);
    /* generate has no tool calls: none written */
    l = render_lines(&llg_render_ollama_generate, script_tools);
    CHECK_EQ_INT(cJSON_GetArraySize(l), 2);
    CHECK_EQ_STR(sget(aget(l, 0), "response"), "Checking.");
    CHECK(cJSON_IsTrue(oget(aget(l, 1), "done")));
    cJSON_Delete(l);
}

static const char *reason_;

static void script_reason(llg_answer_t *a, llg_strbuf_t *out)
{
    llg_answer_content(a, out, "x", 1);
    llg_answer_finish(a, out, reason_);
}

TEST(render_done_reason)
{
    static const struct {
        const char *finish, *done_reason;
    } cases[] = {
        {"stop", "stop"},           {"length", "length"}, {"tool_calls", "stop"},
        {"content_filter", "stop"}, {NULL, "stop"},       {"weird", "stop"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reason_ = cases[i].finish;
        for (int w = 0; w < 2; w++) {
            cJSON *l = w == 0 ? render_lines(&llg_render_ollama_chat, script_reason)
                              : render_whole(&llg_render_ollama_chat, script_reason);
            const cJSON *last = w == 0 ? aget(l, cJSON_GetArraySize(l) - 1) : l;
            CHECK_EQ_STR(sget(last, "done_reason"), cases[i].done_reason);
            /* no usage reported: the prompt estimate, the answer's tokens */
            CHECK_EQ_INT(nget(last, "prompt_eval_count"), 7);
            CHECK_EQ_INT(nget(last, "eval_count"), 1);
            cJSON_Delete(l);
        }
    }
}

TEST(render_generate_stream)
{
    cJSON *l = render_lines(&llg_render_ollama_generate, script_thinking);
    CHECK(json_is(l, "[{\"model\":\"llama3.2\",\"response\":\"\",\"thinking\":\"hm\",\"done\":false},"
                     "{\"model\":\"llama3.2\",\"response\":\"ok\",\"done\":false},"
                     "{\"model\":\"llama3.2\",\"response\":\"\"," LAST_COUNTS("stop", 1, 2) "}]"));
    cJSON_Delete(l);
}

static void script_every(llg_answer_t *a, llg_strbuf_t *out)
{
    llg_answer_reasoning(a, out, "think", 5);
    llg_answer_content(a, out, "Hello ", 6);
    llg_answer_reasoning(a, out, "more", 4);
    llg_answer_content(a, out, "world", 5);
    llg_answer_tool_call(a, out, "c1", 2, "f", 1, "{\"a\":1}", 7);
    llg_answer_tool_call(a, out, "c2", 2, "g", 1, "", 0);
    llg_answer_set_usage(a, 3, 4);
    llg_answer_finish(a, out, "length");
}

TEST(render_whole)
{
    cJSON *j = render_whole(&llg_render_ollama_chat, script_every);
    CHECK(json_is(j, "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"Hello world\","
                     "\"thinking\":\"thinkmore\",\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":{\"a\":1}}},"
                     "{\"function\":{\"name\":\"g\",\"arguments\":{}}}]}," LAST_COUNTS("length", 3, 4) "}"));
    cJSON_Delete(j);
    j = render_whole(&llg_render_ollama_generate, script_every);
    CHECK(json_is(
        j, "{\"model\":\"llama3.2\",\"response\":\"Hello world\",\"thinking\":\"thinkmore\"," LAST_COUNTS("length", 3, 4) "}"));
    cJSON_Delete(j);
    /* no thinking: no member; an empty answer: empty content */
    j = render_whole(&llg_render_ollama_chat, script_text);
    CHECK(oget(oget(j, "message"), "thinking") == NULL && oget(oget(j, "message"), "tool_calls") == NULL);
    CHECK_EQ_STR(sget(oget(j, "message"), "content"), "Hello \xef\xbf\xbd");
    cJSON_Delete(j);
    reason_ = NULL;
    j = render_whole(&llg_render_ollama_generate, script_reason);
    CHECK_EQ_STR(sget(j, "response"), "x");
    CHECK(oget(j, "thinking") == NULL);
    cJSON_Delete(j);
}

/* Every llg_strbuf_t operation leaves `data` NUL-ended at `len`
 * (llg_strbuf_append, llg_strbuf_reset): the whole body too, which the
 * renderer writes as a line and then takes its newline back. */
TEST(render_whole_nul_ended)
{
    const llg_render_t *renders[] = {&llg_render_ollama_chat, &llg_render_ollama_generate};
    for (int k = 0; k < 2; k++) {
        llg_xlate_params_t p = oparams(renders[k], false);
        llg_answer_t a;
        llg_answer_init(&a, &p);
        llg_strbuf_t out = {0};
        llg_answer_content(&a, &out, "Hi", 2);
        llg_answer_finish(&a, &out, NULL);
        CHECK(out.len > 0 && out.data[out.len - 1] == '}');
        CHECK(out.data != NULL && out.data[out.len] == '\0');
        CHECK_EQ_INT(strlen(out.data), out.len);
        llg_strbuf_free(&out);
        llg_answer_dispose(&a);
    }
}

/* The stream's pieces joined equal the whole answer. */
TEST(render_stream_equals_whole)
{
    const llg_render_t *renders[] = {&llg_render_ollama_chat, &llg_render_ollama_generate};
    for (int k = 0; k < 2; k++) {
        cJSON *l = render_lines(renders[k], script_every);
        cJSON *j = render_whole(renders[k], script_every);
        llg_strbuf_t text = {0}, thinking = {0};
        const cJSON *line;
        cJSON_ArrayForEach(line, l)
        {
            const cJSON *m = k == 0 ? oget(line, "message") : line;
            const char *t = sget(m, k == 0 ? "content" : "response"), *th = sget(m, "thinking");
            if (t != NULL)
                llg_strbuf_appends(&text, t);
            if (th != NULL)
                llg_strbuf_appends(&thinking, th);
            if (k == 0 && oget(m, "tool_calls") != NULL)
                CHECK(cJSON_Compare(oget(m, "tool_calls"), oget(oget(j, "message"), "tool_calls"), true));
        }
        const cJSON *m = k == 0 ? oget(j, "message") : j;
        CHECK_EQ_STR(text.data, sget(m, k == 0 ? "content" : "response"));
        CHECK_EQ_STR(thinking.data, sget(m, "thinking"));
        /* the last line is the whole answer's counts */
        cJSON *last = cJSON_Duplicate(aget(l, cJSON_GetArraySize(l) - 1), 1);
        cJSON *counts = cJSON_Duplicate(j, 1);
        cJSON_DeleteItemFromObjectCaseSensitive(last, k == 0 ? "message" : "response");
        cJSON_DeleteItemFromObjectCaseSensitive(counts, k == 0 ? "message" : "response");
        cJSON_DeleteItemFromObjectCaseSensitive(counts, "thinking");
        CHECK(cJSON_Compare(last, counts, true));
        cJSON_Delete(last);
        cJSON_Delete(counts);
        llg_strbuf_free(&text);
        llg_strbuf_free(&thinking);
        cJSON_Delete(l);
        cJSON_Delete(j);
    }
}

TEST(render_fail)
{
    const llg_render_t *renders[] = {&llg_render_ollama_chat, &llg_render_ollama_generate};
    for (int k = 0; k < 2; k++) {
        /* after the first line: a last line {"error": ...}, nothing after it */
        llg_xlate_params_t p = oparams(renders[k], true);
        llg_answer_t a;
        llg_answer_init(&a, &p);
        llg_strbuf_t out = {0};
        llg_answer_content(&a, &out, "partial", 7);
        llg_xlate_error_t err = {.http_status = 502};
        snprintf(err.code, sizeof(err.code), "upstream_error");
        snprintf(err.message, sizeof(err.message), "upstream \xff broke \"here\"");
        CHECK_EQ_INT(llg_answer_fail(&a, &out, &err), -1);
        CHECK_EQ_INT(err.http_status, 0);
        size_t len = out.len;
        llg_answer_content(&a, &out, "late", 4);
        llg_answer_finish(&a, &out, NULL);
        CHECK_EQ_INT(out.len, len);
        lines_t l;
        parse_lines(&out, &l);
        CHECK(l.well_formed);
        CHECK_EQ_INT(cJSON_GetArraySize(l.list), 2);
        CHECK(json_is(aget(l.list, 1), "{\"error\":\"upstream \xef\xbf\xbd broke \\\"here\\\"\"}"));
        cJSON_Delete(l.list);
        llg_strbuf_free(&out);
        llg_answer_dispose(&a);

        /* before it (tool calls are kept for the end: nothing was sent): no
         * bytes, the status for the client kept */
        llg_answer_init(&a, &p);
        llg_answer_tool_call(&a, &out, "c", 1, "f", 1, "{}", 2);
        err.http_status = 503;
        CHECK_EQ_INT(llg_answer_fail(&a, &out, &err), -1);
        CHECK_EQ_INT(out.len, 0);
        CHECK_EQ_INT(err.http_status, 503);
        llg_strbuf_free(&out);
        llg_answer_dispose(&a);
    }
}

/* ---- the openai egress reader, rendering Ollama ----------------------------- */

TEST(egress_openai_stream)
{
    size_t len;
    char *in = read_fixture("openai/chat-stream.sse", &len);
    llg_xlate_params_t p = oparams(&llg_render_ollama_chat, true);
    run_t r;
    CHECK_EQ_INT(run_every_split(llg_egress_for(LLG_PROVIDER_OPENAI), &p, in, len, &r), 0);
    CHECK_EQ_INT(r.rc, 0);
    CHECK_EQ_INT(r.prompt, 9);
    CHECK_EQ_INT(r.completion, 3);
    CHECK_EQ_STR(r.out.data, "{\"model\":\"llama3.2\",\"created_at\":\"\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},"
                             "\"done\":false}\n"
                             "{\"model\":\"llama3.2\",\"created_at\":\"\",\"message\":{\"role\":\"assistant\",\"content\":\"!\"},"
                             "\"done\":false}\n"
                             "{\"model\":\"llama3.2\",\"created_at\":\"\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},"
                             "\"done_reason\":\"stop\",\"done\":true,\"total_duration\":0,\"load_duration\":0,"
                             "\"prompt_eval_count\":9,\"prompt_eval_duration\":0,\"eval_count\":3,\"eval_duration\":0}\n");
    llg_strbuf_free(&r.out);
    /* generate */
    p = oparams(&llg_render_ollama_generate, true);
    CHECK_EQ_INT(run_every_split(llg_egress_for(LLG_PROVIDER_OPENAI), &p, in, len, &r), 0);
    CHECK(strstr(r.out.data, "\"response\":\"Hi\",\"done\":false}\n") != NULL);
    CHECK(strstr(r.out.data, "\"message\"") == NULL);
    llg_strbuf_free(&r.out);
    free(in);
}

TEST(egress_openai_nonstream)
{
    size_t len;
    char *in = read_fixture("openai/chat-nonstream.json", &len);
    llg_xlate_params_t p = oparams(&llg_render_ollama_chat, false);
    run_t r;
    CHECK_EQ_INT(run_every_split(llg_egress_for(LLG_PROVIDER_OPENAI), &p, in, len, &r), 0);
    CHECK_EQ_INT(r.rc, 0);
    CHECK_EQ_STR(r.out.data, "{\"model\":\"llama3.2\",\"created_at\":\"\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi!\"},"
                             "\"done_reason\":\"stop\",\"done\":true,\"total_duration\":0,\"load_duration\":0,"
                             "\"prompt_eval_count\":9,\"prompt_eval_duration\":0,\"eval_count\":3,\"eval_duration\":0}");
    llg_strbuf_free(&r.out);
    free(in);
}

TEST(egress_openai_midstream_error)
{
    size_t len;
    char *in = read_fixture("openai/midstream-error.sse", &len);
    llg_xlate_params_t p = oparams(&llg_render_ollama_chat, true);
    run_t r;
    CHECK_EQ_INT(run_every_split(llg_egress_for(LLG_PROVIDER_OPENAI), &p, in, len, &r), 0);
    CHECK_EQ_INT(r.rc, -1);
    CHECK_EQ_INT(r.err.http_status, 0);
    CHECK_EQ_STR(r.out.data, "{\"model\":\"llama3.2\",\"created_at\":\"\",\"message\":{\"role\":\"assistant\",\"content\":\"Par\"},"
                             "\"done\":false}\n"
                             "{\"error\":\"The server had an error while processing your request. Sorry about that!\"}\n");
    llg_strbuf_free(&r.out);
    free(in);
}

/* tool call fragments of a chat stream: one tool_calls line, arguments an object */
TEST(egress_tool_calls)
{
    const char *in =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"call_1\","
        "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}}]}\n\n"
        "data: "
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"ci\"}}]}}]}\n\n"
        "data: "
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ty\\\":\\\"Oslo\\\"}\"}},"
        "{\"index\":1,\"id\":\"call_2\",\"function\":{\"name\":\"now\",\"arguments\":\"{}\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
        "data: [DONE]\n\n";
    llg_xlate_params_t p = oparams(&llg_render_ollama_chat, true);
    run_t r;
    CHECK_EQ_INT(run_every_split(llg_egress_for(LLG_PROVIDER_OPENAI), &p, in, strlen(in), &r), 0);
    CHECK_EQ_INT(r.rc, 0);
    CHECK(strstr(r.out.data, "\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
                             "{\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}},"
                             "{\"function\":{\"name\":\"now\",\"arguments\":{}}}]},\"done\":false}\n") != NULL);
    CHECK(strstr(r.out.data, "\"done_reason\":\"stop\",\"done\":true") != NULL);
    llg_strbuf_free(&r.out);
}

/* ---- error body, /api/tags, /api/show, the time --------------------------- */

TEST(bodies)
{
    llg_strbuf_t b = {0};
    llg_ollama_error_body(&b, 404, "invalid_request_error", "model_not_found", "model", "model \"x\" not found");
    CHECK_EQ_STR(b.data, "{\"error\":\"model \\\"x\\\" not found\"}");
    llg_strbuf_reset(&b);
    llg_render_ollama_chat.error_body(&b, 400, NULL, NULL, NULL, "bad \xff");
    CHECK_EQ_STR(b.data, "{\"error\":\"bad \xef\xbf\xbd\"}");
    llg_strbuf_reset(&b);
    llg_render_ollama_chat.error_event(&b, 502, "server_error", NULL, "gone");
    CHECK_EQ_STR(b.data, "{\"error\":\"gone\"}\n");
    llg_strbuf_reset(&b);

    const char *list = "{\"object\":\"list\",\"data\":[{\"id\":\"gpt-4o\",\"object\":\"model\"},{\"object\":\"model\"},"
                       "{\"id\":\"claude-x\"}]}";
    CHECK_EQ_INT(llg_ollama_tags(list, strlen(list), &b), 0);
    cJSON *j = cJSON_ParseWithLength(b.data, b.len);
    const cJSON *models = oget(j, "models");
    CHECK_EQ_INT(cJSON_GetArraySize(models), 2);
    static const char *const names[] = {"gpt-4o", "claude-x"};
    for (int i = 0; i < 2; i++) {
        cJSON *m = cJSON_Duplicate(aget(models, i), 1);
        CHECK(ollama_time(sget(m, "modified_at")));
        cJSON_DeleteItemFromObjectCaseSensitive(m, "modified_at");
        char want[512];
        snprintf(want, sizeof(want),
                 "{\"name\":\"%s\",\"model\":\"%s\",\"size\":0,\"digest\":\"\",\"details\":{\"parent_model\":\"\","
                 "\"format\":\"\",\"family\":\"\",\"families\":[],\"parameter_size\":\"\",\"quantization_level\":\"\"}}",
                 names[i], names[i]);
        CHECK(json_is(m, want));
        cJSON_Delete(m);
    }
    cJSON_Delete(j);
    llg_strbuf_reset(&b);
    CHECK_EQ_INT(llg_ollama_tags("{\"data\":5}", 10, &b), -1);
    CHECK_EQ_INT(llg_ollama_tags("nope", 4, &b), -1);
    CHECK_EQ_INT(llg_ollama_tags("{\"data\":[]}", 11, &b), 0);
    CHECK_EQ_STR(b.data, "{\"models\":[]}");
    llg_strbuf_reset(&b);

    llg_ollama_show("gpt-4o", &b);
    j = cJSON_ParseWithLength(b.data, b.len);
    CHECK_EQ_STR(sget(j, "model"), "gpt-4o");
    CHECK(json_is(oget(j, "capabilities"), "[\"completion\",\"tools\"]"));
    CHECK(cJSON_IsObject(oget(j, "details")) && cJSON_IsObject(oget(j, "model_info")));
    CHECK(ollama_time(sget(j, "modified_at")));
    cJSON_Delete(j);
    llg_strbuf_free(&b);

    char when[40];
    llg_ollama_time(when);
    CHECK(ollama_time(when));
}

int main(int argc, char **argv)
{
    adapter_fixtures_init(argc, argv);
    RUN(parse_chat_golden);
    RUN(parse_model_name);
    RUN(parse_options);
    RUN(parse_format_and_stream);
    RUN(parse_tool_messages);
    RUN(parse_chat_refusals);
    RUN(parse_generate);
    RUN(parse_generate_refusals);
    RUN(render_chat_stream);
    RUN(render_chat_thinking);
    RUN(render_chat_tool_calls);
    RUN(render_done_reason);
    RUN(render_generate_stream);
    RUN(render_whole);
    RUN(render_whole_nul_ended);
    RUN(render_stream_equals_whole);
    RUN(render_fail);
    RUN(egress_openai_stream);
    RUN(egress_openai_nonstream);
    RUN(egress_openai_midstream_error);
    RUN(egress_tool_calls);
    RUN(bodies);
    TEST_MAIN_END();
}
