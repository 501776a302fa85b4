/*
 * tests/unit/test_json_edit.c: byte-level body edits keep everything they do
 * not touch exactly as it was.
 */
#include <cjson/cJSON.h>
#include <string.h>

#include "providers/json_edit.h"
#include "tests/test.h"

static void expect(const char *in, const llg_json_patch_t *p, size_t n, const char *want)
{
    llg_strbuf_t out = {0};
    int rc = llg_json_patch_object(in, strlen(in), p, n, &out);
    CHECK_EQ_INT(rc, 0);
    if (rc == 0) {
        CHECK_EQ_STR(out.data, want);
        cJSON *j = cJSON_Parse(out.data);
        CHECK(j != NULL);
        cJSON_Delete(j);
    }
    llg_strbuf_free(&out);
}

TEST(patches)
{
    llg_json_patch_t model = {"model", "\"upstream/x\""};
    expect("{\"model\":\"x\",\"seed\":12345678901234567890}", &model, 1,
           "{\"model\":\"upstream/x\",\"seed\":12345678901234567890}");
    expect("{ \"seed\" : 1.50 , \"model\" : \"x\" }", &model, 1, "{ \"seed\" : 1.50 , \"model\" : \"upstream/x\" }");
    expect("{\"messages\":[]}", &model, 1, "{\"messages\":[],\"model\":\"upstream/x\"}");
    expect("{}", &model, 1, "{\"model\":\"upstream/x\"}");
    expect("  {  }  \n", &model, 1, "  {\"model\":\"upstream/x\"  }  \n");

    llg_json_patch_t rm = {"stream_options", NULL};
    expect("{\"a\":1,\"stream_options\":{\"x\":[1,{\"y\":\"}\"}]},\"b\":2}", &rm, 1, "{\"a\":1,\"b\":2}");
    expect("{\"stream_options\":{},\"b\":2}", &rm, 1, "{\"b\":2}");
    expect("{\"b\":2,\"stream_options\":null}", &rm, 1, "{\"b\":2}");
    expect("{ \"b\" : 2 , \"stream_options\" : null , \"c\" : 3 }", &rm, 1, "{ \"b\" : 2 , \"c\" : 3 }");
    expect("{ \"stream_options\" : 1 }", &rm, 1, "{ }");
    llg_json_patch_t add = {"temperature", "0.7"};
    expect("{ \"model\" : \"x\" , \"seed\" : 7 }", &add, 1, "{ \"model\" : \"x\" , \"seed\" : 7,\"temperature\":0.7 }");

    llg_json_patch_t two[] = {{"temperature", "0.7"}, {"max_tokens", "1000"}};
    expect("{\"temperature\":0,\"messages\":[{\"content\":\"a,\\\"b}\"}]}", two, 2,
           "{\"temperature\":0.7,\"messages\":[{\"content\":\"a,\\\"b}\"}],\"max_tokens\":1000}");
}

/* Regressions found by tests/fuzz/fuzz_json_edit. */
TEST(fuzz_regressions)
{
    /* two or more removed members at the end: the comma after the last one
     * kept goes too (was {"a":1,} and then {"a":1,,"x":..}) */
    llg_json_patch_t rm2[] = {{"stream", NULL}, {"stream_options", NULL}};
    expect("{\"a\":1,\"stream\":true,\"stream_options\":{}}", rm2, 2, "{\"a\":1}");
    expect("{ \"a\" : 1 , \"stream\" : true , \"stream_options\" : {} }", rm2, 2, "{ \"a\" : 1 }");
    llg_json_patch_t rm2_add[] = {{"stream", NULL}, {"stream_options", NULL}, {"temperature", "0.7"}};
    expect("{\"a\":1,\"stream\":true,\"stream_options\":{}}", rm2_add, 3, "{\"a\":1,\"temperature\":0.7}");
    expect("{\"stream\":true,\"stream_options\":{}}", rm2_add, 3, "{\"temperature\":0.7}");

    /* a NUL byte inside a nested value ended the scan's progress (a hang);
     * chat.c refuses such a body first, the editor must still return */
    static const char nul[] = "{\"a\":[1,\0],\"model\":1}";
    llg_strbuf_t out = {0};
    llg_json_patch_t model = {"model", "\"upstream/x\""};
    CHECK(llg_json_patch_object(nul, sizeof(nul) - 1, &model, 1, &out) == 0);
    static const char want[] = "{\"a\":[1,\0],\"model\":\"upstream/x\"}";
    CHECK(out.len == sizeof(want) - 1 && memcmp(out.data, want, out.len) == 0);
    llg_strbuf_free(&out);

    /* a member name written with escapes is the same member: it is replaced,
     * not left in place next to a second "model" */
    expect("{\"mo\\u0064el\":\"x\",\"messages\":[]}", &model, 1, "{\"mo\\u0064el\":\"upstream/x\",\"messages\":[]}");
    expect("{\"\\u006D\\u006f\\u0064\\u0065\\u006c\":\"x\"}", &model, 1,
           "{\"\\u006D\\u006f\\u0064\\u0065\\u006c\":\"upstream/x\"}");
    llg_json_patch_t rm = {"stream_options", NULL};
    expect("{\"a\":1,\"stream\\u005foptions\":{}}", &rm, 1, "{\"a\":1}");
    /* a bad \u escape matches nothing (chat.c refuses such a body anyway) */
    expect("{\"mo\\u006zel\":1}", &model, 1, "{\"mo\\u006zel\":1,\"model\":\"upstream/x\"}");
    /* other escapes are compared decoded too, and do not match by accident */
    expect("{\"model\\n\":\"x\",\"mod\\\"el\":1,\"\\ud83d\\ude00\":2}", &model, 1,
           "{\"model\\n\":\"x\",\"mod\\\"el\":1,\"\\ud83d\\ude00\":2,\"model\":\"upstream/x\"}");
}

