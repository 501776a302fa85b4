/*
 * tests/unit/test_upstream_error.c: providers/upstream_error.c, what an
 * openai-type upstream's error body decides (the outcome) and shows (the
 * error the client sees when it is its own).
 */
#include "providers/upstream_error.h"
#include "../test.h"

static llg_upstream_error_class_t classify(const char *body)
{
    llg_upstream_error_class_t c;
    llg_upstream_error_classify(body, strlen(body), &c);
    return c;
}

static llg_upstream_error_fields_t fields(const char *body)
{
    llg_upstream_error_fields_t f;
    llg_upstream_error_fields(body, strlen(body), &f);
    return f;
}

/* `{"error":{"<name>":"ccc...c"}}` with n c's, into buf (room for n + 40 bytes) */
static const char *long_member(char *buf, const char *name, size_t n)
{
    size_t k = (size_t)sprintf(buf, "{\"error\":{\"%s\":\"", name);
    memset(buf + k, 'c', n);
    strcpy(buf + k + n, "\"}}");
    return buf;
}

TEST(classify_takes_code_then_type)
{
    static const struct {
        const char *body, *code;
    } cases[] = {
        {"{\"error\":{\"code\":\"insufficient_quota\",\"type\":\"billing\"}}", "insufficient_quota"},
        /* a numeric code is no code here: the type is */
        {"{\"error\":{\"code\":429,\"type\":\"insufficient_quota\"}}", "insufficient_quota"},
        /* an empty string code is the code: the type is not looked at */
        {"{\"error\":{\"code\":\"\",\"type\":\"insufficient_quota\"}}", ""},
        /* only inside an `error` object */
        {"{\"error\":\"text\",\"code\":\"insufficient_quota\"}", ""},
        {"not json", ""},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        llg_upstream_error_class_t c = classify(cases[i].body);
        CHECK_EQ_STR(c.code, cases[i].code);
        CHECK(!c.flagged_input);
    }
    /* a long code is cut, never read past */
    char big[300];
    CHECK_EQ_INT(strlen(classify(long_member(big, "code", 200)).code), sizeof(((llg_upstream_error_class_t *)0)->code) - 1);
}

TEST(classify_sees_flagged_input)
{
    CHECK(classify("{\"error\":{\"code\":403,\"metadata\":{\"reasons\":[\"violence\"]}}}").flagged_input);
    CHECK(classify("{\"error\":{\"metadata\":{\"flagged_input\":\"x\"}}}").flagged_input);
    CHECK(!classify("{\"error\":{\"metadata\":{\"provider_name\":\"x\"}}}").flagged_input);
    CHECK(!classify("{\"error\":{\"metadata\":\"reasons\"}}").flagged_input);
    CHECK(!classify("{\"metadata\":{\"reasons\":[]}}").flagged_input);
}

TEST(fields_of_an_openai_error)
{
    llg_upstream_error_fields_t f =
        fields("{\"error\":{\"message\":\"Bad "
               "model\",\"type\":\"invalid_request_error\",\"code\":\"model_not_found\",\"param\":\"model\"}}");
    CHECK_EQ_STR(f.message, "Bad model");
    CHECK_EQ_STR(f.type, "invalid_request_error");
    CHECK_EQ_STR(f.code, "model_not_found");
    CHECK_EQ_STR(f.param, "model");
}

TEST(fields_numeric_code_becomes_a_string)
{
    llg_upstream_error_fields_t f = fields("{\"error\":{\"message\":\"No\",\"code\":400}}");
    CHECK_EQ_STR(f.code, "400");
    CHECK_EQ_STR(f.type, "");
    CHECK_EQ_STR(f.param, "");
}

TEST(fields_unclean_are_left_out)
{
    /* a control byte, invalid UTF-8, an empty string, a number where a string belongs */
    llg_upstream_error_fields_t f =
        fields("{\"error\":{\"message\":\"m\",\"type\":\"a\\u0001b\",\"param\":\"\",\"code\":\"\\u0007\"}}");
    CHECK_EQ_STR(f.type, "");
    CHECK_EQ_STR(f.param, "");
    f = fields("{\"error\":{\"message\":\"m\",\"type\":\"\xff\xfe\",\"param\":7}}");
    CHECK_EQ_STR(f.type, "");
    CHECK_EQ_STR(f.param, "");
    /* at most 256 bytes */
    char big[400];
    CHECK_EQ_INT(strlen(fields(long_member(big, "type", 256)).type), 256);
    CHECK_EQ_STR(fields(long_member(big, "type", 257)).type, "");
}

TEST(fields_message_whatever_the_shape)
{
    llg_upstream_error_fields_t f = fields("{\"detail\":\"Not Found\"}");
    CHECK_EQ_STR(f.message, "Not Found");
    CHECK_EQ_STR(f.type, "");
    f = fields("  upstream fell over\n");
    CHECK_EQ_STR(f.message, "upstream fell over");
    f = fields("");
    CHECK_EQ_STR(f.message, "The upstream provider rejected the request.");
    f = fields("{}");
    CHECK_EQ_STR(f.message, "The upstream provider rejected the request.");
    /* no code in error.code: the one found elsewhere */
    f = fields("{\"text\":\"Out of points\",\"error_type\":\"insufficient_fund\"}");
    CHECK_EQ_STR(f.message, "Out of points");
    CHECK_EQ_STR(f.code, "insufficient_fund");
}

int main(void)
{
    RUN(classify_takes_code_then_type);
    RUN(classify_sees_flagged_input);
    RUN(fields_of_an_openai_error);
    RUN(fields_numeric_code_becomes_a_string);
    RUN(fields_unclean_are_left_out);
    RUN(fields_message_whatever_the_shape);
    TEST_MAIN_END();
}
