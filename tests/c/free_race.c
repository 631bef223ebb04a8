/*
 * Freeing a handle while a call on it runs in another thread (issue 16, item 1):
 *   free_race BASE_URL [ROUNDS] [SEED]
 * Against an emulator started with --no-login --sso-qr-script scan@600000 (a QR code that
 * nobody scans). Each round, for each handle, a worker thread is inside a call when the main
 * thread frees the handle 0-20 ms (at random) after the call has started, without waiting
 * for the worker:
 *   login:     cancel-then-free, and a bare free, during ustb_login_qr_wait (both must end
 *              the wait with USTB_CANCELLED);
 *   stream:    free during ustb_chat_stream_for_each on a silent server (USTB_CANCELLED),
 *              and a free from the stream's own for_each callback;
 *   client:    free during ustb_chat_create (the call completes with USTB_OK);
 *   canceller: free during a ustb_login_qr_wait that was given it (the wait runs to its
 *              timeout and reports USTB_LOGIN_WAITING).
 * Run by tests/free_race.rs plainly, under valgrind and under ASan+UBSan: a use after free is
 * a crash or a sanitizer report, a leak a valgrind or LeakSanitizer report. Prints the worst
 * time from a free to the worker's return. alarm() turns a hang into exit 3.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ustb_openai.h"

static const char *base_url;
static int failures;
static unsigned seed = 1;
static double worst_ms;

static void on_alarm(int sig) {
    static const char msg[] = "free_race: timed out (a call hung after a free)\n";
    (void)sig;
    (void)!write(2, msg, sizeof msg - 1);
    _exit(3);
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* The free must come while the call runs, never before it starts (that would be the test's
 * own use after free): the worker's call signals `started` from inside, through the log
 * callback (the request it sends) or the chunk callback, and the main thread waits for it. */
static pthread_mutex_t started_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t started_cond = PTHREAD_COND_INITIALIZER;
static int started;
static const char *started_by; /* the request path whose sending marks the start */

static void signal_started(void) {
    pthread_mutex_lock(&started_lock);
    started = 1;
    pthread_cond_signal(&started_cond);
    pthread_mutex_unlock(&started_lock);
}

static void on_log(void *userdata, ustb_log_level level, const char *message) {
    (void)userdata;
    (void)level;
    pthread_mutex_lock(&started_lock);
    const char *path = started_by;
    pthread_mutex_unlock(&started_lock);
    if (path && strstr(message, path) && strstr(message, "sending")) signal_started();
}

static void expect_start(const char *path) {
    pthread_mutex_lock(&started_lock);
    started = 0;
    started_by = path;
    pthread_mutex_unlock(&started_lock);
}

static void wait_started(void) {
    pthread_mutex_lock(&started_lock);
    while (!started) pthread_cond_wait(&started_cond, &started_lock);
    started_by = NULL;
    pthread_mutex_unlock(&started_lock);
}

static void pause_random(void) {
    struct timespec t = {0, (long)(rand_r(&seed) % 20000) * 1000L};
    nanosleep(&t, NULL);
}

/* Checks a call's status; frees its error. */
static void expect(const char *what, ustb_status got, ustb_status want, ustb_error *err) {
    if (got != want) {
        fprintf(stderr, "free_race: %s: got %s, want %s (%s)\n", what, ustb_status_name((int)got),
                ustb_status_name((int)want), ustb_error_message(err));
        failures++;
    }
    ustb_error_free(err);
}

static void must(const char *what, ustb_status st, ustb_error *err) {
    if (st != USTB_OK) {
        fprintf(stderr, "free_race: %s failed: %s\n", what, ustb_error_message(err));
        exit(1);
    }
}

/* One worker's call and what it returned. */
struct job {
    ustb_login *login;
    ustb_canceller *cancel;
    ustb_chat_stream *stream;
    ustb_client *client;
    unsigned wait_ms;
    ustb_status status;
    ustb_login_state state;
    ustb_error *err;
};

static void *wait_qr(void *arg) {
    struct job *j = arg;
    j->status = ustb_login_qr_wait(j->login, j->wait_ms, j->cancel, &j->state, &j->err);
    return NULL;
}

#define QR_POLL "/connect/state"
#define CHAT "/site/ai/compose_chat"

/* One for_each call reads the whole (silent) stream, so the free always meets a running call:
 * the first chunk marks the start. */
static int first_chunk_starts(void *userdata, const char *chunk, size_t len) {
    (void)userdata;
    (void)chunk;
    (void)len;
    signal_started();
    return 0;
}

static void *read_stream(void *arg) {
    struct job *j = arg;
    j->status = ustb_chat_stream_for_each(j->stream, first_chunk_starts, NULL, &j->err);
    return NULL;
}

static void *create_chat(void *arg) {
    struct job *j = arg;
    char *json = NULL;
    j->status = ustb_chat_create(j->client, "{\"messages\":[{\"role\":\"user\",\"content\":\"@emu:long=600 hi\"}]}",
                                 &json, &j->err);
    ustb_string_free(json);
    return NULL;
}

/* Runs `fn(job)` in a thread, frees with `release` after a random pause, then joins; for a
 * free that cancels (`timed`), records how long the worker took to return after it. */
