/*
 * Thread stress: threads BASE_URL [THREADS] [STREAMS_PER_THREAD] [SEED]
 * THREADS workers share one client, each streaming STREAMS_PER_THREAD prompts (pull and
 * for_each alternately) with known emulator replies, while 2 canceller threads cancel live
 * streams at random (ustb_chat_stream_cancel or a ustb_canceller). Every stream must end as
 * end, cancelled or error, with exactly the expected content where it ended normally.
 * Run by tests/threads.rs plainly and under ThreadSanitizer; alarm() turns a hang into exit 3.
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

#define MAX_THREADS 64
#define CANCELLERS 2

/* A live stream a canceller thread may cancel; the worker clears it before freeing. */
struct slot {
    pthread_mutex_t lock;
    ustb_chat_stream *stream;
    ustb_canceller *canceller;
};

static ustb_client *client;
static struct slot slots[MAX_THREADS];
static int n_threads = 48, per_thread = 10;
static unsigned seed = 1;
static pthread_mutex_t totals_lock = PTHREAD_MUTEX_INITIALIZER;
static int ended, cancelled, errors, wrong, workers_done; /* under totals_lock */

static void on_alarm(int sig) {
    static const char msg[] = "threads: timed out (a stream hung)\n";
    (void)sig;
    (void)!write(2, msg, sizeof msg - 1);
    _exit(3);
}

static void count(int *total) {
    pthread_mutex_lock(&totals_lock);
    ++*total;
    pthread_mutex_unlock(&totals_lock);
}