TEST(malformed)
{
    llg_json_patch_t model = {"model", "\"m\""};
    const char *bad[] = {"", "[1]", "{\"a\"}", "{\"a\":}", "{\"a\":1", "{\"a\":[1}", "{\"a\":\"x}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        llg_strbuf_t out = {0};
        int rc = llg_json_patch_object(bad[i], strlen(bad[i]), &model, 1, &out);
        if (rc != -1) {
            fprintf(stderr, "accepted malformed body %s\n", bad[i]);
            test_current_failed_ = 1;
        }
        llg_strbuf_free(&out);
    }
}

/* llg_json_member: the usage of an upstream answer without parsing it whole */
TEST(member)
{
    const char *v = NULL;
    size_t n = 0;
    const char *ans = "{\"id\":\"x\",\"choices\":[{\"message\":{\"usage\":1}}], \"usage\" : {\"prompt_tokens\":3} }";
    CHECK(llg_json_member(ans, strlen(ans), "usage", &v, &n) == 1);
    CHECK(n == strlen("{\"prompt_tokens\":3}") && memcmp(v, "{\"prompt_tokens\":3}", n) == 0);
    /* the first of two, an escaped name, none, an empty object, an unfinished one */
    const char *two = "{\"usage\":1,\"usage\":2}";
    CHECK(llg_json_member(two, strlen(two), "usage", &v, &n) == 1 && n == 1 && *v == '1');
    const char *esc = "{\"usag\\u0065\":7}";
    CHECK(llg_json_member(esc, strlen(esc), "usage", &v, &n) == 1 && n == 1 && *v == '7');
    CHECK(llg_json_member("{\"a\":1}", 7, "usage", &v, &n) == 0);
    CHECK(llg_json_member("{ }", 3, "usage", &v, &n) == 0);
    const char *cut = "{\"usage\":{\"prompt_tokens\":3},\"id\":";
    CHECK(llg_json_member(cut, strlen(cut), "usage", &v, &n) == 0);
    CHECK(llg_json_member("[1]", 3, "usage", &v, &n) == 0);
}

/* The texts llg_json_element hands out, joined by '|'; "!" when it refused. */
static void elements(const char *s, const char *want)
{
    llg_strbuf_t got = {0};
    size_t pos = 0, n;
    const char *v;
    int r;
    while ((r = llg_json_element(s, strlen(s), &pos, &v, &n)) == 1) {
        if (got.len > 0)
            llg_strbuf_append(&got, "|", 1);
        llg_strbuf_append(&got, v, n);
    }
    if (r < 0)
        llg_strbuf_appends(&got, "!");
    llg_strbuf_append(&got, "", 1);
    CHECK_EQ_STR(got.data, want);
    llg_strbuf_free(&got);
}

/* llg_json_element: the vectors of an embeddings answer, one at a time */
TEST(element)
{
    elements("[]", "");
    elements(" [ ] ", "");
    elements("[1,-2.5e3 , \"a,]\" ,{\"x\":[1,2]},[[]],null]", "1|-2.5e3|\"a,]\"|{\"x\":[1,2]}|[[]]|null");
    elements("\n[ 0.1 ,\t0.2\r\n]", "0.1|0.2");
    /* the array's own commas and brackets are checked */
    elements("[1 2]", "1!");
    elements("[1,]", "1!");
    elements("[,1]", "!");
    elements("[1", "1!");
    elements("[{\"a\":1}", "{\"a\":1}!");
    elements("{\"a\":1}", "!");
    elements("", "!");
    elements("[\"unterminated]", "!");
}

int main(void)
{
    RUN(patches);
    RUN(malformed);
    RUN(fuzz_regressions);
    RUN(member);
    RUN(element);
    TEST_MAIN_END();
}
