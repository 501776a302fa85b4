/*
 * tests/unit/test_responses.c: OpenAI's Responses API as a client protocol
 * (providers/responses.h, responses_request.c, responses_answer.c), on its
 * own, without the server:
 * - llg_responses_parse: the fixture request (tests/fixtures/responses/) and
 *   every mapping into the canonical (chat) request: instructions, input
 *   strings and items, content parts, function calls and their outputs,
 *   custom and local_shell tools and their call items, tool_choice, the
 *   parameters; the stateful fields and bad input refused, naming the field;
 * - llg_render_responses driven through the answer (providers/answer.h):
 *   the event sequences of the fixture streams (types in order, and every
 *   member the fixture has), sequence numbers, the final response's items
 *   and usage, incomplete answers, custom_tool_call and local_shell_call
 *   items, a failure after the start, the whole (non-stream) body;
 * - the openai egress reader rendering Responses: an upstream chat stream
 *   (tests/fixtures/openai/) fed whole, cut at every byte and byte by byte,
 *   its ids from params.random only.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/answer.h"
#include "providers/egress.h"
#include "providers/responses.h"
#include "providers/sse.h"
#include "tests/test.h"
#include "tests/unit/adapter_util.h"

/* ---- the request ----------------------------------------------------------- */

#define RESP llg_responses_parse

TEST(parse_fixture_request)
{
    size_t len;
    char *body = read_fixture("responses/request.json", &len);
    cJSON *c = llg_responses_parse(body, len, parse_err_, sizeof(parse_err_), parse_param_, sizeof(parse_param_));
    CHECK(json_is(c, "{\"model\":\"gpt-4.1\",\"messages\":["
                     "{\"role\":\"system\",\"content\":\"You are a weather bot.\"},"
                     "{\"role\":\"user\",\"content\":\"Weather in Paris?\"},"
                     "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_abc123\",\"type\":\"function\","
                     "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"location\\\":\\\"Paris\\\"}\"}}]},"
                     "{\"role\":\"tool\",\"tool_call_id\":\"call_abc123\",\"content\":\"21C, sunny\"}],"
                     "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Current weather\","
                     "\"parameters\":{\"type\":\"object\",\"properties\":{\"location\":{\"type\":\"string\"}},"
                     "\"required\":[\"location\"]},\"strict\":false}}],"
                     "\"stream\":true}"));
    /* no tool_choice when the request has none; store: false is no refusal */
    CHECK(oget(c, "tool_choice") == NULL);
    cJSON_Delete(c);
    free(body);
}

