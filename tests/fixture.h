/* The PyTorch fixtures in tests/fixtures/ (CLGRAD_FIXTURES), parsed. */
#ifndef CLGRAD_TEST_FIXTURE_H
#define CLGRAD_TEST_FIXTURE_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

/* fixtures/NAME parsed as JSON, or NULL with the reason on stderr. */
static inline cJSON *test_fixture_json(const char *name)
{
    const char *dir = getenv("CLGRAD_FIXTURES");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/fixtures", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = len >= 0 ? malloc((size_t)len + 1) : NULL;
    size_t got = text ? fread(text, 1, (size_t)len, f) : 0;
    fclose(f);
    if (!text)
        return NULL;
    text[got] = '\0';
    cJSON *json = cJSON_Parse(text);
    free(text);
    if (!json)
        fprintf(stderr, "%s: not JSON\n", path);
    return json;
}

#endif