static size_t utf8_chars(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* The emulator's reply content for `prompt` (ASCII, < 200 chars) with @emu:long=min. */
static char *expected_content(const char *prompt, size_t min) {
    char unit[512];
    snprintf(unit, sizeof unit, "你好！我是北科大 AI 助手。你说：「%s」", prompt);
    size_t unit_chars = utf8_chars(unit), copies = 1;
    while (copies * unit_chars < min) copies++;
    char *out = malloc(copies * strlen(unit) + 1);
    if (!out) abort();
    out[0] = '\0';
    for (size_t i = 0; i < copies; i++) strcat(out, unit);
    return out;
}

struct text { char *buf; size_t len, cap; };

static void append(struct text *t, const char *chunk) {
    char *content = NULL;
    if (ustb_chunk_delta(chunk, &content, NULL, NULL, NULL) != USTB_OK) {
        count(&wrong);
        return;
    }
    if (content) {
        size_t n = strlen(content);
        if (t->len + n + 1 > t->cap) {
            t->cap = (t->len + n + 1) * 2;
            t->buf = realloc(t->buf, t->cap);
            if (!t->buf) abort();
        }
        memcpy(t->buf + t->len, content, n + 1);
        t->len += n;
    }
    ustb_string_free(content);
}

static int on_chunk(void *userdata, const char *chunk, size_t len) {
    (void)len;
    append(userdata, chunk);
    return 0;
}

/* Reads one stream to its end; returns USTB_END_OF_STREAM for a normal end. */
static ustb_status read_stream(ustb_chat_stream *s, int pull, struct text *t) {
    if (!pull) {
        ustb_status st = ustb_chat_stream_for_each(s, on_chunk, t, NULL);
        return st == USTB_OK ? USTB_END_OF_STREAM : st;
    }
    for (;;) {
        char *chunk = NULL;
        ustb_status st = ustb_chat_stream_next(s, &chunk, NULL, NULL);
        if (st != USTB_OK) return st;
        append(t, chunk);
        ustb_string_free(chunk);
    }
}

static void publish(int id, ustb_chat_stream *s, ustb_canceller *c) {
    pthread_mutex_lock(&slots[id].lock);
    slots[id].stream = s;
    slots[id].canceller = c;
    pthread_mutex_unlock(&slots[id].lock);
}

static void *worker(void *arg) {
    int id = (int)(size_t)arg;
    unsigned rng = seed * 7919u + (unsigned)id;
    for (int j = 0; j < per_thread; j++) {
        size_t min = (size_t)(rand_r(&rng) % 3000);
        char prompt[128], request[256];
        snprintf(prompt, sizeof prompt, "t%ds%d @emu:long=%zu", id, j, min);
        snprintf(request, sizeof request, "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}", prompt);
        ustb_chat_stream *s = NULL;
        ustb_canceller *c = NULL;
        if (ustb_chat_stream_open(client, request, &s, NULL) != USTB_OK ||
            ustb_chat_stream_canceller(s, &c, NULL) != USTB_OK) {
            count(&wrong);
            ustb_chat_stream_free(s);
            continue;
        }
        publish(id, s, c);
        struct text t = {NULL, 0, 0};
        ustb_status st = read_stream(s, (id + j) % 2, &t);
        publish(id, NULL, NULL);
        if (st == USTB_END_OF_STREAM) {
            char *want = expected_content(prompt, min);
            if (t.buf == NULL || strcmp(t.buf, want) != 0) {
                fprintf(stderr, "threads: wrong content for %s (%zu bytes)\n", prompt, t.len);
                count(&wrong);
            }
            free(want);
            count(&ended);
        } else if (st == USTB_CANCELLED) {
            count(&cancelled);
        } else {
            fprintf(stderr, "threads: %s ended with %s\n", prompt, ustb_status_name((int)st));
            count(&errors);
        }
        free(t.buf);
        ustb_chat_stream_free(s);
        /* The canceller outlives the stream; cancelling it now is a no-op. */
        ustb_canceller_cancel(c);
        ustb_canceller_free(c);
    }
    return NULL;
}

static void *cancel_at_random(void *arg) {
    unsigned rng = seed * 104729u + (unsigned)(size_t)arg;
    for (;;) {
        pthread_mutex_lock(&totals_lock);
        int done = workers_done;
        pthread_mutex_unlock(&totals_lock);
        if (done) break;
        int id = (int)(rand_r(&rng) % (unsigned)n_threads);
        pthread_mutex_lock(&slots[id].lock);
        if (slots[id].stream && rand_r(&rng) % 4 == 0) {
            if (rand_r(&rng) % 2) ustb_chat_stream_cancel(slots[id].stream);
            else ustb_canceller_cancel(slots[id].canceller);
        }
        pthread_mutex_unlock(&slots[id].lock);
        struct timespec pause = {0, (long)(rand_r(&rng) % 2000) * 1000};
        nanosleep(&pause, NULL);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: threads BASE_URL [THREADS] [STREAMS_PER_THREAD] [SEED]\n");
        return 2;
    }
    if (argc > 2) n_threads = atoi(argv[2]);
    if (argc > 3) per_thread = atoi(argv[3]);
    if (argc > 4) seed = (unsigned)atoi(argv[4]);
    if (n_threads < 1 || n_threads > MAX_THREADS || per_thread < 1) return 2;
    signal(SIGALRM, on_alarm);
    alarm(90);
    char options[512];
    snprintf(options, sizeof options, "{\"base_url\":\"%s\",\"vjuid_login\":\"t\",\"max_retries\":0,\"idle_timeout_ms\":30000}", argv[1]);
    if (ustb_client_new(options, &client, NULL) != USTB_OK) return 1;
    for (int i = 0; i < n_threads; i++) pthread_mutex_init(&slots[i].lock, NULL);
    pthread_t workers[MAX_THREADS], cancellers[CANCELLERS];
    for (int i = 0; i < n_threads; i++) pthread_create(&workers[i], NULL, worker, (void *)(size_t)i);
    for (int i = 0; i < CANCELLERS; i++) pthread_create(&cancellers[i], NULL, cancel_at_random, (void *)(size_t)i);
    for (int i = 0; i < n_threads; i++) pthread_join(workers[i], NULL);
    count(&workers_done);
    for (int i = 0; i < CANCELLERS; i++) pthread_join(cancellers[i], NULL);
    ustb_client_free(client);
    for (int i = 0; i < n_threads; i++) pthread_mutex_destroy(&slots[i].lock);
    int total = ended + cancelled + errors;
    printf("threads: %d threads x %d streams: %d ended, %d cancelled, %d errors, %d wrong\n", n_threads, per_thread,
           ended, cancelled, errors, wrong);
    return total == n_threads * per_thread && wrong == 0 && errors == 0 ? 0 : 1;
}
