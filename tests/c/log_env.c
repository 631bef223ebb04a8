/* Logging to stderr through USTB_LOG (tests/logging.rs runs this with several values).
 * Phase 1: a chat, and a chat to a refused port with one retry, logged by USTB_LOG.
 * Phase 2: a callback is set: nothing may reach stderr from the library.
 * Phase 3: the callback is removed: USTB_LOG applies again.
 * Each phase starts with a marker line on stderr. Usage: log_env BASE_URL */
#include <stdio.h>
#include <string.h>
#include "ustb_openai.h"

static int failures;

static void expect(int ok, const char *what) {
    if (!ok) {
        fprintf(stdout, "FAILED: %s\n", what);
        failures++;
    }
}

/* Streams one reply; returns its status. */
static ustb_status chat(const char *base_url, int retries, const char *prompt) {
    char options[256];
    snprintf(options, sizeof options, "{\"base_url\":\"%s\",\"vjuid_login\":\"log-env-login\",\"max_retries\":%d}",
             base_url, retries);
    char request[256];
    snprintf(request, sizeof request, "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}", prompt);
    ustb_client *client = NULL;
    if (ustb_client_new(options, &client, NULL) != USTB_OK) return USTB_PANIC;
    ustb_chat_stream *stream = NULL;
    ustb_status st = ustb_chat_stream_open(client, request, &stream, NULL);
    while (st == USTB_OK) {
        char *chunk = NULL;
        st = ustb_chat_stream_next(stream, &chunk, NULL, NULL);
        ustb_string_free(chunk);
    }
    ustb_chat_stream_free(stream);
    ustb_client_free(client);
    return st;
}

static void count_line(void *userdata, ustb_log_level level, const char *message) {
    (void)level;
    (void)message;
    ++*(int *)userdata;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: log_env BASE_URL\n");
        return 2;
    }
    const char *url = argv[1];
    fprintf(stderr, "=== phase 1\n");
    expect(chat(url, 0, "hello") == USTB_END_OF_STREAM, "a chat ends normally");
    /* Port 1 on the loopback: refused. */
    expect(chat("http://127.0.0.1:1", 1, "hello") == USTB_CONNECT_ERROR, "a refused port fails");

    fprintf(stderr, "=== phase 2\n");
    int lines = 0;
    expect(ustb_set_log_callback(count_line, &lines, USTB_LOG_DEBUG, NULL) == USTB_OK, "set the callback");
    expect(chat(url, 0, "hello") == USTB_END_OF_STREAM, "a chat with a callback");
    expect(lines >= 3, "the callback got the lines");

    fprintf(stderr, "=== phase 3\n");
    expect(ustb_set_log_callback(NULL, NULL, USTB_LOG_OFF, NULL) == USTB_OK, "remove the callback");
    expect(chat(url, 0, "hello") == USTB_END_OF_STREAM, "a chat after the callback");
    printf("log_env: %d callback lines, %d failures\n", lines, failures);
    return failures != 0;
}