static void race(void *(*fn)(void *), struct job *j, void (*release)(struct job *), int timed, const char *path) {
    pthread_t t;
    expect_start(path);
    if (pthread_create(&t, NULL, fn, j) != 0) {
        perror("pthread_create");
        exit(1);
    }
    wait_started();
    pause_random();
    double freed = now_ms();
    release(j);
    pthread_join(t, NULL);
    double took = now_ms() - freed;
    if (timed && took > worst_ms) worst_ms = took;
}

static ustb_login *new_login(void) {
    char options[1024];
    snprintf(options, sizeof options,
             "{\"base_url\":\"%s\",\"sso_base_url\":\"%s\",\"sis_base_url\":\"%s\",\"max_retries\":0}", base_url,
             base_url, base_url);
    ustb_login *login;
    ustb_error *err;
    must("ustb_login_new", ustb_login_new(options, &login, &err), err);
    must("ustb_login_qr_start", ustb_login_qr_start(login, NULL, &err), err);
    return login;
}

static ustb_client *new_client(void) {
    char options[512];
    snprintf(options, sizeof options, "{\"base_url\":\"%s\",\"max_retries\":0}", base_url);
    ustb_client *client;
    ustb_error *err;
    must("ustb_client_new", ustb_client_new(options, &client, &err), err);
    return client;
}

static void cancel_then_free_login(struct job *j) {
    ustb_canceller_cancel(j->cancel);
    ustb_login_free(j->login);
}

static void free_login(struct job *j) { ustb_login_free(j->login); }
static void free_stream(struct job *j) { ustb_chat_stream_free(j->stream); }
static void free_client(struct job *j) { ustb_client_free(j->client); }
static void free_canceller(struct job *j) { ustb_canceller_free(j->cancel); }

static void login_rounds(void) {
    ustb_error *err;
    struct job j = {.login = new_login(), .wait_ms = 20000};
    must("ustb_canceller_new", ustb_canceller_new(&j.cancel, &err), err);
    race(wait_qr, &j, cancel_then_free_login, 1, QR_POLL);
    expect("qr_wait after cancel-then-free", j.status, USTB_CANCELLED, j.err);
    ustb_canceller_free(j.cancel);

    struct job k = {.login = new_login(), .wait_ms = 20000};
    race(wait_qr, &k, free_login, 1, QR_POLL);
    expect("qr_wait after a bare free", k.status, USTB_CANCELLED, k.err);
}

static void stream_rounds(ustb_client *client) {
    ustb_error *err;
    struct job j = {0};
    must("ustb_chat_stream_open",
         ustb_chat_stream_open(client, "{\"messages\":[{\"role\":\"user\",\"content\":\"@emu:silent\"}]}", &j.stream,
                               &err),
         err);
    race(read_stream, &j, free_stream, 1, NULL);
    expect("for_each after a free from another thread", j.status, USTB_CANCELLED, j.err);
}

static int free_own_stream(void *userdata, const char *chunk, size_t len) {
    (void)chunk;
    (void)len;
    ustb_chat_stream_free(*(ustb_chat_stream **)userdata);
    return 0;
}

static void callback_round(ustb_client *client) {
    ustb_error *err;
    ustb_chat_stream *stream;
    must("ustb_chat_stream_open",
         ustb_chat_stream_open(client, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &stream, &err), err);
    ustb_status st = ustb_chat_stream_for_each(stream, free_own_stream, &stream, &err);
    expect("for_each whose callback freed its stream", st, USTB_CANCELLED, err);
}

static void client_round(void) {
    struct job j = {.client = new_client()};
    race(create_chat, &j, free_client, 0, CHAT);
    expect("chat_create after its client was freed", j.status, USTB_OK, j.err);
}

static void canceller_round(void) {
    ustb_error *err;
    struct job j = {.login = new_login(), .wait_ms = 150};
    must("ustb_canceller_new", ustb_canceller_new(&j.cancel, &err), err);
    race(wait_qr, &j, free_canceller, 0, QR_POLL);
    expect("qr_wait after its canceller was freed", j.status, USTB_OK, j.err);
    if (j.status == USTB_OK && j.state != USTB_LOGIN_WAITING) {
        fprintf(stderr, "free_race: qr_wait state %d, want WAITING\n", (int)j.state);
        failures++;
    }
    ustb_login_free(j.login);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: free_race BASE_URL [ROUNDS] [SEED]\n");
        return 2;
    }
    base_url = argv[1];
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (argc > 3) seed = (unsigned)strtoul(argv[3], NULL, 10);
    signal(SIGALRM, on_alarm);
    alarm(60 + 20 * (unsigned)rounds);
    ustb_error *err;
    must("ustb_set_log_callback", ustb_set_log_callback(on_log, NULL, USTB_LOG_DEBUG, &err), err);
    ustb_client *client = new_client();
    for (int i = 0; i < rounds; i++) {
        login_rounds();
        stream_rounds(client);
        callback_round(client);
        client_round();
        canceller_round();
    }
    ustb_client_free(client);
    ustb_set_log_callback(NULL, NULL, USTB_LOG_OFF, &err);
    ustb_error_free(err);
    printf("free_race: %d rounds, %d failures, worst %.1f ms from a cancelling free to the call's return\n", rounds, failures,
           worst_ms);
    return failures ? 1 : 0;
}
