/*
 * The C API from C, against a running emulator: api_test BASE_URL
 * Run by tests/c_programs.rs, also under valgrind (leaks and bad accesses fail the run).
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ustb_openai.h"

static int failures = 0;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                      \
        }                                                                    \
    } while (0)

static ustb_client *new_client(const char *base_url, int logged_in) {
    char options[512];
    snprintf(options, sizeof options, "{\"base_url\":\"%s\"%s}", base_url,
             logged_in ? ",\"vjuid_login\":\"c-test\",\"idle_timeout_ms\":20000" : "");
    ustb_client *client = NULL;
    ustb_error *err = NULL;
    ustb_status st = ustb_client_new(options, &client, &err);
    CHECK(st == USTB_OK && client != NULL && err == NULL);
    return client;
}

static void test_pull(ustb_client *client) {
    ustb_chat_stream *stream = NULL;
    ustb_error *err = NULL;
    const char *req = "{\"model\":\"DeepSeek\",\"stream_options\":{\"include_usage\":true},"
                      "\"messages\":[{\"role\":\"user\",\"content\":\"请介绍你自己。\"}]}";
    CHECK(ustb_chat_stream_open(client, req, &stream, &err) == USTB_OK);
    int chunks = 0, saw_role = 0, saw_usage = 0;
    for (;;) {
        char *chunk = NULL;
        size_t len = 0;
        ustb_status st = ustb_chat_stream_next(stream, &chunk, &len, &err);
        if (st == USTB_END_OF_STREAM) { CHECK(chunk == NULL); break; }
        CHECK(st == USTB_OK);
        if (st != USTB_OK) { ustb_error_free(err); break; }
        CHECK(strlen(chunk) == len);
        if (chunks == 0) saw_role = strstr(chunk, "\"role\":\"assistant\"") != NULL;
        if (strstr(chunk, "\"total_tokens\":11")) saw_usage = 1;
        chunks++;
        ustb_string_free(chunk);
    }
    CHECK(chunks >= 4 && saw_role && saw_usage);
    ustb_chat_stream_free(stream);
}

struct collected { int calls; size_t bytes; int stop_at; };

static int on_chunk(void *userdata, const char *chunk_json, size_t len) {
    struct collected *c = userdata;
    c->calls++;
    c->bytes += len;
    return chunk_json[len] == '\0' && c->calls == c->stop_at;
}

static void test_callback(ustb_client *client) {
    const char *req = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    struct collected c = {0, 0, -1};
    ustb_error *err = NULL;
    CHECK(ustb_chat_stream_callback(client, req, on_chunk, &c, &err) == USTB_OK && err == NULL);
    CHECK(c.calls > 2 && c.bytes > 0);
    struct collected stop = {0, 0, 2};
    CHECK(ustb_chat_stream_callback(client, req, on_chunk, &stop, &err) == USTB_STOPPED);
    CHECK(stop.calls == 2);
}

static void test_create_and_errors(ustb_client *client, ustb_client *guest) {
    char *json = NULL;
    ustb_error *err = NULL;
    CHECK(ustb_chat_create(client, "{\"messages\":[{\"role\":\"user\",\"content\":\"@emu:moderation\"}]}", &json, &err) == USTB_OK);
    CHECK(json && strstr(json, "content_filter"));
    ustb_string_free(json);

    ustb_status st = ustb_chat_create(guest, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &json, &err);
    CHECK(st == USTB_AUTH_ERROR && json == NULL && err != NULL);
    CHECK(ustb_error_status(err) == USTB_AUTH_ERROR);
    CHECK(ustb_error_api_code(err) == 10042);
    CHECK(ustb_error_http_status(err) == 200);
    CHECK(strstr(ustb_error_detail(err), "\"type\":\"auth_error\"") != NULL);
    CHECK(strcmp(ustb_status_name((int)st), "USTB_AUTH_ERROR") == 0);
    ustb_error_free(err);

    st = ustb_chat_create(client, "{\"messages\":[{\"role\":\"assistant\",\"content\":\"x\"}]}", &json, &err);
    CHECK(st == USTB_INVALID_REQUEST && strlen(ustb_error_message(err)) > 0);
    ustb_error_free(err);
    st = ustb_chat_create(client, "\xff{", &json, &err);
    CHECK(st == USTB_INVALID_ARGUMENT);
    ustb_error_free(err);
    CHECK(ustb_chat_create(NULL, NULL, NULL, NULL) == USTB_INVALID_ARGUMENT);

    ustb_chat_stream *stream = NULL;
    CHECK(ustb_chat_stream_open(client, "{\"messages\":[{\"role\":\"user\",\"content\":\"@emu:truncate\"}]}", &stream, &err) == USTB_OK);
    char *chunk = NULL;
    while ((st = ustb_chat_stream_next(stream, &chunk, NULL, &err)) == USTB_OK) ustb_string_free(chunk);
    CHECK(st == USTB_TRUNCATED && chunk == NULL);
    ustb_error_free(err);
    ustb_chat_stream_free(stream);
}

static void *cancel_later(void *stream) {
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    ustb_chat_stream_cancel(stream);
    ustb_chat_stream_cancel(stream);
    return NULL;
}

static void test_cancel(ustb_client *client) {
    ustb_chat_stream *stream = NULL;
    ustb_error *err = NULL;
    CHECK(ustb_chat_stream_open(client, "{\"messages\":[{\"role\":\"user\",\"content\":\"@emu:silent\"}]}", &stream, &err) == USTB_OK);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, cancel_later, stream) == 0);
    char *chunk = NULL;
    ustb_status st;
    while ((st = ustb_chat_stream_next(stream, &chunk, NULL, &err)) == USTB_OK) ustb_string_free(chunk);
    CHECK(st == USTB_CANCELLED);
    ustb_error_free(err);
    pthread_join(t, NULL);
    ustb_chat_stream_free(stream);
}

static void test_cookies(const char *base_url) {
    ustb_client *guest = new_client(base_url, 0);
    char *info = NULL, *cookies = NULL;
    ustb_error *err = NULL;
    CHECK(ustb_client_user_info(guest, &info, &err) == USTB_OK && info != NULL);
    CHECK(ustb_client_cookies(guest, &cookies, &err) == USTB_OK);
    CHECK(cookies && strstr(cookies, "\"easy_session\":\"") != NULL);
    ustb_string_free(info);
    ustb_string_free(cookies);
    ustb_client_free(guest);
}

int main(int argc, char **argv) {
    /* The stream type's old name still compiles (typedef in the header). */
    ustb_stream *old_name = NULL;
    (void)old_name;
    if (argc != 2) {
        fprintf(stderr, "usage: api_test BASE_URL\n");
        return 2;
    }
    CHECK(strcmp(ustb_version(), "0.1.0") == 0);
    CHECK(USTB_VERSION_MAJOR == 0 && USTB_VERSION_MINOR == 1);
    ustb_client *client = new_client(argv[1], 1);
    ustb_client *guest = new_client(argv[1], 0);
    test_pull(client);
    test_callback(client);
    test_create_and_errors(client, guest);
    test_cancel(client);
    test_cookies(argv[1]);
    ustb_client_free(guest);
    ustb_client_free(client);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("api_test: all checks passed\n");
    return 0;
}