TEST(parse_instructions_and_string_input)
{
    CHECK(canonical_is(RESP, "{\"model\":\"m\",\"instructions\":\"Be brief.\",\"input\":\"hello\"}",
                       "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                       "{\"role\":\"user\",\"content\":\"hello\"}]}"));
    /* empty instructions: no system message; no model: none */
    CHECK(
        canonical_is(RESP, "{\"instructions\":\"\",\"input\":\"hi\"}", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"));
    /* instructions come first even after the input */
    CHECK(canonical_is(RESP, "{\"input\":[{\"role\":\"user\",\"content\":\"q\"}],\"instructions\":\"sys\"}",
                       "{\"messages\":[{\"role\":\"system\",\"content\":\"sys\"},{\"role\":\"user\",\"content\":\"q\"}]}"));
}

TEST(parse_message_items)
{
    CHECK(canonical_is(
        RESP,
        "{\"model\":\"m\",\"input\":["
        "{\"role\":\"developer\",\"content\":\"Be terse.\"},"
        "{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"What is \"},"
        "{\"type\":\"input_text\",\"text\":\"this?\"},"
        "{\"type\":\"input_image\",\"image_url\":\"https://x.test/y.png\",\"detail\":\"low\"},"
        "{\"type\":\"input_image\",\"file_id\":\"file_1\"},{\"type\":\"input_file\",\"file_id\":\"file_2\"}]},"
        "{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"A cat.\"}]},"
        "{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"a\"},{\"type\":\"input_text\",\"text\":\"b\"}]},"
        "{\"role\":\"system\",\"content\":[{\"type\":\"input_image\",\"image_url\":\"data:image/png;base64,AAAA\"}]}]}",
        "{\"model\":\"m\",\"messages\":["
        "{\"role\":\"developer\",\"content\":\"Be terse.\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What is \"},{\"type\":\"text\",\"text\":\"this?\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x.test/y.png\",\"detail\":\"low\"}}]},"
        "{\"role\":\"assistant\",\"content\":\"A cat.\"},"
        "{\"role\":\"user\",\"content\":\"ab\"},"
        "{\"role\":\"system\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAAA\"}}]}]}"));
    /* an item of another type with a role is no message */
    CHECK(canonical_is(RESP,
                       "{\"input\":[{\"type\":\"web_search_call\",\"role\":\"user\",\"content\":\"x\"},"
                       "{\"role\":\"user\",\"content\":\"y\"}]}",
                       "{\"messages\":[{\"role\":\"user\",\"content\":\"y\"}]}"));
}

TEST(parse_function_calls)
{
    CHECK(canonical_is(
        RESP,
        "{\"input\":[{\"role\":\"user\",\"content\":\"go\"},"
        "{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_A\",\"name\":\"f\",\"arguments\":\"{\\\"x\\\":1}\"},"
        "{\"type\":\"function_call\",\"call_id\":\"call_B\",\"name\":\"g\"},"
        "{\"type\":\"function_call_output\",\"call_id\":\"call_A\",\"output\":\"ra\"},"
        "{\"type\":\"function_call_output\",\"call_id\":\"call_B\",\"output\":[{\"type\":\"input_text\",\"text\":\"rb\"}]},"
        "{\"role\":\"assistant\",\"content\":\"ok\"},"
        "{\"type\":\"function_call\",\"call_id\":\"call_C\",\"name\":\"h\",\"arguments\":\"{}\"},"
        "{\"type\":\"function_call_output\",\"call_id\":\"call_C\",\"output\":\"rc\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"go\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
        "{\"id\":\"call_A\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\":1}\"}},"
        "{\"id\":\"call_B\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_A\",\"content\":\"ra\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_B\",\"content\":\"rb\"},"
        "{\"role\":\"assistant\",\"content\":\"ok\",\"tool_calls\":["
        "{\"id\":\"call_C\",\"type\":\"function\",\"function\":{\"name\":\"h\",\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_C\",\"content\":\"rc\"}]}"));
    CHECK(refused(RESP, "{\"input\":[{\"type\":\"function_call\",\"call_id\":\"c\"}]}", "input[0]"));
    CHECK(refused(RESP, "{\"input\":[{\"role\":\"user\",\"content\":\"x\"},{\"type\":\"function_call\",\"name\":\"f\"}]}",
                  "input[1]"));
    CHECK(refused(RESP, "{\"input\":[{\"type\":\"function_call_output\",\"output\":\"x\"}]}", "input[0]"));
    CHECK(refused(RESP, "{\"input\":[{\"type\":\"function_call_output\",\"call_id\":\"c\",\"output\":5}]}", "input[0]"));
}

/* tools[i].function of a canonical request */
static const cJSON *tool_fn(const cJSON *c, int i)
{
    return oget(aget(oget(c, "tools"), i), "function");
}

TEST(parse_custom_tool)
{
    cJSON *c = parse_with(
        RESP, "{\"input\":\"x\",\"tools\":["
              "{\"type\":\"custom\",\"name\":\"apply_patch\",\"description\":\"Use this to edit files.\","
              "\"format\":{\"type\":\"grammar\",\"syntax\":\"lark\",\"definition\":\"start: begin_patch hunk+ end_patch\"}},"
              "{\"type\":\"custom\",\"name\":\"free\"},"
              "{\"type\":\"custom\",\"name\":\"txt\",\"format\":{\"type\":\"text\"}},"
              "{\"type\":\"web_search\"},{\"type\":\"custom\"},"
              "{\"type\":\"function\",\"name\":\"f\"}]}");
    CHECK(c != NULL);
    CHECK_EQ_INT(cJSON_GetArraySize(oget(c, "tools")), 4);
    const cJSON *fn = tool_fn(c, 0);
    CHECK_EQ_STR(sget(aget(oget(c, "tools"), 0), "type"), "function");
    CHECK_EQ_STR(sget(fn, "name"), "apply_patch");
    CHECK_EQ_STR(sget(fn, "description"), "Use this to edit files.");
    const cJSON *params = oget(fn, "parameters");
    CHECK_EQ_STR(sget(params, "type"), "object");
    CHECK(json_is(oget(params, "required"), "[\"input\"]"));
    CHECK(cJSON_IsFalse(oget(params, "additionalProperties")));
    CHECK_EQ_INT(cJSON_GetArraySize(oget(params, "properties")), 1);
    const cJSON *input = oget(oget(params, "properties"), "input");
    CHECK_EQ_STR(sget(input, "type"), "string");
    const char *d = sget(input, "description");
    CHECK(d != NULL && strstr(d, "lark") != NULL && strstr(d, "start: begin_patch hunk+ end_patch") != NULL);
    /* free text: the same one parameter, no grammar, no description of its own */
    for (int i = 1; i <= 2; i++) {
        fn = tool_fn(c, i);
        CHECK_EQ_STR(sget(fn, "name"), i == 1 ? "free" : "txt");
        CHECK(oget(fn, "description") == NULL);
        d = sget(oget(oget(oget(fn, "parameters"), "properties"), "input"), "description");
        CHECK(d != NULL && strstr(d, "grammar") == NULL);
        CHECK(json_is(oget(oget(fn, "parameters"), "required"), "[\"input\"]"));
    }
    CHECK(json_is(aget(oget(c, "tools"), 3), "{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{}}}"));
    cJSON_Delete(c);

    /* the call and its output */
    CHECK(
        canonical_is(RESP,
                     "{\"input\":[{\"type\":\"custom_tool_call\",\"id\":\"ctc_1\",\"call_id\":\"c1\",\"name\":\"apply_patch\","
                     "\"input\":\"*** Begin Patch\\n*** End Patch\\n\"},"
                     "{\"type\":\"custom_tool_call_output\",\"call_id\":\"c1\",\"output\":\"Done\"},"
                     "{\"type\":\"custom_tool_call\",\"call_id\":\"c2\",\"name\":\"free\"}]}",
                     "{\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
                     "\"function\":{\"name\":\"apply_patch\",\"arguments\":\"{\\\"input\\\":\\\"*** Begin Patch\\\\n*** End "
                     "Patch\\\\n\\\"}\"}}]},"
                     "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"Done\"},"
                     "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c2\",\"type\":\"function\","
                     "\"function\":{\"name\":\"free\",\"arguments\":\"{\\\"input\\\":\\\"\\\"}\"}}]}]}"));
    CHECK(refused(RESP, "{\"input\":[{\"type\":\"custom_tool_call\",\"call_id\":\"c1\",\"input\":\"x\"}]}", "input[0]"));
    CHECK(refused(RESP,
                  "{\"input\":[{\"role\":\"user\",\"content\":\"a\"},{\"type\":\"custom_tool_call_output\",\"output\":\"x\"}]}",
                  "input[1]"));
}

TEST(parse_local_shell)
{
    cJSON *c = parse_with(RESP, "{\"input\":\"x\",\"tools\":[{\"type\":\"local_shell\"}]}");
    const cJSON *fn = tool_fn(c, 0);
    CHECK_EQ_STR(sget(fn, "name"), "local_shell");
    const cJSON *props = oget(oget(fn, "parameters"), "properties");
    CHECK(json_is(oget(props, "command"), "{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
                                          "\"description\":\"The command to run and its arguments.\"}"));
    CHECK_EQ_STR(sget(oget(props, "workdir"), "type"), "string");
    CHECK_EQ_STR(sget(oget(props, "timeout_ms"), "type"), "integer");
    CHECK(json_is(oget(oget(fn, "parameters"), "required"), "[\"command\"]"));
    cJSON_Delete(c);

    CHECK(canonical_is(
        RESP,
        "{\"input\":[{\"type\":\"local_shell_call\",\"id\":\"lsh_1\",\"call_id\":\"call_ls\",\"status\":\"completed\","
        "\"action\":{\"type\":\"exec\",\"command\":[\"ls\",\"-la\"],\"working_directory\":\"/tmp\",\"timeout_ms\":1000,"
        "\"env\":{},\"user\":null}},"
        "{\"type\":\"local_shell_call_output\",\"id\":\"call_ls\",\"output\":\"total 0\"},"
        "{\"type\":\"local_shell_call\",\"call_id\":\"call_2\",\"action\":{\"type\":\"exec\"}},"
        "{\"type\":\"local_shell_call_output\",\"call_id\":\"call_2\",\"id\":\"other\",\"output\":\"\"}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_ls\",\"type\":\"function\","
        "\"function\":{\"name\":\"local_shell\",\"arguments\":"
        "\"{\\\"command\\\":[\\\"ls\\\",\\\"-la\\\"],\\\"workdir\\\":\\\"/tmp\\\",\\\"timeout_ms\\\":1000}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_ls\",\"content\":\"total 0\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_2\",\"type\":\"function\","
        "\"function\":{\"name\":\"local_shell\",\"arguments\":\"{\\\"command\\\":[]}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_2\",\"content\":\"\"}]}"));
    /* no call id, or an output with neither call_id nor id */
    CHECK(refused(RESP, "{\"input\":[{\"type\":\"local_shell_call\",\"id\":\"lsh_1\",\"action\":{\"command\":[\"ls\"]}}]}",
                  "input[0]"));
    CHECK(refused(RESP,
                  "{\"input\":[{\"role\":\"user\",\"content\":\"a\"},{\"type\":\"local_shell_call_output\",\"output\":\"x\"}]}",
                  "input[1]"));
    /* `id` stands for the call id only in a local_shell_call_output */
    CHECK(refused(RESP, "{\"input\":[{\"type\":\"function_call_output\",\"id\":\"c\",\"output\":\"x\"}]}", "input[0]"));
}

TEST(parse_tool_choice)
{
    static const struct {
        const char *choice, *want; /* want NULL: no tool_choice */
    } cases[] = {
        {"\"required\"", "\"required\""},
        {"\"none\"", "\"none\""},
        {"{\"type\":\"function\",\"name\":\"f\"}", "{\"type\":\"function\",\"function\":{\"name\":\"f\"}}"},
        {"{\"type\":\"custom\",\"name\":\"apply_patch\"}", "{\"type\":\"function\",\"function\":{\"name\":\"apply_patch\"}}"},
        {"{\"type\":\"local_shell\"}", "{\"type\":\"function\",\"function\":{\"name\":\"local_shell\"}}"},
        {"{\"type\":\"function\"}", NULL},
        {"{\"type\":\"web_search\"}", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[512];
        snprintf(body, sizeof(body),
                 "{\"input\":\"x\",\"parallel_tool_calls\":false,\"tool_choice\":%s,\"tools\":[{\"type\":\"function\","
                 "\"name\":\"f\",\"parameters\":{}},{\"type\":\"custom\",\"name\":\"apply_patch\"},{\"type\":\"local_shell\"}]}",
                 cases[i].choice);
        cJSON *c = parse_with(RESP, body);
        CHECK_EQ_INT(cJSON_GetArraySize(oget(c, "tools")), 3);
        CHECK(cJSON_IsFalse(oget(c, "parallel_tool_calls")));
        if (cases[i].want == NULL)
            CHECK(oget(c, "tool_choice") == NULL);
        else
            CHECK(json_is(oget(c, "tool_choice"), cases[i].want));
        cJSON_Delete(c);
    }
    /* no tools: neither tool_choice nor parallel_tool_calls */
    CHECK(canonical_is(RESP, "{\"input\":\"x\",\"tool_choice\":\"required\",\"parallel_tool_calls\":true,\"tools\":[]}",
                       "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"));
}

TEST(parse_params)
{
    CHECK(canonical_is(
        RESP,
        "{\"input\":\"x\",\"max_output_tokens\":100,\"reasoning\":{\"effort\":\"high\",\"summary\":\"auto\"},"
        "\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"out\",\"schema\":{\"type\":\"object\"},\"strict\":true}},"
        "\"temperature\":0.5,\"top_p\":0.9,\"user\":\"u1\",\"metadata\":{\"a\":\"b\"},"
        "\"include\":[\"reasoning.encrypted_content\"],\"prompt_cache_key\":\"k\",\"service_tier\":\"auto\","
        "\"truncation\":\"disabled\",\"store\":false,\"background\":false,\"previous_response_id\":null,"
        "\"conversation\":null,\"stream\":false}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":100,\"reasoning_effort\":\"high\","
        "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"out\",\"schema\":{\"type\":\"object\"},"
        "\"strict\":true}},\"temperature\":0.5,\"top_p\":0.9,\"user\":\"u1\"}"));
    CHECK(canonical_is(RESP,
                       "{\"input\":\"x\",\"text\":{\"format\":{\"type\":\"json_object\"}},\"max_output_tokens\":null,"
                       "\"temperature\":null}",
                       "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_object\"}}"));
    /* a schema without a name gets one */
    CHECK(canonical_is(RESP, "{\"input\":\"x\",\"text\":{\"format\":{\"type\":\"json_schema\",\"schema\":{}}}}",
                       "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\","
                       "\"json_schema\":{\"name\":\"response\",\"schema\":{}}}}"));
    CHECK(canonical_is(RESP, "{\"input\":\"x\",\"text\":{\"format\":{\"type\":\"text\"}},\"stream\":true}",
                       "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":true}"));
    CHECK(refused(RESP, "{\"input\":\"x\",\"max_output_tokens\":0}", "max_output_tokens"));
    CHECK(refused(RESP, "{\"input\":\"x\",\"max_output_tokens\":-5}", "max_output_tokens"));
    CHECK(refused(RESP, "{\"input\":\"x\",\"max_output_tokens\":\"10\"}", "max_output_tokens"));
    CHECK(refused(RESP, "{\"input\":\"x\",\"max_output_tokens\":1e12}", "max_output_tokens"));
    CHECK(refused(RESP, "{\"input\":\"x\",\"temperature\":\"hot\"}", "temperature"));
    CHECK(refused(RESP, "{\"input\":\"x\",\"top_p\":[]}", "top_p"));
    CHECK(refused(RESP, "{\"input\":\"x\",\"stream\":\"yes\"}", "stream"));
}

TEST(parse_stateful_refused)
{
    static const struct {
        const char *body, *param, *word; /* the message names `word` */
    } cases[] = {
        {"{\"input\":\"x\",\"previous_response_id\":\"resp_1\"}", "previous_response_id", "previous_response_id"},
        {"{\"input\":\"x\",\"store\":true}", "store", "store"},
        {"{\"input\":\"x\",\"background\":true}", "background", "background"},
        {"{\"input\":\"x\",\"conversation\":\"conv_1\"}", "conversation", "conversation"},
        {"{\"input\":\"x\",\"conversation\":{\"id\":\"conv_1\"}}", "conversation", "conversation"},
        {"{\"input\":[{\"role\":\"user\",\"content\":\"x\"},{\"type\":\"item_reference\",\"id\":\"msg_1\"}]}", "input[1]",
         "reference"},
        /* refused before the input is read */
        {"{\"previous_response_id\":\"resp_1\"}", "previous_response_id", "previous_response_id"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(refused(RESP, cases[i].body, cases[i].param));
        CHECK(strstr(parse_err_, cases[i].word) != NULL);
    }
}

TEST(parse_bad_items)
{
    /* a tool message item: chat's shape, not the Responses API's */
    CHECK(refused(
        RESP, "{\"input\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"tool\",\"tool_call_id\":\"c\",\"content\":\"r\"}]}",
        "input[1]"));
    CHECK(refused(RESP, "{\"input\":[{\"type\":\"message\",\"role\":\"bot\",\"content\":\"x\"}]}", "input[0]"));
    CHECK(refused(RESP, "{\"input\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"user\",\"content\":\"y\"},5]}", "input[2]"));
    CHECK(refused(RESP, "{\"input\":[\"text\"]}", "input[0]"));
    CHECK(refused(RESP, "{\"input\":[{\"role\":\"user\",\"content\":5}]}", "input[0]"));
    CHECK(refused(RESP, "{\"input\":[{\"role\":\"user\",\"content\":{\"type\":\"input_text\"}}]}", "input[0]"));
    CHECK(refused(RESP, "{\"input\":[{\"role\":\"user\"}]}", "input[0]"));
}

TEST(parse_bad_types)
{
    CHECK(refused(RESP, "{\"model\":\"m\"}", "input"));
    CHECK(refused(RESP, "{\"input\":5}", "input"));
    CHECK(refused(RESP, "{\"input\":{\"role\":\"user\"}}", "input"));
    CHECK(refused(RESP, "{\"input\":null}", "input"));
    CHECK(refused(RESP, "{\"model\":5,\"input\":\"x\"}", "model"));
    CHECK(refused(RESP, "[{\"input\":\"x\"}]", ""));
    CHECK(refused(RESP, "{\"input\":", ""));
    CHECK(refused(RESP, "", ""));
    CHECK(refused(RESP, "{\"input\":\"x\"} junk", ""));
    CHECK(refused(RESP, "{\"input\":\"x\",\"input\":\"y\"}", "input"));
    CHECK(refused(RESP, "{\"input\":\"bad \xff byte\"}", ""));
}

/* ---- the renderer: events ---------------------------------------------------- */

/* A Responses stream read back: each event's data, in order; well formed when
 * every event is `event: T` then one data line, a JSON object of type T, and
 * nothing is left over. */
typedef struct evs {
    bool well_formed;
    cJSON *list;
} evs_t;

static int on_event(void *ctx, const llg_sse_event_t *ev)
{
    evs_t *e = ctx;
    cJSON *d = ev->has_data ? cJSON_ParseWithLength(ev->data, ev->data_len) : NULL;
    const char *t = sget(d, "type");
    if (t == NULL || strlen(t) != ev->name_len || memcmp(t, ev->name, ev->name_len) != 0 || strchr(ev->data, '\n') != NULL) {
        fprintf(stderr, "  not an event of its type: %.*s\n", (int)ev->raw_len, ev->raw);
        e->well_formed = false;
        cJSON_Delete(d);
        return 0;
    }
    cJSON_AddItemToArray(e->list, d);
    return 0;
}

static void parse_events(const char *data, size_t len, evs_t *e)
{
    e->well_formed = llg_utf8_valid(data != NULL ? data : "", len) && len >= 2 && memcmp(data + len - 2, "\n\n", 2) == 0;
    e->list = cJSON_CreateArray();
    llg_sse_reader_t r;
    llg_sse_init(&r);
    if (llg_sse_feed(&r, data != NULL ? data : "", len, on_event, e) != 0 || llg_sse_pending(&r) != 0)
        e->well_formed = false;
    llg_sse_dispose(&r);
}

/* the events' types, joined by spaces */
static void types_of(const cJSON *list, llg_strbuf_t *out)
{
    const cJSON *ev;
    cJSON_ArrayForEach(ev, list)
    {
        if (out->len > 0)
            llg_strbuf_appends(out, " ");
        llg_strbuf_appends(out, sget(ev, "type") != NULL ? sget(ev, "type") : "?");
    }
    llg_strbuf_appends(out, "");
}

/* sequence_number 0, 1, 2, ... */
static bool numbered(const cJSON *list)
{
    int i = 0;
    const cJSON *ev;
    cJSON_ArrayForEach(ev, list)
    {
        if (nget(ev, "sequence_number") != i) {
            fprintf(stderr, "  event %d (%s) has sequence_number %g\n", i, sget(ev, "type"), nget(ev, "sequence_number"));
            return false;
        }
        i++;
    }
    return true;
}

/* What varies from one response to another: ids and times. */
static bool varies(const char *key)
{
    return key != NULL && (strcmp(key, "id") == 0 || strcmp(key, "item_id") == 0 || strcmp(key, "created_at") == 0);
}

/* Every member of `want` is in `got` with the same value (ids and times: of
 * the same type); arrays are the same length. `got` may have more members. */
static bool like(const cJSON *want, const cJSON *got, const char *path)
{
    char sub[256];
    if (varies(want->string)) {
        if ((cJSON_IsString(want) && cJSON_IsString(got)) || (cJSON_IsNumber(want) && cJSON_IsNumber(got)))
            return true;
    } else if (cJSON_IsObject(want)) {
        if (cJSON_IsObject(got)) {
            const cJSON *m;
            cJSON_ArrayForEach(m, want)
            {
                snprintf(sub, sizeof(sub), "%s.%s", path, m->string);
                if (!like(m, oget(got, m->string), sub))
                    return false;
            }
            return true;
        }
    } else if (cJSON_IsArray(want)) {
        if (cJSON_IsArray(got) && cJSON_GetArraySize(want) == cJSON_GetArraySize(got)) {
            for (int i = 0; i < cJSON_GetArraySize(want); i++) {
                snprintf(sub, sizeof(sub), "%s[%d]", path, i);
                if (!like(aget(want, i), aget(got, i), sub))
                    return false;
            }
            return true;
        }
    } else if (got != NULL && cJSON_Compare(want, got, true)) {
        return true;
    }
    char *w = cJSON_PrintUnformatted(want), *g = got != NULL ? cJSON_PrintUnformatted(got) : NULL;
    fprintf(stderr, "  %s: got %s, want %s\n", path, g != NULL ? g : "(nothing)", w);
    cJSON_free(w);
    cJSON_free(g);
    return false;
}

/* The ids agree: every response.* event names the same response; an event's
 * item_id is the id of the item added at its output_index. */
static bool ids_agree(const cJSON *list)
{
    const char *resp = NULL, *items[16] = {0};
    const cJSON *ev;
    cJSON_ArrayForEach(ev, list)
    {
        const char *rid = sget(oget(ev, "response"), "id");
        if (rid != NULL && resp == NULL)
            resp = rid;
        if (rid != NULL && strcmp(rid, resp) != 0)
            return false;
        int i = (int)nget(ev, "output_index");
        if (i < 0 || i >= 16)
            continue;
        const char *id = sget(oget(ev, "item"), "id");
        if (id == NULL)
            id = sget(ev, "item_id");
        if (id == NULL)
            return false;
        if (items[i] == NULL)
            items[i] = id;
        if (strcmp(items[i], id) != 0) {
            fprintf(stderr, "  output %d: item %s, then %s\n", i, items[i], id);
            return false;
        }
    }
    return true;
}

/* Items are closed for good: no event names item i after its
 * output_item.done, and that done item is the final response's output[i]. */
static bool items_closed(const cJSON *list)
{
    const cJSON *last = aget(list, cJSON_GetArraySize(list) - 1);
    const cJSON *output = oget(oget(last, "response"), "output");
    bool done[16] = {false}, ok = true;
    const cJSON *ev;
    cJSON_ArrayForEach(ev, list)
    {
        int i = (int)nget(ev, "output_index");
        if (i < 0 || i >= 16)
            continue;
        if (done[i]) {
            fprintf(stderr, "  %s (sequence_number %g) after output %d was done\n", sget(ev, "type"), nget(ev, "sequence_number"),
                    i);
            ok = false;
        }
        if (strcmp(sget(ev, "type"), "response.output_item.done") == 0) {
            done[i] = true;
            if (!cJSON_Compare(oget(ev, "item"), aget(output, i), true)) {
                char *a = cJSON_PrintUnformatted(oget(ev, "item")), *b = cJSON_PrintUnformatted(aget(output, i));
                fprintf(stderr, "  output_item.done %s\n  but the response has %s\n", a, b != NULL ? b : "(nothing)");
                cJSON_free(a);
                cJSON_free(b);
                ok = false;
            }
        }
    }
    return ok;
}

/* The fixture stream `name` and `got` have the same event types in order,
 * and each of our events has every member of the fixture's. */
static void check_like_fixture(const char *name, const cJSON *got)
{
    size_t len;
    char *fx = read_fixture(name, &len);
    evs_t want;
    parse_events(fx, len, &want);
    CHECK(want.well_formed && numbered(want.list) && ids_agree(want.list));
    llg_strbuf_t wt = {0}, gt = {0};
    types_of(want.list, &wt);
    types_of(got, &gt);
    CHECK_EQ_STR(gt.data, wt.data);
    for (int i = 0; i < cJSON_GetArraySize(want.list) && i < cJSON_GetArraySize(got); i++) {
        char path[64];
        snprintf(path, sizeof(path), "event %d", i);
        CHECK(like(aget(want.list, i), aget(got, i), path));
    }
    llg_strbuf_free(&wt);
    llg_strbuf_free(&gt);
    cJSON_Delete(want.list);
    free(fx);
}

static llg_xlate_params_t rparams(bool stream, const char *request)
{
    llg_xlate_params_t p = {.render = &llg_render_responses,
                            .model = "gpt-4.1",
                            .stream = stream,
                            .prompt_tokens_estimate = 7,
                            .random = {12345, 67890},
                            .request = request,
                            .request_len = request != NULL ? strlen(request) : 0};
    return p;
}

typedef void (*script_t)(llg_answer_t *a, llg_strbuf_t *out);

/* Runs `script` on an answer rendered in the Responses form. */
static void render(bool stream, const char *request, script_t script, llg_strbuf_t *out)
{
    llg_xlate_params_t p = rparams(stream, request);
    llg_answer_t a;
    llg_answer_init(&a, &p);
    script(&a, out);
    llg_answer_dispose(&a);
}

/* render() as events, which must be well formed, numbered and agree on ids */
static cJSON *render_events(const char *request, script_t script)
{
    llg_strbuf_t out = {0};
    render(true, request, script, &out);
    evs_t e;
    parse_events(out.data, out.len, &e);
    CHECK(e.well_formed);
    CHECK(numbered(e.list));
    CHECK(ids_agree(e.list));
    llg_strbuf_free(&out);
    return e.list;
}

static const cJSON *last_response(const cJSON *list)
{
    return oget(aget(list, cJSON_GetArraySize(list) - 1), "response");
}

static void script_text(llg_answer_t *a, llg_strbuf_t *out)
{
    llg_answer_content(a, out, "Hi", 2);
    llg_answer_content(a, out, " there!", 7);
    llg_answer_set_usage(a, 37, 11);
    llg_answer_finish(a, out, NULL);
}

TEST(render_text_like_fixture)
{
    cJSON *list = render_events(NULL, script_text);
    check_like_fixture("responses/stream-text.sse", list);
    CHECK(items_closed(list));
    /* the ids: the response's from params.random, the message's from it */
    char id[32];
    llg_random_id(id, "resp_", 12345, 67890);
    const cJSON *r = last_response(list);
    CHECK_EQ_STR(sget(r, "id"), id);
    char msg[48];
    snprintf(msg, sizeof(msg), "msg_%s_0", id + 5);
    CHECK_EQ_STR(sget(aget(oget(r, "output"), 0), "id"), msg);
    CHECK_EQ_STR(sget(r, "status"), "completed");
    CHECK(oget(r, "incomplete_details") != NULL && cJSON_IsNull(oget(r, "incomplete_details")));
    CHECK(cJSON_IsNull(oget(r, "error")));
    CHECK_EQ_INT(nget(oget(r, "usage"), "total_tokens"), 48);
    /* the response in the first events: in progress, no items, no usage */
    CHECK_EQ_STR(sget(oget(aget(list, 0), "response"), "status"), "in_progress");
    CHECK(cJSON_IsNull(oget(oget(aget(list, 1), "response"), "usage")));
    cJSON_Delete(list);
}

static void script_function(llg_answer_t *a, llg_strbuf_t *out)
{
    unsigned t = llg_answer_tool_start(a, out, "call_abc123", 11, "get_weather", 11);
    llg_answer_tool_args(a, out, t, "{\"location\":", 12);
    llg_answer_tool_args(a, out, t, "\"Paris\"}", 8);
    llg_answer_set_usage(a, 60, 18);
    llg_answer_finish(a, out, NULL);
}

TEST(render_function_call_like_fixture)
{
    cJSON *list = render_events(NULL, script_function);
    check_like_fixture("responses/stream-function-call.sse", list);
    CHECK(items_closed(list));
    const cJSON *item = aget(oget(last_response(list), "output"), 0);
    CHECK(sget(item, "id") != NULL && strncmp(sget(item, "id"), "fc_", 3) == 0);
    cJSON_Delete(list);
}

/* reasoning, text, two function calls, text: a new item at each change of
 * kind, each call its own */
static void script_mixed(llg_answer_t *a, llg_strbuf_t *out)
{
    llg_answer_reasoning(a, out, "Let me ", 7);
    llg_answer_reasoning(a, out, "think.", 6);
    llg_answer_content(a, out, "Calling.", 8);
    llg_answer_tool_call(a, out, "call_1", 6, "f", 1, "{\"a\":1}", 7);
    unsigned t = llg_answer_tool_start(a, out, "call_2", 6, "g", 1);
    llg_answer_tool_args(a, out, t, "{\"b\":", 5);
    llg_answer_tool_args(a, out, t, "2}", 2);
    llg_answer_content(a, out, "Done.", 5);
    llg_answer_set_usage(a, 3, 4);
    llg_answer_finish(a, out, "tool_calls");
}

TEST(render_mixed_items)
{
    cJSON *list = render_events(NULL, script_mixed);
    CHECK(items_closed(list));
    llg_strbuf_t types = {0};
    types_of(list, &types);
    CHECK_EQ_STR(types.data,
                 "response.created response.in_progress "
                 "response.output_item.added response.reasoning_summary_part.added response.reasoning_summary_text.delta "
                 "response.reasoning_summary_text.delta response.reasoning_summary_text.done response.reasoning_summary_part.done "
                 "response.output_item.done "
                 "response.output_item.added response.content_part.added response.output_text.delta response.output_text.done "
                 "response.content_part.done response.output_item.done "
                 "response.output_item.added response.function_call_arguments.delta response.function_call_arguments.done "
                 "response.output_item.done "
                 "response.output_item.added response.function_call_arguments.delta response.function_call_arguments.delta "
                 "response.function_call_arguments.done response.output_item.done "
                 "response.output_item.added response.content_part.added response.output_text.delta response.output_text.done "
                 "response.content_part.done response.output_item.done "
                 "response.completed");
    llg_strbuf_free(&types);
    const cJSON *r = last_response(list);
    char id[32];
    llg_random_id(id, "", 12345, 67890);
    static const char *const prefixes[] = {"rs_", "msg_", "fc_", "fc_", "msg_"};
    const cJSON *out = oget(r, "output");
    CHECK_EQ_INT(cJSON_GetArraySize(out), 5);
    for (int i = 0; i < 5; i++) {
        char want[64];
        snprintf(want, sizeof(want), "%s%s_%d", prefixes[i], id, i);
        CHECK_EQ_STR(sget(aget(out, i), "id"), want);
    }
    /* the items whole, ids aside */
    cJSON *want =
        cJSON_Parse("[{\"id\":\"\",\"type\":\"reasoning\",\"summary\":[{\"type\":\"summary_text\",\"text\":\"Let me think.\"}]},"
                    "{\"id\":\"\",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assistant\","
                    "\"content\":[{\"type\":\"output_text\",\"text\":\"Calling.\",\"annotations\":[]}]},"
                    "{\"id\":\"\",\"type\":\"function_call\",\"status\":\"completed\",\"call_id\":\"call_1\",\"name\":\"f\","
                    "\"arguments\":\"{\\\"a\\\":1}\"},"
                    "{\"id\":\"\",\"type\":\"function_call\",\"status\":\"completed\",\"call_id\":\"call_2\",\"name\":\"g\","
                    "\"arguments\":\"{\\\"b\\\":2}\"},"
                    "{\"id\":\"\",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assistant\","
                    "\"content\":[{\"type\":\"output_text\",\"text\":\"Done.\",\"annotations\":[]}]}]");
    CHECK(like(want, out, "output"));
    cJSON_Delete(want);
    CHECK(json_is(oget(r, "usage"), "{\"input_tokens\":3,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":4,"
                                    "\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":7}"));
    CHECK_EQ_STR(sget(r, "model"), "gpt-4.1");
    CHECK_EQ_STR(sget(r, "object"), "response");
    cJSON_Delete(list);
}

static void script_length(llg_answer_t *a, llg_strbuf_t *out)
{
    llg_answer_content(a, out, "cut sh", 6);
    llg_answer_finish(a, out, "length");
}

static void script_filtered(llg_answer_t *a, llg_strbuf_t *out)
{
    llg_answer_content(a, out, "no", 2);
    llg_answer_finish(a, out, "content_filter");
}

TEST(render_incomplete)
{
    cJSON *list = render_events(NULL, script_length);
    const cJSON *last = aget(list, cJSON_GetArraySize(list) - 1);
    CHECK_EQ_STR(sget(last, "type"), "response.incomplete");
    const cJSON *r = oget(last, "response");
    CHECK_EQ_STR(sget(r, "status"), "incomplete");
    CHECK(json_is(oget(r, "incomplete_details"), "{\"reason\":\"max_output_tokens\"}"));
    CHECK_EQ_STR(sget(aget(oget(aget(oget(r, "output"), 0), "content"), 0), "text"), "cut sh");
    /* no usage from the upstream: the estimates */
    CHECK_EQ_INT(nget(oget(r, "usage"), "input_tokens"), 7);
    CHECK(nget(oget(r, "usage"), "output_tokens") >= 1);
    cJSON_Delete(list);

    list = render_events(NULL, script_filtered);
    last = aget(list, cJSON_GetArraySize(list) - 1);
    CHECK_EQ_STR(sget(last, "type"), "response.incomplete");
    CHECK(json_is(oget(oget(last, "response"), "incomplete_details"), "{\"reason\":\"content_filter\"}"));
    cJSON_Delete(list);

    /* the whole body says the same */
    llg_strbuf_t out = {0};
    render(false, NULL, script_length, &out);
    cJSON *j = cJSON_ParseWithLength(out.data, out.len);
    CHECK_EQ_STR(sget(j, "status"), "incomplete");
    CHECK(json_is(oget(j, "incomplete_details"), "{\"reason\":\"max_output_tokens\"}"));
    cJSON_Delete(j);
    llg_strbuf_free(&out);
}

static const char custom_request[] =
    "{\"model\":\"gpt-5\",\"input\":\"x\",\"tools\":[{\"type\":\"custom\",\"name\":\"apply_patch\","
    "\"format\":{\"type\":\"grammar\",\"syntax\":\"lark\",\"definition\":\"start: x\"}},"
    "{\"type\":\"custom\",\"name\":\"raw\"},"
    "{\"type\":\"function\",\"name\":\"f\"}]}";

static void script_custom(llg_answer_t *a, llg_strbuf_t *out)
{
    unsigned t = llg_answer_tool_start(a, out, "call_p", 6, "apply_patch", 11);
    llg_answer_tool_args(a, out, t, "{\"input\":\"*** Begin", 19);
    llg_answer_tool_args(a, out, t, " Patch\\n\"}", 10);
    llg_answer_finish(a, out, NULL);
}

TEST(render_custom_tool_call)
{
    cJSON *list = render_events(custom_request, script_custom);
    CHECK(items_closed(list));
    llg_strbuf_t types = {0};
    types_of(list, &types);
    CHECK_EQ_STR(types.data, "response.created response.in_progress response.output_item.added "
                             "response.custom_tool_call_input.delta response.custom_tool_call_input.done "
                             "response.output_item.done response.completed");
    llg_strbuf_free(&types);
    cJSON *want = cJSON_Parse(
        "[{\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"id\":\"\",\"type\":\"custom_tool_call\","
        "\"status\":\"in_progress\",\"call_id\":\"call_p\",\"name\":\"apply_patch\",\"input\":\"\"}},"
        "{\"type\":\"response.custom_tool_call_input.delta\",\"item_id\":\"\",\"output_index\":0,"
        "\"delta\":\"*** Begin Patch\\n\"},"
        "{\"type\":\"response.custom_tool_call_input.done\",\"item_id\":\"\",\"output_index\":0,"
        "\"input\":\"*** Begin Patch\\n\"},"
        "{\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"id\":\"\",\"type\":\"custom_tool_call\","
        "\"status\":\"completed\",\"call_id\":\"call_p\",\"name\":\"apply_patch\",\"input\":\"*** Begin Patch\\n\"}}]");
    for (int i = 0; i < 4; i++)
        CHECK(like(aget(want, i), aget(list, i + 2), "event"));
    cJSON_Delete(want);
    const cJSON *item = aget(oget(last_response(list), "output"), 0);
    CHECK(strncmp(sget(item, "id") != NULL ? sget(item, "id") : "", "ctc_", 4) == 0);
    CHECK(oget(item, "arguments") == NULL);
    CHECK_EQ_STR(sget(last_response(list), "status"), "completed");
    cJSON_Delete(list);
}

/* a custom tool call's input from arguments of other shapes */
static const char *custom_args_;

static void script_custom_args(llg_answer_t *a, llg_strbuf_t *out)
{
    llg_answer_tool_call(a, out, "c", 1, "raw", 3, custom_args_, strlen(custom_args_));
    llg_answer_finish(a, out, NULL);
}

TEST(render_custom_input_shapes)
{
    static const struct {
        const char *args, *input;
    } cases[] = {
        {"{\"input\":\"text\"}", "text"},   {"{\"patch\":\"x\"}", "{\"patch\":\"x\"}"}, /* no `input`: the arguments themselves */
        {"{\"input\":5}", "{\"input\":5}"}, {"not json", "not json"},
        {"\"a string\"", "a string"},       {"", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        custom_args_ = cases[i].args;
        cJSON *list = render_events(custom_request, script_custom_args);
        const cJSON *item = aget(oget(last_response(list), "output"), 0);
        CHECK_EQ_STR(sget(item, "type"), "custom_tool_call");
        CHECK_EQ_STR(sget(item, "input"), cases[i].input);
        const cJSON *ev;
        cJSON_ArrayForEach(ev, list)
        {
            if (strcmp(sget(ev, "type"), "response.custom_tool_call_input.delta") == 0)
                CHECK_EQ_STR(sget(ev, "delta"), cases[i].input);
            if (strcmp(sget(ev, "type"), "response.custom_tool_call_input.done") == 0)
                CHECK_EQ_STR(sget(ev, "input"), cases[i].input);
        }
        cJSON_Delete(list);
    }
    /* the function tool of the same request, and a custom name the request
     * lacks, stay function calls */
    static const char *const names[] = {"f", "apply_patch"};
    for (int k = 0; k < 2; k++) {
        llg_xlate_params_t p = rparams(true, k == 0 ? custom_request : "{\"tools\":[{\"type\":\"custom\",\"name\":\"other\"}]}");
        llg_answer_t a;
        llg_answer_init(&a, &p);
        llg_strbuf_t out = {0};
        llg_answer_tool_call(&a, &out, "c", 1, names[k], strlen(names[k]), "{\"input\":\"x\"}", 13);
        llg_answer_finish(&a, &out, NULL);
        evs_t e;
        parse_events(out.data, out.len, &e);
        const cJSON *item = aget(oget(last_response(e.list), "output"), 0);
        CHECK_EQ_STR(sget(item, "type"), "function_call");
        CHECK_EQ_STR(sget(item, "arguments"), "{\"input\":\"x\"}");
        CHECK(strstr(out.data, "custom_tool_call") == NULL);
        cJSON_Delete(e.list);
        llg_strbuf_free(&out);
        llg_answer_dispose(&a);
    }
}

static const char shell_request[] = "{\"input\":\"x\",\"tools\":[{\"type\":\"local_shell\"}]}";

static const char *shell_args_;

static void script_shell(llg_answer_t *a, llg_strbuf_t *out)
{
    llg_answer_content(a, out, "Listing.", 8);
    unsigned t = llg_answer_tool_start(a, out, "call_sh", 7, "local_shell", 11);
    size_t n = strlen(shell_args_);
    llg_answer_tool_args(a, out, t, shell_args_, n / 2);
    llg_answer_tool_args(a, out, t, shell_args_ + n / 2, n - n / 2);
    llg_answer_finish(a, out, NULL);
}

TEST(render_local_shell_call)
{
    static const struct {
        const char *args, *action;
    } cases[] = {
        {"{\"command\":[\"ls\",\"-la\"],\"workdir\":\"/tmp\",\"timeout_ms\":5000}",
         "{\"type\":\"exec\",\"command\":[\"ls\",\"-la\"],\"working_directory\":\"/tmp\",\"timeout_ms\":5000,\"env\":{},"
         "\"user\":null}"},
        {"{\"command\":\"ls | wc -l\"}", "{\"type\":\"exec\",\"command\":[\"bash\",\"-lc\",\"ls | wc -l\"],"
                                         "\"working_directory\":null,\"timeout_ms\":null,\"env\":{},\"user\":null}"},
        {"not json", "{\"type\":\"exec\",\"command\":[],\"working_directory\":null,\"timeout_ms\":null,\"env\":{},"
                     "\"user\":null}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        shell_args_ = cases[i].args;
        cJSON *list = render_events(shell_request, script_shell);
        CHECK(items_closed(list));
        llg_strbuf_t types = {0};
        types_of(list, &types);
        /* the call: no events between its item's added and done */
        CHECK(strstr(types.data, "response.output_item.done response.output_item.added response.output_item.done "
                                 "response.completed") != NULL);
        CHECK(strstr(types.data, "function_call") == NULL);
        llg_strbuf_free(&types);
        const cJSON *item = aget(oget(last_response(list), "output"), 1);
        CHECK_EQ_STR(sget(item, "type"), "local_shell_call");
        CHECK_EQ_STR(sget(item, "call_id"), "call_sh");
        CHECK_EQ_STR(sget(item, "status"), "completed");
        CHECK(strncmp(sget(item, "id") != NULL ? sget(item, "id") : "", "lsh_", 4) == 0);
        CHECK(json_is(oget(item, "action"), cases[i].action));
        CHECK(oget(item, "name") == NULL && oget(item, "arguments") == NULL);
        cJSON_Delete(list);
    }
    /* without local_shell in the request: a function call */
    shell_args_ = cases[0].args;
    cJSON *list = render_events("{\"tools\":[{\"type\":\"function\",\"name\":\"local_shell\"}]}", script_shell);
    CHECK_EQ_STR(sget(aget(oget(last_response(list), "output"), 1), "type"), "function_call");
    cJSON_Delete(list);
    list = render_events(NULL, script_shell);
    CHECK_EQ_STR(sget(aget(oget(last_response(list), "output"), 1), "type"), "function_call");
    cJSON_Delete(list);
}

TEST(render_fail_after_content)
{
    llg_xlate_params_t p = rparams(true, NULL);
    llg_answer_t a;
    llg_answer_init(&a, &p);
    llg_strbuf_t out = {0};
    llg_answer_reasoning(&a, &out, "hmm", 3);
    llg_answer_content(&a, &out, "partial", 7);
    llg_xlate_error_t err = {.http_status = 429};
    snprintf(err.type, sizeof(err.type), "rate_limit_error");
    snprintf(err.code, sizeof(err.code), "rate_limit_exceeded");
    snprintf(err.message, sizeof(err.message), "slow down");
    CHECK_EQ_INT(llg_answer_fail(&a, &out, &err), -1);
    CHECK_EQ_INT(err.http_status, 0);
    size_t len = out.len;
    llg_answer_content(&a, &out, "late", 4);
    llg_answer_finish(&a, &out, NULL);
    CHECK_EQ_INT(out.len, len);
    evs_t e;
    parse_events(out.data, out.len, &e);
    CHECK(e.well_formed && numbered(e.list) && ids_agree(e.list));
    int n = cJSON_GetArraySize(e.list);
    CHECK_EQ_INT(n, 13);
    cJSON *want = cJSON_Parse("{\"type\":\"error\",\"code\":\"rate_limit_exceeded\",\"message\":\"slow down\",\"param\":null}");
    CHECK(like(want, aget(e.list, n - 2), "error event"));
    cJSON_Delete(want);
    const cJSON *last = aget(e.list, n - 1);
    CHECK_EQ_STR(sget(last, "type"), "response.failed");
    const cJSON *r = oget(last, "response");
    CHECK_EQ_STR(sget(r, "status"), "failed");
    CHECK(json_is(oget(r, "error"), "{\"code\":\"rate_limit_exceeded\",\"message\":\"slow down\"}"));
    /* the items so far: the reasoning and the text written before the failure */
    const cJSON *items = oget(r, "output");
    CHECK_EQ_INT(cJSON_GetArraySize(items), 2);
    CHECK_EQ_STR(sget(aget(oget(aget(items, 0), "summary"), 0), "text"), "hmm");
    CHECK_EQ_STR(sget(aget(oget(aget(items, 1), "content"), 0), "text"), "partial");
    CHECK(strstr(out.data, "late") == NULL);
    cJSON_Delete(e.list);
    llg_strbuf_free(&out);
    llg_answer_dispose(&a);

    /* no code: the error event's is null, the response's error has one */
    llg_answer_init(&a, &p);
    llg_answer_content(&a, &out, "x", 1);
    llg_xlate_error_t bare = {.http_status = 502};
    snprintf(bare.message, sizeof(bare.message), "upstream \xff gone");
    llg_answer_fail(&a, &out, &bare);
    parse_events(out.data, out.len, &e);
    CHECK(e.well_formed && numbered(e.list));
    n = cJSON_GetArraySize(e.list);
    CHECK(cJSON_IsNull(oget(aget(e.list, n - 2), "code")));
    CHECK_EQ_STR(sget(aget(e.list, n - 2), "message"), "upstream \xef\xbf\xbd gone");
    const cJSON *error = oget(oget(aget(e.list, n - 1), "response"), "error");
    CHECK(sget(error, "code") != NULL && sget(error, "code")[0] != '\0');
    CHECK_EQ_STR(sget(error, "message"), "upstream \xef\xbf\xbd gone");
    cJSON_Delete(e.list);
    llg_strbuf_free(&out);
    llg_answer_dispose(&a);
}

TEST(render_fail_before_content)
{
    for (int stream = 0; stream < 2; stream++) {
        llg_xlate_params_t p = rparams(stream == 1, NULL);
        llg_answer_t a;
        llg_answer_init(&a, &p);
        llg_strbuf_t out = {0};
        if (stream == 0)
            llg_answer_content(&a, &out, "collected", 9); /* nothing is written before the end */
        llg_xlate_error_t err = {.http_status = 503};
        snprintf(err.message, sizeof(err.message), "down");
        CHECK_EQ_INT(llg_answer_fail(&a, &out, &err), -1);
        CHECK_EQ_INT(out.len, 0);
        CHECK_EQ_INT(err.http_status, 503);
        llg_answer_finish(&a, &out, NULL);
        CHECK_EQ_INT(out.len, 0);
        llg_strbuf_free(&out);
        llg_answer_dispose(&a);
    }
}

/* every kind of item, with custom and local_shell calls */
static const char every_request[] = "{\"tools\":[{\"type\":\"custom\",\"name\":\"apply_patch\"},{\"type\":\"local_shell\"},"
                                    "{\"type\":\"function\",\"name\":\"f\"}]}";

static void script_every(llg_answer_t *a, llg_strbuf_t *out)
{
    llg_answer_reasoning(a, out, "think", 5);
    llg_answer_content(a, out, "Hello \xe2\x82", 8); /* a cut character: sanitised */
    llg_answer_content(a, out, "world", 5);
    llg_answer_tool_call(a, out, "c1", 2, "f", 1, "{\"a\":[1,2]}", 11);
    llg_answer_tool_call(a, out, "c2", 2, "apply_patch", 11, "{\"input\":\"diff\"}", 16);
    llg_answer_tool_call(a, out, "c3", 2, "local_shell", 11, "{\"command\":[\"pwd\"]}", 19);
    llg_answer_reasoning(a, out, "again", 5);
    llg_answer_content(a, out, "bye", 3);
    llg_answer_set_usage(a, 100, 200);
    llg_answer_finish(a, out, NULL);
}

TEST(render_whole_equals_stream)
{
    cJSON *list = render_events(every_request, script_every);
    CHECK(items_closed(list));
    cJSON *streamed = cJSON_Duplicate(last_response(list), 1);
    llg_strbuf_t out = {0};
    render(false, every_request, script_every, &out);
    CHECK(out.len > 0 && out.data[0] == '{' && out.data[out.len - 1] == '}');
    CHECK(llg_utf8_valid(out.data, out.len));
    const char *end = NULL;
    cJSON *whole = cJSON_ParseWithLengthOpts(out.data, out.len, &end, 0);
    CHECK(whole != NULL && end == out.data + out.len);
    CHECK(cJSON_IsNumber(oget(whole, "created_at")) && cJSON_IsNumber(oget(streamed, "created_at")));
    cJSON_DeleteItemFromObjectCaseSensitive(whole, "created_at");
    cJSON_DeleteItemFromObjectCaseSensitive(streamed, "created_at");
    CHECK(cJSON_Compare(whole, streamed, true));
    const cJSON *items = oget(whole, "output");
    CHECK_EQ_INT(cJSON_GetArraySize(items), 7);
    static const char *const types[] = {"reasoning",        "message",   "function_call", "custom_tool_call",
                                        "local_shell_call", "reasoning", "message"};
    for (int i = 0; i < 7; i++)
        CHECK_EQ_STR(sget(aget(items, i), "type"), types[i]);
    /* each byte of the cut character is one U+FFFD (strbuf.h) */
    CHECK_EQ_STR(sget(aget(oget(aget(items, 1), "content"), 0), "text"), "Hello \xef\xbf\xbd\xef\xbf\xbdworld");
    CHECK_EQ_STR(sget(aget(items, 3), "input"), "diff");
    CHECK(json_is(oget(oget(aget(items, 4), "action"), "command"), "[\"pwd\"]"));
    CHECK_EQ_STR(sget(whole, "status"), "completed");
    CHECK_EQ_INT(nget(oget(whole, "usage"), "total_tokens"), 300);
    cJSON_Delete(whole);
    cJSON_Delete(streamed);
    cJSON_Delete(list);
    llg_strbuf_free(&out);
}

/* The call items of a request read back (llg_responses_parse), then written
 * as the answer's calls: the same custom_tool_call and local_shell_call. */
TEST(render_round_trip)
{
    const char *req = "{\"input\":[{\"type\":\"custom_tool_call\",\"call_id\":\"c1\",\"name\":\"apply_patch\","
                      "\"input\":\"*** Begin Patch\\n+\\\"q\\\"\\n*** End Patch\"},"
                      "{\"type\":\"local_shell_call\",\"call_id\":\"c2\",\"action\":{\"type\":\"exec\","
                      "\"command\":[\"git\",\"status\"],\"working_directory\":\"/w\",\"timeout_ms\":300}}],"
                      "\"tools\":[{\"type\":\"custom\",\"name\":\"apply_patch\"},{\"type\":\"local_shell\"}]}";
    cJSON *c = parse_with(RESP, req);
    const cJSON *calls = oget(aget(oget(c, "messages"), 0), "tool_calls");
    CHECK_EQ_INT(cJSON_GetArraySize(calls), 2);
    llg_xlate_params_t p = rparams(false, req);
    llg_answer_t a;
    llg_answer_init(&a, &p);
    llg_strbuf_t out = {0};
    const cJSON *tc;
    cJSON_ArrayForEach(tc, calls)
    {
        const char *id = sget(tc, "id"), *name = sget(oget(tc, "function"), "name"),
                   *args = sget(oget(tc, "function"), "arguments");
        llg_answer_tool_call(&a, &out, id, strlen(id), name, strlen(name), args, strlen(args));
    }
    llg_answer_finish(&a, &out, NULL);
    cJSON *r = cJSON_ParseWithLength(out.data, out.len);
    cJSON *items = cJSON_Parse(req);
    const cJSON *in = oget(items, "input");
    const cJSON *got = oget(r, "output");
    CHECK_EQ_STR(sget(aget(got, 0), "type"), "custom_tool_call");
    CHECK_EQ_STR(sget(aget(got, 0), "call_id"), "c1");
    CHECK_EQ_STR(sget(aget(got, 0), "name"), "apply_patch");
    CHECK_EQ_STR(sget(aget(got, 0), "input"), sget(aget(in, 0), "input"));
    CHECK_EQ_STR(sget(aget(got, 1), "type"), "local_shell_call");
    CHECK_EQ_STR(sget(aget(got, 1), "call_id"), "c2");
    CHECK(like(oget(aget(in, 1), "action"), oget(aget(got, 1), "action"), "action"));
    cJSON_Delete(items);
    cJSON_Delete(r);
    cJSON_Delete(c);
    llg_strbuf_free(&out);
    llg_answer_dispose(&a);
}

TEST(render_error_shapes)
{
    llg_strbuf_t out = {0};
    llg_render_responses.error_event(&out, 504, "server_error", "upstream_timeout", "too slow");
    CHECK_EQ_STR(out.data, "event: error\ndata: {\"type\":\"error\",\"sequence_number\":0,\"code\":\"upstream_timeout\","
                           "\"message\":\"too slow\",\"param\":null}\n\n");
    llg_strbuf_reset(&out);
    llg_render_responses.error_body(&out, 400, "invalid_request_error", NULL, "store", "no \xff store");
    cJSON *j = cJSON_ParseWithLength(out.data, out.len);
    CHECK(json_is(j, "{\"error\":{\"message\":\"no \xef\xbf\xbd store\",\"type\":\"invalid_request_error\",\"param\":\"store\","
                     "\"code\":null}}"));
    cJSON_Delete(j);
    llg_strbuf_free(&out);
}

/* Tool calls whose argument fragments interleave (index 0's after index 1
 * started), as an OpenAI-compatible upstream may send them: each call's
 * arguments must still reach its own item before that item is done, and the
 * done item must be the final response's. */
TEST(render_interleaved_tool_args)
{
    const char *in =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c0\",\"type\":\"function\","
        "\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"c1\",\"type\":\"function\","
        "\"function\":{\"name\":\"g\",\"arguments\":\"\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\":1}\"}},"
        "{\"index\":1,\"function\":{\"arguments\":\"{\\\"b\\\":2}\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
        "data: [DONE]\n\n";
    llg_xlate_params_t p = rparams(true, NULL);
    run_t r;
    run_egress(llg_egress_for(LLG_PROVIDER_OPENAI), &p, in, strlen(in), strlen(in), 0, &r);
    CHECK_EQ_INT(r.rc, 0);
    evs_t e;
    parse_events(r.out.data, r.out.len, &e);
    CHECK(e.well_formed && numbered(e.list));
    const cJSON *items = oget(last_response(e.list), "output");
    CHECK_EQ_STR(sget(aget(items, 0), "arguments"), "{\"a\":1}");
    CHECK_EQ_STR(sget(aget(items, 1), "arguments"), "{\"b\":2}");
    CHECK(items_closed(e.list));
    cJSON_Delete(e.list);
    llg_strbuf_free(&r.out);
}

/* ---- the openai egress reader, rendering Responses -------------------------- */

TEST(egress_openai_stream)
{
    size_t len;
    char *in = read_fixture("openai/chat-stream.sse", &len);
    const llg_egress_t *eg = llg_egress_for(LLG_PROVIDER_OPENAI);
    llg_xlate_params_t p = rparams(true, NULL);
    run_t whole;
    CHECK_EQ_INT(run_every_split(eg, &p, in, len, &whole), 0);
    CHECK_EQ_INT(whole.rc, 0);
    CHECK_EQ_INT(whole.prompt, 9);
    CHECK_EQ_INT(whole.completion, 3);
    CHECK(!whole.estimated);
    evs_t e;
    parse_events(whole.out.data, whole.out.len, &e);
    CHECK(e.well_formed && numbered(e.list) && ids_agree(e.list) && items_closed(e.list));
    /* the fixture's two pieces, in the order of OpenAI's text stream */
    llg_strbuf_t got = {0}, want = {0};
    types_of(e.list, &got);
    size_t flen;
    char *fx = read_fixture("responses/stream-text.sse", &flen);
    evs_t f;
    parse_events(fx, flen, &f);
    types_of(f.list, &want);
    CHECK_EQ_STR(got.data, want.data);
    llg_strbuf_t text = {0};
    const cJSON *ev;
    cJSON_ArrayForEach(ev, e.list)
    {
        if (strcmp(sget(ev, "type"), "response.output_text.delta") == 0)
            llg_strbuf_appends(&text, sget(ev, "delta"));
    }
    CHECK_EQ_STR(text.data, "Hi!");
    const cJSON *r = last_response(e.list);
    CHECK_EQ_STR(sget(aget(oget(aget(oget(r, "output"), 0), "content"), 0), "text"), "Hi!");
    CHECK_EQ_INT(nget(oget(r, "usage"), "input_tokens"), 9);
    CHECK_EQ_INT(nget(oget(r, "usage"), "output_tokens"), 3);
    /* the client's model, not the upstream's */
    CHECK_EQ_STR(sget(r, "model"), "gpt-4.1");
    CHECK(strstr(whole.out.data, "gpt-4o-mini") == NULL && strstr(whole.out.data, "chatcmpl") == NULL);
    llg_strbuf_free(&text);
    llg_strbuf_free(&got);
    llg_strbuf_free(&want);
    cJSON_Delete(f.list);
    free(fx);
    cJSON_Delete(e.list);
    llg_strbuf_free(&whole.out);
    free(in);
}

/* The output is a function of the input and params.random alone: with other
 * random numbers only the ids' random part changes. */
TEST(egress_ids_from_random)
{
    size_t len;
    char *in = read_fixture("openai/chat-stream.sse", &len);
    const llg_egress_t *eg = llg_egress_for(LLG_PROVIDER_OPENAI);
    llg_xlate_params_t p1 = rparams(true, NULL), p2 = rparams(true, NULL);
    p2.random[0] = 987654321;
    p2.random[1] = 42;
    run_t r1, r2;
    run_egress(eg, &p1, in, len, len, 0, &r1);
    run_egress(eg, &p2, in, len, len, 0, &r2);
    char id1[32], id2[32];
    llg_random_id(id1, "", 12345, 67890);
    llg_random_id(id2, "", 987654321, 42);
    CHECK(strcmp(id1, id2) != 0);
    CHECK(strstr(r1.out.data, id1) != NULL);
    CHECK(strstr(r2.out.data, id1) == NULL);
    /* r2 with id2 replaced by id1 is r1 */
    llg_strbuf_t swapped = {0};
    const char *s = r2.out.data, *q;
    int n = 0;
    while ((q = strstr(s, id2)) != NULL) {
        llg_strbuf_append(&swapped, s, (size_t)(q - s));
        llg_strbuf_appends(&swapped, id1);
        s = q + strlen(id2);
        n++;
    }
    llg_strbuf_appends(&swapped, s);
    CHECK(n >= 10); /* each response.* event's response id, each item id */
    CHECK_EQ_STR(swapped.data, r1.out.data);
    llg_strbuf_free(&swapped);
    llg_strbuf_free(&r1.out);
    llg_strbuf_free(&r2.out);
    free(in);
}

TEST(egress_openai_nonstream)
{
    size_t len;
    char *in = read_fixture("openai/chat-nonstream.json", &len);
    llg_xlate_params_t p = rparams(false, NULL);
    run_t r;
    CHECK_EQ_INT(run_every_split(llg_egress_for(LLG_PROVIDER_OPENAI), &p, in, len, &r), 0);
    CHECK_EQ_INT(r.rc, 0);
    cJSON *j = cJSON_ParseWithLength(r.out.data, r.out.len);
    char id[32];
    llg_random_id(id, "resp_", 12345, 67890);
    char want[1024];
    snprintf(want, sizeof(want),
             "{\"id\":\"%s\",\"object\":\"response\",\"created_at\":0,\"status\":\"completed\",\"error\":null,"
             "\"incomplete_details\":null,\"model\":\"gpt-4.1\",\"output\":[{\"id\":\"msg_%s_0\",\"type\":\"message\","
             "\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hi!\","
             "\"annotations\":[]}]}],\"parallel_tool_calls\":true,\"tool_choice\":\"auto\",\"tools\":[],"
             "\"usage\":{\"input_tokens\":9,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":3,"
             "\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":12}}",
             id, id + 5);
    CHECK(json_is(j, want));
    cJSON_Delete(j);
    llg_strbuf_free(&r.out);
    free(in);
}

TEST(egress_openai_midstream_error)
{
    size_t len;
    char *in = read_fixture("openai/midstream-error.sse", &len);
    llg_xlate_params_t p = rparams(true, NULL);
    run_t r;
    CHECK_EQ_INT(run_every_split(llg_egress_for(LLG_PROVIDER_OPENAI), &p, in, len, &r), 0);
    CHECK_EQ_INT(r.rc, -1);
    CHECK_EQ_INT(r.err.http_status, 0);
    evs_t e;
    parse_events(r.out.data, r.out.len, &e);
    CHECK(e.well_formed && numbered(e.list) && ids_agree(e.list));
    llg_strbuf_t types = {0};
    types_of(e.list, &types);
    CHECK_EQ_STR(types.data, "response.created response.in_progress response.output_item.added response.content_part.added "
                             "response.output_text.delta error response.failed");
    llg_strbuf_free(&types);
    const cJSON *err = aget(e.list, 5);
    CHECK_EQ_STR(sget(err, "message"), "The server had an error while processing your request. Sorry about that!");
    CHECK_EQ_STR(sget(err, "code"), "server_error");
    const cJSON *failed = oget(aget(e.list, 6), "response");
    CHECK_EQ_STR(sget(failed, "status"), "failed");
    CHECK_EQ_STR(sget(oget(failed, "error"), "code"), "server_error");
    CHECK_EQ_STR(sget(aget(oget(aget(oget(failed, "output"), 0), "content"), 0), "text"), "Par");
    cJSON_Delete(e.list);
    llg_strbuf_free(&r.out);
    free(in);
}

/* a chat upstream's call of the function standing for a custom tool, its
 * arguments in fragments: a custom_tool_call item, however the bytes come */
TEST(egress_custom_tool_call)
{
    const char *in =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"call_9\","
        "\"type\":\"function\",\"function\":{\"name\":\"apply_patch\",\"arguments\":\"\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
        "\"{\\\"input\\\":\\\"*** Begin\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
        "\" Patch\\\\n\\u00e9\\\"}\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6,\"total_tokens\":11}}\n\n"
        "data: [DONE]\n\n";
    llg_xlate_params_t p = rparams(true, custom_request);
    run_t r;
    CHECK_EQ_INT(run_every_split(llg_egress_for(LLG_PROVIDER_OPENAI), &p, in, strlen(in), &r), 0);
    CHECK_EQ_INT(r.rc, 0);
    evs_t e;
    parse_events(r.out.data, r.out.len, &e);
    CHECK(e.well_formed && numbered(e.list) && items_closed(e.list));
    const cJSON *item = aget(oget(last_response(e.list), "output"), 0);
    CHECK_EQ_STR(sget(item, "type"), "custom_tool_call");
    CHECK_EQ_STR(sget(item, "call_id"), "call_9");
    CHECK_EQ_STR(sget(item, "input"), "*** Begin Patch\n\xc3\xa9");
    CHECK(strstr(r.out.data, "function_call_arguments") == NULL);
    CHECK_EQ_INT(nget(oget(last_response(e.list), "usage"), "total_tokens"), 11);
    cJSON_Delete(e.list);
    llg_strbuf_free(&r.out);
}

int main(int argc, char **argv)
{
    adapter_fixtures_init(argc, argv);
    RUN(parse_fixture_request);
    RUN(parse_instructions_and_string_input);
    RUN(parse_message_items);
    RUN(parse_function_calls);
    RUN(parse_custom_tool);
    RUN(parse_local_shell);
    RUN(parse_tool_choice);
    RUN(parse_params);
    RUN(parse_stateful_refused);
    RUN(parse_bad_items);
    RUN(parse_bad_types);
    RUN(render_text_like_fixture);
    RUN(render_function_call_like_fixture);
    RUN(render_mixed_items);
    RUN(render_incomplete);
    RUN(render_custom_tool_call);
    RUN(render_custom_input_shapes);
    RUN(render_local_shell_call);
    RUN(render_fail_after_content);
    RUN(render_fail_before_content);
    RUN(render_whole_equals_stream);
    RUN(render_round_trip);
    RUN(render_error_shapes);
    RUN(render_interleaved_tool_args);
    RUN(egress_openai_stream);
    RUN(egress_ids_from_random);
    RUN(egress_openai_nonstream);
    RUN(egress_openai_midstream_error);
    RUN(egress_custom_tool_call);
    TEST_MAIN_END();
}
